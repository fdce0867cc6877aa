"""Reading and writing images and masks with PIL.

Images are float32 H×W×3 RGB arrays in [0, 1]; an alpha channel, if any, is kept aside (H×W in [0, 1])
so it can be written back unchanged. 8- and 16-bit PNGs are read and written at their depth.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import png
from PIL import Image, ImageCms, ImageOps


class ImageError(ValueError):
    """A user-facing problem with an input image or mask."""


@dataclass
class LoadedImage:
    rgb: np.ndarray                 # H×W×3 float32, 0..1
    alpha: np.ndarray | None        # H×W float32, 0..1, or None
    bit_depth: int                  # 8 or 16
    path: Path | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.rgb.shape[1], self.rgb.shape[0]


def _to_srgb(img: Image.Image) -> Image.Image:
    """Convert images with an embedded non-sRGB ICC profile (e.g. Adobe RGB) to sRGB."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA"):
        return img
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "sRGB" in (ImageCms.getProfileDescription(src) or ""):
            return img
        dst = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(img, src, dst, outputMode=img.mode)
    except Exception:  # a broken profile is not worth failing a job over
        return img


def _open(path) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    try:
        img = Image.open(path)
        img.load()
    except Exception as exc:
        raise ImageError(f"cannot read image {path}: {exc}") from None
    return ImageOps.exif_transpose(img)


def load_image(path) -> LoadedImage:
    img = _open(path)
    if _png_bit_depth(path) == 16:
        return _load_png16(path)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32) / 65535.0
        return LoadedImage(np.repeat(arr[..., None], 3, axis=2), None, 16, Path(path))
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    img = _to_srgb(img.convert("RGBA" if has_alpha else "RGB"))
    arr = np.asarray(img, dtype=np.float32) / 255.0
    alpha = arr[..., 3].copy() if has_alpha else None
    return LoadedImage(np.ascontiguousarray(arr[..., :3]), alpha, 8, Path(path))


def _png_bit_depth(path) -> int:
    with open(path, "rb") as f:
        head = f.read(29)
    if len(head) < 25 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return 8
    return head[24]


def _load_png16(path) -> LoadedImage:
    """16-bit PNGs through pypng: PIL would truncate 16-bit RGB(A) to 8 bits. Rows are read into one
    array and scaled in place (a 4096² RGBA file: the 16-bit array plus the float result)."""
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    raw = np.empty((height, width * planes), dtype=np.uint16)
    for y, row in enumerate(rows):
        raw[y] = row
    arr = raw.reshape(height, width, planes).astype(np.float32)
    del raw
    arr *= np.float32(1.0 / 65535.0)
    alpha = arr[..., -1].copy() if info["alpha"] else None
    colour = arr[..., : planes - (1 if info["alpha"] else 0)]
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    return LoadedImage(np.ascontiguousarray(colour), alpha, 16, Path(path))


def _quantised_rows(rgb: np.ndarray, alpha: np.ndarray | None, scale: int, dtype, rows: int = 256):
    """The image as integer rows (H×W·C) computed a strip at a time: no full-size float temporaries."""
    for top in range(0, rgb.shape[0], rows):
        strip = np.clip(np.asarray(rgb[top:top + rows], dtype=np.float32), 0, 1)
        if alpha is not None:
            strip = np.concatenate([strip, np.clip(alpha[top:top + rows], 0, 1)[..., None]], axis=2)
        yield from np.round(strip * scale).astype(dtype).reshape(strip.shape[0], -1)


def save_image(path, rgb: np.ndarray, alpha: np.ndarray | None = None, bit_depth: int = 8, fileobj=None) -> Path:
    """Write an RGB(A) float image at 8 bits, or 16 bits for PNG, in the format ``path``'s suffix names;
    into the open binary ``fileobj`` when given (e.g. a temporary file that becomes ``path``). The pixels
    are converted a strip of rows at a time."""
    path = Path(path)
    if fileobj is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    h, w = rgb.shape[:2]
    c = 3 if alpha is None else 4
    if bit_depth == 16 and path.suffix.lower() == ".png":
        with open(path, "wb") if fileobj is None else contextlib.nullcontext(fileobj) as f:
            png.Writer(w, h, greyscale=False, alpha=(c == 4), bitdepth=16).write(
                f, _quantised_rows(rgb, alpha, 65535, np.uint16))
        return path
    arr = np.empty((h, w * c), dtype=np.uint8)
    for y, row in enumerate(_quantised_rows(rgb, alpha, 255, np.uint8)):
        arr[y] = row
    image = Image.fromarray(arr.reshape(h, w, c), "RGBA" if c == 4 else "RGB")
    if fileobj is None:
        image.save(path)
    else:
        image.save(fileobj, format=Image.registered_extensions().get(path.suffix.lower()))
    return path


def load_mask(path, size: tuple[int, int] | None = None, threshold: float | None = 0.5) -> np.ndarray:
    """A mask from any grey, RGB or alpha image: float32 H×W in [0, 1].

    An image with an alpha channel that is not fully opaque uses its alpha; otherwise its luminance.
    ``threshold=None`` keeps a soft mask. ``size=(w, h)`` must match or a clear error is raised.
    """
    img = _open(path)
    if img.mode in ("RGBA", "LA") and np.asarray(img.getchannel("A")).min() < 255:
        arr = np.asarray(img.getchannel("A"), dtype=np.float32) / 255.0
    elif img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32) / 65535.0
    else:
        arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    if size is not None and (arr.shape[1], arr.shape[0]) != tuple(size):
        raise ImageError(f"mask {path} is {arr.shape[1]}x{arr.shape[0]} but the image is {size[0]}x{size[1]}")
    if threshold is not None:
        arr = (arr > threshold).astype(np.float32)
    return arr

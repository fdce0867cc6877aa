"""numpy <-> :class:`ImageBuffer` conversions for the daemon and the CLI (the wire stays numpy-free)."""
from __future__ import annotations

import numpy as np

from painterly.wire.protocol import ImageBuffer

DTYPES = {8: np.dtype(np.uint8), 16: np.dtype("<u2")}
SCALE = {8: 255.0, 16: 65535.0}


def as_uint_array(buf: ImageBuffer) -> np.ndarray:
    """H×W×C view of the buffer's pixels (no copy)."""
    return np.frombuffer(buf.data, dtype=DTYPES[buf.depth]).reshape(buf.height, buf.width, buf.channels)


def to_float(buf: ImageBuffer) -> tuple[np.ndarray, np.ndarray | None]:
    """(colour, alpha): colour is H×W×3 float32 for 3/4 channels (alpha kept aside), H×W for 1 channel."""
    arr = as_uint_array(buf)
    # Divided, not multiplied by the inverse: the very floats of reading the image file (k / 255), whether
    # the pixels come at 8 bits or at 16 (k * 257 / 65535), so a job's inputs are the same on every path.
    scale = np.float32(SCALE[buf.depth])
    if buf.channels == 1:
        return arr[..., 0].astype(np.float32) / scale, None
    rgb = arr[..., :3].astype(np.float32) / scale
    alpha = arr[..., 3].astype(np.float32) / scale if buf.channels == 4 else None
    return rgb, alpha


def to_input(buf: ImageBuffer, kind: str) -> np.ndarray:
    """The array an engine input of ``kind`` ("rgb" or "mask") expects."""
    colour, _ = to_float(buf)
    if kind == "rgb" and colour.ndim == 2:
        return np.repeat(colour[..., None], 3, axis=2)
    if kind == "mask" and colour.ndim == 3:
        raise ValueError("a mask must be a 1-channel (greyscale) buffer")
    return colour


def quantize(arr: np.ndarray, depth: int) -> np.ndarray:
    return np.round(np.clip(arr, 0.0, 1.0) * SCALE[depth]).astype(DTYPES[depth])


def from_float(rgb: np.ndarray, alpha: np.ndarray | None, depth: int = 8, x: int = 0, y: int = 0) -> ImageBuffer:
    """An RGBA buffer (alpha 1 where ``alpha`` is None) from float arrays in [0, 1]."""
    h, w = rgb.shape[:2]
    out = np.empty((h, w, 4), dtype=DTYPES[depth])
    out[..., :3] = quantize(rgb, depth)
    out[..., 3] = SCALE[depth] if alpha is None else quantize(alpha, depth)
    return ImageBuffer(w, h, 4, depth, out.data, x, y)


def from_uint(arr: np.ndarray, x: int = 0, y: int = 0) -> ImageBuffer:
    """A buffer over a uint8/uint16 H×W or H×W×C array (copied only if not C-contiguous little-endian)."""
    depth = 8 if arr.dtype == np.uint8 else 16
    arr = np.ascontiguousarray(arr, dtype=DTYPES[depth])
    if arr.ndim == 2:
        arr = arr[..., None]
    h, w, c = arr.shape
    return ImageBuffer(w, h, c, depth, arr.data, x, y)


def result_buffer(rgb: np.ndarray, alpha: np.ndarray | None, base: ImageBuffer) -> ImageBuffer:
    """The job's result layer: the engine output at the base input's depth and offsets, its alpha times the
    base input's own alpha (a transparent pixel of the layer stays transparent)."""
    _, base_alpha = to_float(base) if base.channels == 4 else (None, None)
    if base_alpha is not None:
        alpha = base_alpha if alpha is None else alpha * base_alpha
    return from_float(rgb, alpha, base.depth, base.x, base.y)


def preview_buffer(rgb: np.ndarray, max_side: int = 256) -> ImageBuffer:
    """A small RGB 8-bit preview (longest side <= ``max_side``)."""
    from PIL import Image
    img = Image.fromarray(quantize(rgb, 8), "RGB")
    scale = max_side / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
    return from_uint(np.asarray(img))


def echo_result(base: ImageBuffer) -> ImageBuffer:
    """The ``echo`` test method's result: the base input as RGBA, the very same bytes when already RGBA."""
    if base.channels == 4:
        return ImageBuffer(base.width, base.height, 4, base.depth, base.data, base.x, base.y)
    arr = as_uint_array(base)
    out = np.empty((base.height, base.width, 4), dtype=arr.dtype)
    out[..., :3] = arr if base.channels == 3 else arr[..., :1]
    out[..., 3] = SCALE[base.depth]
    return ImageBuffer(base.width, base.height, 4, base.depth, out.data, base.x, base.y)


def array_to_buffer(arr: np.ndarray) -> ImageBuffer:
    """An engine input array as a buffer: uint8/uint16 as they are, float arrays at 16 bits (lossless for
    images read from 8-bit files, and for 16-bit ones)."""
    arr = np.asarray(arr)
    if arr.dtype in (np.uint8, np.uint16):
        return from_uint(arr)
    return from_uint(quantize(arr.astype(np.float32, copy=False), 16))

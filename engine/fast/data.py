"""Training photos and the random crops a style network learns from.

Photos come from a folder (``--photos DIR``), from frames of a video (``--photos clip.avi``), or, with
neither, from the sample photos that scikit-image ships inside its wheel (the ``train`` extra installs
it; nothing is downloaded): the colour photos astronaut, chelsea, coffee, rocket and motorcycle_left and
the grey photos camera, brick, grass and gravel.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from ..imageio import ImageError, load_image
from ..pyramid import resize

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                  "camera.png", "brick.png", "grass.png", "gravel.png")
MAX_SIDE = 1024  # photos are kept in memory at most this large


class PhotoError(ValueError):
    """No usable training photos."""


def skimage_data_dir() -> Path | None:
    """The sample-image folder of the installed scikit-image wheel (found without importing it), if any."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def packaged_photo_paths() -> list[Path]:
    """The sample photos inside the installed scikit-image wheel."""
    data = skimage_data_dir()
    if data is None:
        raise PhotoError("no training photos: pass --photos DIR (a folder of photos, or a video file), "
                         "or install the 'train' extra (pip install 'painterly[train]'), whose scikit-image "
                         "ships sample photos")
    paths = [data / name for name in SKIMAGE_PHOTOS if (data / name).is_file()]
    if not paths:
        raise PhotoError(f"scikit-image at {data.parent} ships none of its sample photos; pass --photos DIR")
    return paths


def _shrink(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return rgb
    scale = MAX_SIDE / max(h, w)
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    out = resize(t, (max(1, round(h * scale)), max(1, round(w * scale))))
    return out[0].permute(1, 2, 0).numpy()


def load_photos(source=None, every: int = 10, limit: int = 200) -> tuple[list[np.ndarray], str]:
    """(photos as H×W×3 float32 arrays, a description of where they came from).

    ``source``: None (packaged photos), a folder of images, or a video file (every ``every``-th frame,
    at most ``limit`` frames).
    """
    if source is None:
        paths = packaged_photo_paths()
        return [_shrink(load_image(p).rgb) for p in paths], \
            "scikit-image sample photos: " + ", ".join(p.stem for p in paths)
    source = Path(source)
    if source.is_dir():
        photos, skipped = [], 0
        for path in sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                photos.append(_shrink(load_image(path).rgb))
            except ImageError:
                skipped += 1
        if not photos:
            raise PhotoError(f"no readable photos in {source} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        return photos, f"{len(photos)} photos from {source}" + (f" ({skipped} unreadable skipped)" if skipped else "")
    if source.is_file():
        from .video import read_frames
        frames = [_shrink(f) for i, f in enumerate(read_frames(source, limit=limit * every)) if i % every == 0]
        if not frames:
            raise PhotoError(f"no frames in {source}")
        return frames, f"{len(frames)} frames of {source} (every {every}th)"
    raise PhotoError(f"training photos not found: {source}")


class CropSampler:
    """Random crops with random flips and scales, at a few sizes (mixed resolutions).

    Batch ``step`` is a pure function of (seed, step), so a resumed run sees the same crops it would
    have seen without the interruption.
    """

    def __init__(self, photos: list[np.ndarray], size: int, batch: int, seed: int = 0,
                 scales=(0.75, 1.0, 1.25)):
        if not photos:
            raise PhotoError("no training photos")
        self.photos = [torch.from_numpy(np.ascontiguousarray(p)).permute(2, 0, 1) for p in photos]
        self.sizes = sorted({max(32, int(round(size * s / 8)) * 8) for s in scales})
        self.batch, self.seed = batch, seed

    def __call__(self, step: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, step])
        side = int(self.sizes[rng.integers(len(self.sizes))])
        crops = [self._crop(self.photos[rng.integers(len(self.photos))], side, rng) for _ in range(self.batch)]
        return torch.stack(crops)

    @staticmethod
    def _crop(photo: torch.Tensor, side: int, rng: np.random.Generator) -> torch.Tensor:
        h, w = photo.shape[-2:]
        # The crop covers between a third and all of the photo's shorter side, then is resized to `side`.
        window = int(round(min(h, w) * rng.uniform(1 / 3, 1.0)))
        window = max(min(window, h, w), 1)
        top, left = int(rng.integers(h - window + 1)), int(rng.integers(w - window + 1))
        crop = photo[None, :, top:top + window, left:left + window]
        crop = torch.nn.functional.interpolate(crop, size=(side, side), mode="bilinear", antialias=True,
                                               align_corners=False).clamp(0, 1)[0]
        return crop.flip(-1) if rng.random() < 0.5 else crop

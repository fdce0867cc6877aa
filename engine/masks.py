"""Mask operations: dilation, feathering, bounding boxes and compositing a result over the original."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


class MaskError(ValueError):
    """A user-facing problem with a mask (empty, wrong size)."""


def check_mask(mask: np.ndarray, size_hw: tuple[int, int], name: str = "mask") -> np.ndarray:
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim != 2:
        raise MaskError(f"{name} must be a single-channel image, got shape {mask.shape}")
    if mask.shape != tuple(size_hw):
        raise MaskError(f"{name} is {mask.shape[1]}x{mask.shape[0]} but the image is {size_hw[1]}x{size_hw[0]}")
    if not np.isfinite(mask).all():
        raise MaskError(f"{name} contains NaN or infinite values")
    if mask.max() <= 0:
        raise MaskError(f"{name} is empty: select the region to work on")
    return np.clip(mask, 0.0, 1.0)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation with a disc of ``radius`` pixels (soft masks keep their soft values)."""
    if radius <= 0:
        return mask.astype(np.float32)
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    disc = x * x + y * y <= radius * radius
    return ndimage.grey_dilation(mask.astype(np.float32), footprint=disc)


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian feathering that never spreads beyond ``radius`` pixels from the mask's support.

    The blur is truncated at ``radius`` so everything further from the mask stays exactly 0; callers
    that need untouched pixels there rely on it.
    """
    if radius <= 0:
        return mask.astype(np.float32)
    sigma = radius / 2.0
    out = ndimage.gaussian_filter(mask.astype(np.float32), sigma=sigma, truncate=radius / sigma)
    out[out < 1e-6] = 0.0
    return np.clip(out, 0.0, 1.0)


def blend_weights(mask: np.ndarray, dilation: int, feather_radius: float) -> np.ndarray:
    """Compositing weights: 1 up to ``dilation`` px around the mask, falling to 0 over ``feather_radius`` px.

    The ramp lies outside the dilated mask (so the object itself is always fully replaced), and pixels
    further than dilation + 1.5·feather_radius + 1 from the mask get weight exactly 0.
    """
    half = feather_radius / 2
    # The truncated Gaussian's window is a square of half-width `half`; growing the mask by its
    # diagonal keeps the whole window inside for every pixel within `dilation` of the mask.
    weights = feather(dilate(mask, dilation + int(np.ceil(half * np.sqrt(2)))), half)
    return np.maximum(weights, mask.astype(np.float32))


def composite(result: np.ndarray, original: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Blend ``result`` over ``original``; where a weight is 0 the original values are copied exactly.

    Only the bounding box of the non-zero weights is computed, so a small selection on a big canvas
    costs one copy of the canvas."""
    out = np.array(original, dtype=np.float32, copy=True)
    if not (weights > 0).any():
        return out
    top, left, bottom, right = bounding_box(weights)
    box = np.s_[top:bottom, left:right]
    w = weights[box][..., None].astype(np.float32)
    blended = result[box].astype(np.float32) * w + out[box] * (1.0 - w)
    untouched = weights[box] <= 0
    blended[untouched] = out[box][untouched]
    out[box] = blended
    return out


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the non-zero region grown by ``margin``, clipped to the image."""
    ys, xs = np.nonzero(mask > 0)
    if ys.size == 0:
        raise MaskError("mask is empty: select the region to work on")
    h, w = mask.shape
    return (max(0, ys.min() - margin), max(0, xs.min() - margin),
            min(h, ys.max() + 1 + margin), min(w, xs.max() + 1 + margin))

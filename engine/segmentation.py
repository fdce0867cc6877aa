"""Colour-coded label maps (as in Deep Photo Style Transfer) → per-label masks for content and style.

A label map paints each region in one of a few pure colours. Anti-aliased edges and slightly-off
values are snapped to the nearest palette colour. Only labels present in both the content's and the
style's map are used (a sky in the content with no sky in the style has nothing to take its look
from); with no maps at all the whole images form a single label.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# The reference code's palette (deep-photo-styletransfer README), in its order.
LABEL_COLOURS = {
    "blue": (0, 0, 255), "green": (0, 255, 0), "black": (0, 0, 0), "white": (255, 255, 255),
    "red": (255, 0, 0), "yellow": (255, 255, 0), "grey": (128, 128, 128), "lightblue": (0, 255, 255),
    "purple": (255, 0, 255),
}
LABEL_NAMES = tuple(LABEL_COLOURS)
_PALETTE = np.array(list(LABEL_COLOURS.values()), dtype=np.float32) / 255.0

# A label must cover at least this fraction of an image to count as present: snapping anti-aliased
# edges (e.g. between black and white) produces thin slivers of in-between labels (grey).
MIN_LABEL_FRACTION = 0.002


class SegmentationError(ValueError):
    """A user-facing problem with the label maps."""


@dataclass
class LabelPair:
    name: str
    content: np.ndarray   # H×W float32 0/1 at the content's size
    style: np.ndarray     # H×W float32 0/1 at the style's size


def label_map(seg: np.ndarray) -> np.ndarray:
    """H×W×3 colour label image (float in [0, 1] or uint8) → H×W int index into LABEL_NAMES."""
    arr = np.asarray(seg)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise SegmentationError(f"a label map must be an RGB image, got shape {arr.shape}")
    rgb = arr[..., :3]
    distances = ((rgb[..., None, :] - _PALETTE) ** 2).sum(axis=-1)     # H×W×labels
    return _absorb_slivers(distances.argmin(axis=-1))


def _absorb_slivers(labels: np.ndarray, width: int = 2) -> np.ndarray:
    """Give pixels of regions thinner than ~2·width+1 px (anti-aliased edges snapped to an in-between
    colour, e.g. grey between black and white) the label of the nearest solid region."""
    structure = np.ones((3, 3), bool)
    solid = np.zeros(labels.shape, bool)
    for label in np.unique(labels):
        solid |= ndimage.binary_opening(labels == label, structure, iterations=width)
    if solid.all() or not solid.any():
        return labels
    _, (ys, xs) = ndimage.distance_transform_edt(~solid, return_indices=True)
    return labels[ys, xs]


def resize_labels(labels: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an integer label map (labels must not be blended)."""
    h, w = labels.shape
    th, tw = size_hw
    if (h, w) == (th, tw):
        return labels
    ys = np.minimum((np.arange(th) + 0.5) * h / th, h - 1).astype(np.int64)
    xs = np.minimum((np.arange(tw) + 0.5) * w / tw, w - 1).astype(np.int64)
    return labels[ys[:, None], xs[None, :]]


def present_labels(labels: np.ndarray, min_fraction: float = MIN_LABEL_FRACTION) -> set[int]:
    counts = np.bincount(labels.ravel(), minlength=len(LABEL_NAMES))
    return {i for i, count in enumerate(counts) if count >= min_fraction * labels.size}


def label_pairs(content_seg: np.ndarray | None, style_seg: np.ndarray | None,
                content_hw: tuple[int, int], style_hw: tuple[int, int],
                min_fraction: float = MIN_LABEL_FRACTION) -> list[LabelPair]:
    """Masks of the labels present in both maps, resized to the content's and the style's sizes.

    No maps: one label covering both images. Exactly one map: an error (the other side has no labels
    to match). Maps of a slightly different size than their image (example 7 of the reference set is
    off by a row) are resized with nearest neighbours.
    """
    if content_seg is None and style_seg is None:
        return [LabelPair("all", np.ones(content_hw, np.float32), np.ones(style_hw, np.float32))]
    if content_seg is None or style_seg is None:
        missing = "content" if content_seg is None else "style"
        raise SegmentationError(f"a label map for the {missing} image is needed too (give both or neither)")
    content_labels = resize_labels(label_map(content_seg), content_hw)
    style_labels = resize_labels(label_map(style_seg), style_hw)
    common = present_labels(content_labels, min_fraction) & present_labels(style_labels, min_fraction)
    if not common:
        raise SegmentationError("the content and style label maps share no label colour")
    return [LabelPair(LABEL_NAMES[i], (content_labels == i).astype(np.float32),
                      (style_labels == i).astype(np.float32)) for i in sorted(common)]

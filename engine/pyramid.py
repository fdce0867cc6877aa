"""Coarse-to-fine optimisation: solve at a small size, upsample, refine at the next size."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Pyramid:
    """Working sizes from coarse to fine and how the iterations are shared among them.

    ``levels=1`` is a plain single-scale run. The coarse levels are cheap (a quarter of the pixels each
    step down), so they get more iterations; the finest level only refines detail.
    """

    levels: int = 1
    min_side: int = 128
    factor: float = 2.0

    def sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        sizes = [(height, width)]
        for _ in range(self.levels - 1):
            h, w = sizes[-1]
            if min(h, w) / self.factor < self.min_side:
                break
            sizes.append((max(1, round(h / self.factor)), max(1, round(w / self.factor))))
        return sizes[::-1]

    def iterations(self, total: int, n_levels: int) -> list[int]:
        if n_levels == 1:
            return [total]
        weights = [2.0 ** (n_levels - 1 - i) for i in range(n_levels)]  # coarse gets the most
        split = [max(1, int(round(total * w / sum(weights)))) for w in weights]
        split[-1] = max(1, total - sum(split[:-1]))
        return split


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize an N×C×H×W image; area averaging down (no aliasing), bicubic up."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    if size[0] <= image.shape[-2] and size[1] <= image.shape[-1]:
        return F.interpolate(image, size=size, mode="area")
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False).clamp(0, 1)

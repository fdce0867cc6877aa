"""Coarse-to-fine optimisation: solve at a small size, upsample, refine at the next size."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .optimize import optimize


@dataclass(frozen=True)
class Pyramid:
    """Working sizes from coarse to fine and how the iterations are shared among them.

    ``levels=1`` is a plain single-scale run. The coarse levels are cheap (a quarter of the pixels each
    step down), so they get more iterations; the finest level only refines detail.
    """

    levels: int = 1
    min_side: int = 64
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


def resize(image: torch.Tensor, size: tuple[int, int], sharp: bool = False) -> torch.Tensor:
    """Resize an N×C×H×W image; down by area averaging (no aliasing; masks keep their coverage) or, with
    ``sharp``, antialiased bicubic (a picture keeps the fine detail that a box filter of a non-integer
    factor smears), up by bicubic."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    if size[0] <= image.shape[-2] and size[1] <= image.shape[-1]:
        if sharp:
            return F.interpolate(image, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        return F.interpolate(image, size=size, mode="area")
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def working_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """Scale so the longest side is ``longest`` (never above the original size)."""
    scale = min(1.0, longest / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def scaled_size(hw, factor: float) -> tuple[int, int]:
    return max(1, round(hw[0] * factor)), max(1, round(hw[1] * factor))


def fit_longest(hw, longest: int) -> tuple[int, int]:
    """``hw`` scaled (up or down) so its longest side is ``longest``."""
    return scaled_size(hw, longest / max(hw))


def coarse_to_fine(content: torch.Tensor, styles: list, sizes: list, iterations: list, objective_at: Callable,
                   start: Callable, counter=None, stage: str = "", optimizer: str = "lbfgs",
                   lr: float | None = None, half: bool = False, image: torch.Tensor | None = None,
                   restore_detail: bool = False, bounded: bool = False, budget: float | None = None) -> torch.Tensor:
    """Optimise at each working size of ``sizes`` (coarse to fine, the last one ``content``'s), each level
    starting from the previous level's result upsampled (with ``restore_detail``, plus the high-pass of
    the level's own starting image, which the coarser level could not hold).

    ``styles`` are at the scale that goes with ``content``; at each level the content and every style are
    resized by the same factor, so the style's strokes keep their size relative to the content.
    ``objective_at(level_content, level_styles)`` builds the level's loss; ``start(level_content,
    level_styles)`` the first level's starting image (unless ``image`` is given). ``bounded``: see
    :func:`optimize`. ``budget`` (seconds): each level stops at its share of it (its iterations × pixels),
    so a slower machine than planned for still finishes on time, with fewer iterations.
    """
    h = content.shape[-2]
    costs = [n * lh * lw for (lh, lw), n in zip(sizes, iterations)]
    total, spent, began = max(1, sum(costs)), 0, time.monotonic()
    for (lh, lw), n_iter, cost in zip(sizes, iterations, costs):
        spent += cost
        deadline = None if budget is None else began + budget * spent / total
        factor = lh / h
        level_content = resize(content, (lh, lw))
        level_styles = [resize(s, scaled_size(s.shape[-2:], factor)) for s in styles]
        objective = objective_at(level_content, level_styles)
        if image is None:
            image = start(level_content, level_styles)
        elif restore_detail:
            # The coarser level could not hold this level's finer frequencies: they start from the level's
            # own starting image (its high-pass) instead of being left blurred by the upsampling.
            fine = start(level_content, level_styles)
            detail = fine - resize(resize(fine, tuple(image.shape[-2:])), (lh, lw))
            image = (resize(image, (lh, lw)) + detail).clamp(0, 1)
        else:
            image = resize(image, (lh, lw))
        image = optimize(image, objective, n_iter, optimizer, lr, counter, stage=f"{stage} {lw}x{lh}", half=half,
                         bounded=bounded, deadline=deadline)
    return image

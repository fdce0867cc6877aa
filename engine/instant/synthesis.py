"""Painting pixels where the features were matched: the strokes at the canvas's own resolution.

The decoder inverts relu4_1, one feature per 8×8 working pixels, and what it cannot hold is the finest
brushwork. A match of the object's features to the painting's (a *mapping*, one painting cell per
object cell) also says which painting pixels belong where: each object cell takes its matched cell's
pixels, taken from the painting at full resolution (a cell is 8 working pixels, 8/scale canvas pixels).
Neighbouring cells' copies are cross-faded over the outer quarter of each cell: no hard 8-px grid,
and inside a cell the painting's pixels come through unblurred.
"""
from __future__ import annotations

import torch

from ..methods.harmonize_objective import gaussian_blur
from .decoder import STRIDE

FADE = 0.25   # share of a cell, on each side of its border, over which neighbouring copies cross-fade


def _weight(offset: torch.Tensor, cell: float) -> torch.Tensor:
    """1 inside the cell, falling linearly to 0 across ±FADE·cell around its borders (neighbouring
    cells' weights sum to 1); ``offset``: distance from the cell's centre."""
    ramp = FADE * cell
    return ((cell / 2 + ramp - offset.abs()) / (2 * ramp)).clamp(0.0, 1.0)


def _axis(length: int, cell: float, dev):
    pos = torch.arange(length, device=dev, dtype=torch.float32) + 0.5
    own = (pos / cell).floor().long()
    return pos, own


def copy_pixels(painting: torch.Tensor, mapping: torch.Tensor, cells_hw, painting_cells_hw, out_hw,
                cell_hw=(STRIDE, STRIDE), painting_cell_hw=(STRIDE, STRIDE)) -> torch.Tensor:
    """``painting`` (1×3×Hs×Ws) rearranged by ``mapping`` (flat painting cell per object cell over
    ``cells_hw``): a 1×3×H×W image, H×W = ``out_hw``. ``cell_hw``/``painting_cell_hw``: a cell's size in
    pixels of the output and of ``painting`` (8 at the working scale, 8/scale on the canvas)."""
    h, w = cells_hw
    ws_cells = painting_cells_hw[1]
    dev = painting.device
    my, mx = (mapping // ws_cells).reshape(h, w), (mapping % ws_cells).reshape(h, w)
    ys, own_y = _axis(out_hw[0], cell_hw[0], dev)
    xs, own_x = _axis(out_hw[1], cell_hw[1], dev)
    total = torch.zeros(3, out_hw[0], out_hw[1], device=dev)
    weight = torch.zeros(out_hw[0], out_hw[1], device=dev)
    flat = painting[0].reshape(3, -1)
    ph, pw = painting.shape[-2:]
    for dy in (-1, 0, 1):
        cy = own_y + dy
        oky = (cy >= 0) & (cy < h)
        cy = cy.clamp(0, h - 1)
        wy = _weight(ys - (cy + 0.5) * cell_hw[0], cell_hw[0]) * oky
        for dx in (-1, 0, 1):
            cx = own_x + dx
            okx = (cx >= 0) & (cx < w)
            cx = cx.clamp(0, w - 1)
            wx = _weight(xs - (cx + 0.5) * cell_hw[1], cell_hw[1]) * okx
            # the pixel's offset from its cell's origin, carried to the matched cell's origin
            sy = (my[cy][:, cx] * painting_cell_hw[0] + ((ys - cy * cell_hw[0]) *
                  painting_cell_hw[0] / cell_hw[0])[:, None]).floor().long()
            sx = (mx[cy][:, cx] * painting_cell_hw[1] + ((xs - cx * cell_hw[1]) *
                  painting_cell_hw[1] / cell_hw[1])[None, :]).floor().long()
            inside = (sy >= 0) & (sy < ph) & (sx >= 0) & (sx < pw)
            wgt = wy[:, None] * wx[None, :] * inside
            index = (sy.clamp(0, ph - 1) * pw + sx.clamp(0, pw - 1)).reshape(-1)
            total += flat[:, index].reshape(3, *out_hw) * wgt
            weight += wgt
    return (total / weight.clamp_min(1e-6))[None]


def with_painted_detail(decoded: torch.Tensor, copied: torch.Tensor, sigma: float) -> torch.Tensor:
    """The decoded image's coarse values with the copied painting pixels' detail finer than ``sigma``."""
    return (gaussian_blur(decoded, sigma) + copied - gaussian_blur(copied, sigma)).clamp(0, 1)

"""Painting pixels where the features were matched: the strokes at the painting's own resolution.

The decoder inverts relu4_1, one feature per 8×8 pixels, and what it cannot hold is the finest
brushwork. A match of the object's features to the painting's (a *mapping*, one painting cell per
object cell) also says which painting pixels belong where: each object cell takes its matched cell's
8×8 pixels. Neighbouring cells' copies overlap and are cross-faded with tent weights (so cell borders
leave no 8-px grid), and where neighbours agree (the consistent mapping makes them agree in coherent
regions) the copy is exact.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .decoder import STRIDE


def _tent(distance: torch.Tensor) -> torch.Tensor:
    return (1.0 - distance.abs() / STRIDE).clamp_min(0.0)


def copy_pixels(painting: torch.Tensor, mapping: torch.Tensor, cells_hw, painting_cells_hw, out_hw) -> torch.Tensor:
    """``painting`` (1×3×Hs×Ws, at the scale its cells were encoded) rearranged by ``mapping`` (flat painting
    cell per object cell over ``cells_hw``): a 1×3×H×W image with H×W = ``out_hw``."""
    h, w = cells_hw
    hs, ws = painting_cells_hw
    dev = painting.device
    ys = torch.arange(out_hw[0], device=dev)
    xs = torch.arange(out_hw[1], device=dev)
    my, mx = (mapping // ws).reshape(h, w), (mapping % ws).reshape(h, w)
    total = torch.zeros(3, out_hw[0], out_hw[1], device=dev)
    weight = torch.zeros(out_hw[0], out_hw[1], device=dev)
    flat = painting[0].reshape(3, -1)
    ph, pw = painting.shape[-2:]
    for dy in (-1, 0, 1):
        cy = (ys // STRIDE + dy)
        oky = (cy >= 0) & (cy < h)
        cy = cy.clamp(0, h - 1)
        wy = _tent(ys - (cy * STRIDE + (STRIDE - 1) / 2)) * oky
        for dx in (-1, 0, 1):
            cx = (xs // STRIDE + dx)
            okx = (cx >= 0) & (cx < w)
            cx = cx.clamp(0, w - 1)
            wx = _tent(xs - (cx * STRIDE + (STRIDE - 1) / 2)) * okx
            # the pixel's offset from its cell's origin, carried to the matched cell's origin
            sy = my[cy][:, cx] * STRIDE + (ys - cy * STRIDE)[:, None]
            sx = mx[cy][:, cx] * STRIDE + (xs - cx * STRIDE)[None, :]
            inside = (sy >= 0) & (sy < ph) & (sx >= 0) & (sx < pw)
            wgt = wy[:, None] * wx[None, :] * inside
            index = (sy.clamp(0, ph - 1) * pw + sx.clamp(0, pw - 1)).reshape(-1)
            total += flat[:, index].reshape(3, *out_hw) * wgt
            weight += wgt
    return (total / weight.clamp_min(1e-6))[None]


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = image.shape[1]
    out = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def with_painted_detail(decoded: torch.Tensor, copied: torch.Tensor, sigma: float) -> torch.Tensor:
    """The decoded image's coarse values with the copied painting pixels' detail finer than ``sigma``."""
    return (gaussian_blur(decoded, sigma) + copied - gaussian_blur(copied, sigma)).clamp(0, 1)

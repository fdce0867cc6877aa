"""Running a trained style network on an image: whole, at a working size, or by overlapping tiles.

Instance normalisation makes a network's output depend on statistics of the whole input, so tiles
processed independently would each get their own colours and contrast (visible seams). Tiled runs
therefore first measure every normalisation layer's statistics on the whole image (at most
``STATS_SIDE`` px, the same picture at a lower resolution) and then run every tile with those fixed
statistics; each tile sees a margin of its surroundings, and neighbouring tiles overlap and are
cross-faded with linear ramps.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..crop import to_tensor
from ..optimize import CancelToken
from ..pyramid import resize

STATS_SIDE = 1024
MIN_TILE = 128


def working_hw(h: int, w: int, size: int) -> tuple[int, int]:
    """Longest side ``size`` (0 = unchanged; never upscaled)."""
    if not size or max(h, w) <= size:
        return h, w
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


@contextlib.contextmanager
def frozen_norm_statistics(net: nn.Module, reference: torch.Tensor):
    """Within the block, every InstanceNorm layer normalises with the statistics it saw on ``reference``."""
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    stats = {}

    def record(module, args):
        x = args[0]
        stats[module] = (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False))

    hooks = [m.register_forward_pre_hook(record) for m in norms]
    try:
        with torch.no_grad():
            net(reference)
    finally:
        for h in hooks:
            h.remove()
    for m in norms:
        mean, var = stats[m]
        m.forward = (lambda x, m=m, mean=mean, var=var:
                     F.batch_norm(x, mean, var, m.weight, m.bias, False, 0.0, m.eps))
    try:
        yield
    finally:
        for m in norms:
            del m.forward


def _ramp(length: int, overlap_before: int, overlap_after: int) -> np.ndarray:
    """1 in the middle, rising linearly over the overlaps (never exactly 0, so every pixel has weight)."""
    r = np.ones(length, dtype=np.float32)
    if overlap_before:
        r[:overlap_before] = (np.arange(overlap_before, dtype=np.float32) + 0.5) / overlap_before
    if overlap_after:
        r[length - overlap_after:] = np.minimum(r[length - overlap_after:],
                                                (np.arange(overlap_after, 0, -1, dtype=np.float32) - 0.5) / overlap_after)
    return r


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = tile - overlap
    n = int(np.ceil((length - overlap) / stride))
    return [min(i * stride, length - tile) for i in range(n)]


def run_tiled(net: nn.Module, image: torch.Tensor, tile: int, overlap: int = 32, margin: int = 64,
              cancel: CancelToken | None = None, on_tile=None) -> np.ndarray:
    """``image`` 1×3×H×W in [0, 1] → H×W×3 float32, computed tile by tile with shared statistics.

    Each tile is run with ``margin`` pixels of surrounding image that are then dropped (the network's
    view reaches that far, so what it computes near a tile's edge differs from the whole-image result),
    and neighbouring tiles are cross-faded over ``overlap`` pixels.
    """
    h, w = image.shape[-2:]
    tile = max(MIN_TILE, tile)
    overlap = min(overlap, tile // 2)
    reference = resize(image, working_hw(h, w, STATS_SIDE))
    out = np.zeros((h, w, 3), dtype=np.float32)
    total = np.zeros((h, w), dtype=np.float32)
    ys, xs = _starts(h, tile, overlap), _starts(w, tile, overlap)
    grid = getattr(net, "stride", 1)
    done = 0
    with frozen_norm_statistics(net, reference), torch.no_grad():
        for y in ys:
            for x in xs:
                if cancel is not None:
                    cancel.check()
                th, tw = min(tile, h - y), min(tile, w - x)
                # Crops start on the network's down-sampling grid: shifted by anything else, it would
                # compute a different (though equally valid) texture and the tiles would not match.
                y0, x0 = max(0, (y - margin) // grid * grid), max(0, (x - margin) // grid * grid)
                y1, x1 = min(h, y + th + margin), min(w, x + tw + margin)
                result = net(image[..., y0:y1, x0:x1]).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy()
                result = result[y - y0:y - y0 + th, x - x0:x - x0 + tw]
                wy = _ramp(th, overlap if y > 0 else 0, overlap if y + th < h else 0)
                wx = _ramp(tw, overlap if x > 0 else 0, overlap if x + tw < w else 0)
                weight = wy[:, None] * wx[None, :]
                out[y:y + th, x:x + tw] += result * weight[..., None]
                total[y:y + th, x:x + tw] += weight
                done += 1
                if on_tile is not None:
                    on_tile(done, len(ys) * len(xs))
    out /= total[..., None]
    return out


def stylize_array(net: nn.Module, rgb: np.ndarray, device: torch.device, size: int = 0, tile: int = 0,
                  overlap: int = 32, cancel: CancelToken | None = None, on_tile=None) -> np.ndarray:
    """H×W×3 float32 in [0, 1] → stylised H×W×3 at the same size.

    ``size``: working longest side (0 = the image's own); the result is resized back to the input size.
    ``tile``: tile side in working pixels (0 = the whole image in one pass).
    """
    h, w = rgb.shape[:2]
    wh, ww = working_hw(h, w, size)
    image = resize(to_tensor(rgb, device), (wh, ww))
    if tile and max(wh, ww) > tile:
        result = run_tiled(net, image, tile, overlap, cancel=cancel, on_tile=on_tile)
    else:
        with torch.no_grad():
            result = net(image).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy()
    if (wh, ww) != (h, w):
        t = torch.from_numpy(np.ascontiguousarray(result)).permute(2, 0, 1)[None]
        result = resize(t, (h, w))[0].permute(1, 2, 0).numpy()
    return np.ascontiguousarray(result, dtype=np.float32)

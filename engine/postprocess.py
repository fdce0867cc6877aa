"""Image-space helpers for harmonization: guided filter, chroma denoising, patch
re-synthesis from the painting, and painting statistics (noise and texture level) for automatic weights.

Arrays are H×W×3 float32 RGB in [0, 1] unless noted.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .color import rgb_to_ycc, ycc_to_rgb


def box(image: np.ndarray, radius: int) -> np.ndarray:
    return ndimage.uniform_filter(image, size=2 * radius + 1, mode="reflect")


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int = 2, eps: float = 0.01) -> np.ndarray:
    """He et al.'s guided filter with a grey guide (H×W) on a grey source (H×W): edge-preserving
    smoothing of ``source`` that follows the edges of ``guide``."""
    guide = guide.astype(np.float32)
    source = source.astype(np.float32)
    mean_i, mean_p = box(guide, radius), box(source, radius)
    cov_ip = box(guide * source, radius) - mean_i * mean_p
    var_i = box(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a, radius) * guide + box(b, radius)


def chroma_denoise(rgb: np.ndarray, radius: int = 2, eps: float = 0.01) -> np.ndarray:
    """Smooth the colour channels guided by the luminance (the reference post-filter's first step):
    removes the CNN's colour speckle while keeping every luminance edge."""
    ycc = rgb_to_ycc(rgb)
    luma = ycc[..., 0]
    for c in (1, 2):
        ycc[..., c] = guided_filter(luma, ycc[..., c], radius, eps)
    return np.clip(ycc_to_rgb(ycc), 0.0, 1.0)


def estimate_noise(rgb: np.ndarray) -> float:
    """Immerkær's fast noise standard deviation estimate on the luminance (0..1 units)."""
    grey = rgb_to_ycc(rgb)[..., 0]
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    response = ndimage.convolve(grey, kernel, mode="reflect")[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.abs(response).mean() / 6.0)


def texture_level(rgb: np.ndarray) -> float:
    """Mean luminance gradient magnitude after removing the coarsest structure: how strongly textured
    (brush strokes, canvas) a painting is, in 0..1 units per pixel."""
    grey = rgb_to_ycc(rgb)[..., 0]
    detail = grey - ndimage.gaussian_filter(grey, 4.0)
    gy, gx = np.gradient(detail)
    return float(np.hypot(gx, gy).mean())


def patch_resynthesis(image: np.ndarray, painting: np.ndarray, mask: np.ndarray, patch: int = 7,
                      stride: int = 3, style_stride: int = 2, detail_sigma: float = 2.0,
                      painting_valid: np.ndarray | None = None) -> np.ndarray:
    """Re-synthesise the masked region's fine texture from the painting's patches.

    Patches of ``image`` on a grid inside ``mask`` are replaced by their nearest painting patch (sum of
    squared differences, batched matrix products), overlapping patches averaged. The result keeps the
    image's low frequencies (its colours and shapes) and takes its detail above ``detail_sigma`` from
    the re-synthesis, which removes the optimiser's leftover high-frequency artifacts.
    ``painting_valid`` (bool, painting's size) limits the source patches, e.g. to keep the pasted object
    itself out when the painting is the composite.
    """
    dev = torch.device("cpu")
    img = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None].to(dev)
    pnt = torch.from_numpy(np.ascontiguousarray(painting, dtype=np.float32)).permute(2, 0, 1)[None].to(dev)
    h, w = img.shape[-2:]
    pad = patch // 2
    query = F.unfold(F.pad(img, (pad,) * 4, mode="replicate"), patch)[0]          # D × (h·w)
    bank = F.unfold(pnt, patch, stride=style_stride)[0]                              # D × M
    if painting_valid is not None:
        valid = torch.from_numpy(np.ascontiguousarray(painting_valid, dtype=np.float32))[None, None]
        bank = bank[:, F.unfold(valid, patch, stride=style_stride)[0].min(dim=0).values > 0.5]
    grid = torch.zeros(h, w, dtype=torch.bool)
    grid[::stride, ::stride] = True
    grid[-1, ::stride] = True
    grid[::stride, -1] = True
    select = grid & torch.from_numpy(ndimage.binary_dilation(mask > 0, iterations=pad))
    positions = select.reshape(-1).nonzero()[:, 0]
    if positions.numel() == 0 or bank.shape[1] == 0:
        return image.astype(np.float32)
    q = query[:, positions].T                                                        # N × D
    bank_sq = bank.pow(2).sum(0)
    best = torch.empty(q.shape[0], dtype=torch.long)
    chunk = max(1, (8 * 1024 * 1024) // max(1, bank.shape[1]))
    for start in range(0, q.shape[0], chunk):
        block = q[start:start + chunk]
        best[start:start + chunk] = (bank_sq[None] - 2 * block @ bank).argmin(dim=1)  # ‖q−b‖² − ‖q‖²
    # Vote: each matched patch is laid at its centre position (fold with padding = one block per pixel)
    # and overlapping patches are averaged.
    cols = torch.zeros(bank.shape[0], h * w)
    cols[:, positions] = bank[:, best]
    hits = torch.zeros(bank.shape[0], h * w)
    hits[:, positions] = 1.0
    out = F.fold(cols[None], (h, w), patch, padding=pad)
    weights = F.fold(hits[None], (h, w), patch, padding=pad)
    synth = (out / weights.clamp_min(1e-8))[0].permute(1, 2, 0).numpy()
    covered = weights[0, 0].numpy() > 0
    synth[~covered] = image[~covered]
    low = lambda a: ndimage.gaussian_filter(a, (detail_sigma, detail_sigma, 0))  # noqa: E731
    result = low(image) + (synth - low(synth))
    result = np.where(covered[..., None], result, image)
    return np.clip(result, 0.0, 1.0).astype(np.float32)

"""Loss terms as small modules: each holds its target and is called on the current features/image."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of N×C×H×W features, normalised by the number of positions: N×C×C."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize an N×1×H×W (or H×W) mask to a layer's spatial size by area averaging."""
    if mask.dim() == 2:
        mask = mask[None, None]
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.adaptive_avg_pool2d(mask, size) if all(s <= m for s, m in zip(size, mask.shape[-2:])) \
        else F.interpolate(mask, size=size, mode="bilinear", align_corners=False)


def masked_gram_matrix(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gram matrix of the masked positions only: Σ_p m_p f_p f_pᵀ / Σ_p m_p.

    For a binary mask this equals :func:`gram_matrix` of the features restricted to the region, so the
    region's statistics are compared with the style's, not diluted by everything outside it.
    """
    n, c, h, w = features.shape
    m = resize_mask(mask.to(features.dtype), (h, w)).reshape(-1, 1, h * w)
    total = m.sum(dim=2, keepdim=True).clamp_min(1e-8)
    flat = features.reshape(n, c, h * w)
    if n == 1 and m.shape[0] == 1 and features.device.type == "cpu":
        # Only the positions the mask covers: a label of a segmentation covers a part of the image, so a
        # Gram per label costs what one Gram of the whole image costs, not that times the labels. (Not on
        # a GPU: there the product is cheap and counting the positions would stall the device each call.)
        weights = m.reshape(-1)
        inside = weights.nonzero().squeeze(1)
        if inside.numel() < 0.75 * h * w:
            part = flat[0].index_select(1, inside)
            return ((part * weights[inside]) @ part.T / total[0])[None]
    return (flat * m) @ flat.transpose(1, 2) / total


class ContentLoss(nn.Module):
    """Mean squared feature difference to a target, optionally weighted by a spatial mask."""

    def __init__(self, target: torch.Tensor, mask: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("target", target.detach())
        if mask is not None:
            self.register_buffer("mask", resize_mask(mask.to(target.dtype), target.shape[-2:]))
        else:
            self.mask = None

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        diff = (features - self.target) ** 2
        if self.mask is None:
            return diff.mean()
        return (diff * self.mask).sum() / (self.mask.sum() * features.shape[1]).clamp_min(1e-8)


class GramStyleLoss(nn.Module):
    """Squared distance between the Gram matrix of the (optionally masked) features and a target Gram."""

    def __init__(self, target_gram: torch.Tensor, mask: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("target", target_gram.detach())
        self.mask = None if mask is None else mask.detach()

    def gram(self, features: torch.Tensor) -> torch.Tensor:
        return gram_matrix(features) if self.mask is None else masked_gram_matrix(features, self.mask)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.gram(features), self.target.expand(features.shape[0], -1, -1))


def total_variation(image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels (0 for a constant image)."""
    dh = (image[..., 1:, :] - image[..., :-1, :]) ** 2
    dw = (image[..., :, 1:] - image[..., :, :-1]) ** 2
    if mask is None:
        return dh.mean() + dw.mean()
    m = resize_mask(mask.to(image.dtype), image.shape[-2:])
    mh, mw = m[..., 1:, :], m[..., :, 1:]
    return (dh * mh).sum() / (mh.sum() * image.shape[1]).clamp_min(1e-8) + \
        (dw * mw).sum() / (mw.sum() * image.shape[1]).clamp_min(1e-8)


"""Per-channel histogram matching of features and the histogram loss (Risser et al. 2017, used by
Luan et al. 2018 on relu1_1 and relu4_1)."""
from __future__ import annotations

import torch
from torch import nn


def target_quantiles(target: torch.Tensor, n: int) -> torch.Tensor:
    """Each row of ``target`` (C×M) sorted and resampled at ``n`` evenly spaced ranks (C×n)."""
    sorted_target = target.sort(dim=1).values
    if sorted_target.shape[1] != n:  # resample the target's quantiles at n points
        pos = torch.linspace(0, sorted_target.shape[1] - 1, n, device=target.device)
        lo = pos.floor().long()
        hi = pos.ceil().long()
        frac = (pos - lo.to(pos.dtype))[None]
        sorted_target = sorted_target[:, lo] * (1 - frac) + sorted_target[:, hi] * frac
    return sorted_target


def remap_to_quantiles(source: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Each row of ``source`` (C×N) replaced by the quantiles (C×N, sorted) of the same rank."""
    out = torch.empty_like(source)
    out.scatter_(1, source.argsort(dim=1), quantiles.to(source.dtype))
    return out


def match_histograms(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Remap each row of ``source`` (C×N) so its values have the distribution of the same row of
    ``target`` (C×M), keeping their rank order (exact matching by sorting; M may differ from N)."""
    return remap_to_quantiles(source, target_quantiles(target, source.shape[1]))


class HistogramLoss(nn.Module):
    """Squared distance between the features at the masked positions and their histogram-matched
    remapping (the remap is a fixed target each evaluation, so the gradient pulls every value towards
    the value of the same rank in the target distribution)."""

    def __init__(self, target_features: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        c = target_features.shape[1]
        self.positions = mask.reshape(-1) > 0.5
        if not bool(self.positions.any()):
            raise ValueError("histogram loss needs a non-empty mask")
        self.register_buffer("target", target_features.reshape(c, -1)[:, self.positions].detach())
        self.scale = float(self.target.pow(2).mean()) + 1e-8

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        c = features.shape[1]
        values = features.reshape(c, -1)[:, self.positions]
        with torch.no_grad():
            remapped = match_histograms(values, self.target)
        return (values - remapped).pow(2).mean() / self.scale

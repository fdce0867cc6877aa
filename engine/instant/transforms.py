"""Style in feature space: each transform maps content features (1×C×H×W) towards a style's.

Every statistic can be restricted to a region (``where``: a bool H×W map of the positions that count),
so a selection is matched to the painting around it and nothing else.
"""
from __future__ import annotations

import torch

from ..matching import consistency_refine, gather, nearest_patches

# Ridge added to a covariance before its square roots (relative to its mean eigenvalue), and the share
# of the largest eigenvalue under which directions are not whitened: both keep WCT from amplifying the
# noise in directions the features barely use (Li et al. 2017 report the same instability).
RIDGE = 1e-4
MIN_EIGEN = 1e-5


def _columns(features: torch.Tensor, where: torch.Tensor | None) -> torch.Tensor:
    flat = features[0].reshape(features.shape[1], -1)
    return flat if where is None else flat[:, where.reshape(-1)]


def moments(features: torch.Tensor, where: torch.Tensor | None = None):
    """Per-channel mean and standard deviation (C×1 each) over ``where``."""
    cols = _columns(features, where).float()
    return cols.mean(1, keepdim=True), cols.std(1, keepdim=True, unbiased=False).clamp_min(1e-5)


def adain(content: torch.Tensor, style: torch.Tensor, content_where=None, style_where=None) -> torch.Tensor:
    """Each channel's mean and deviation set to the style's (Huang & Belongie 2017)."""
    cm, cs = moments(content, content_where)
    sm, ss = moments(style, style_where)
    c = content.shape[1]
    flat = content[0].reshape(c, -1).float()
    return ((flat - cm) / cs * ss + sm).reshape(content.shape).to(content.dtype)


def covariance_roots(features: torch.Tensor, where=None):
    """(mean, cov^½, cov^-½) of the channels over ``where``: the covariance summed in float32 (the
    features' own precision; float64 would double the time of the largest product), its square roots
    taken in float64."""
    cols = _columns(features, where).float()
    mean = cols.mean(1, keepdim=True)
    centred = cols - mean
    cov = (centred @ centred.T / max(1, cols.shape[1] - 1)).double()
    cov += torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device) * RIDGE * cov.diagonal().mean()
    values, vectors = torch.linalg.eigh(cov)
    keep = values > values.max() * MIN_EIGEN
    values, vectors = values[keep], vectors[:, keep]
    root = vectors @ torch.diag(values.sqrt()) @ vectors.T
    inverse_root = vectors @ torch.diag(values.rsqrt()) @ vectors.T
    return mean.double(), root, inverse_root


def wct(content: torch.Tensor, style: torch.Tensor, content_where=None, style_where=None,
        style_roots=None) -> torch.Tensor:
    """Whitening and colouring (Li et al. 2017): the content's covariance replaced by the style's, so the
    features take the style's correlations as well as its means and deviations. ``style_roots``: the
    style's ``covariance_roots``, when cached. The two roots are combined into one C×C map first, so the
    features are multiplied once, in float32."""
    cm, _, c_inv = covariance_roots(content, content_where)
    sm, s_root, _ = style_roots if style_roots is not None else covariance_roots(style, style_where)
    transform = (s_root @ c_inv).float()
    shift = (sm - transform.double() @ cm).float()
    c = content.shape[1]
    flat = content[0].reshape(c, -1).float()
    return torch.addmm(shift, transform, flat).reshape(content.shape).to(content.dtype)


def match(content: torch.Tensor, style: torch.Tensor, content_where=None, style_valid=None, patch: int = 3,
          consistent: bool = True, values: tuple | None = None, value_weight: float = 0.0) -> torch.Tensor:
    """For each content position, the style position whose ``patch``×``patch`` feature patch correlates
    best with its own (Chen & Schmidt 2016's style swap), made spatially coherent (Luan et al. 2018's
    consistency step): a mapping (flat style index per content position). ``values``/``value_weight``: see
    :func:`..matching.nearest_patches` (matches that also keep a value map)."""
    h, w = content.shape[-2:]
    positions = None if content_where is None else content_where.reshape(-1).nonzero()[:, 0]
    mapping = nearest_patches(content, style, patch, content_positions=positions, style_valid=style_valid,
                              values=values, value_weight=value_weight)
    return consistency_refine(mapping, style, (h, w), content_where) if consistent else mapping


def style_swap(content: torch.Tensor, style: torch.Tensor, mapping: torch.Tensor, content_where=None
               ) -> torch.Tensor:
    """The style features at the mapped positions; positions outside ``content_where`` keep their own."""
    swapped = gather(style, mapping, tuple(content.shape[-2:]))
    if content_where is None:
        return swapped
    return torch.where(content_where[None, None], swapped, content)


def rank_map(values: torch.Tensor, tones: torch.Tensor) -> torch.Tensor:
    """Each of ``values`` replaced by the entry of the sorted ``tones`` at the same rank: the values'
    order and contrast, in the tones' range."""
    ranks = torch.empty_like(values)
    ranks[values.argsort()] = torch.linspace(0, 1, values.numel(), device=values.device)
    return tones[(ranks * (tones.numel() - 1)).round().long()]


def contrast_values(content_luma: torch.Tensor, style_luma: torch.Tensor, content_where, style_where) -> tuple:
    """(content, style) 1×1×h×w value maps for a match that keeps the content's *contrast* in the style's
    tonal scale: each content cell's luminance rank among the content's cells, mapped to the style's
    luminance at the same rank (its darkest part takes the style's darkest tones, its brightest the
    brightest), rather than its raw value (which a dark object in a light painting never finds)."""
    where = content_where.reshape(-1)
    mapped = content_luma.clone().reshape(-1)
    mapped[where] = rank_map(mapped[where], style_luma.reshape(-1)[style_where.reshape(-1)].sort().values)
    return mapped.reshape(content_luma.shape), style_luma


def interpolate(transformed: torch.Tensor, original: torch.Tensor, strength: float) -> torch.Tensor:
    """``strength`` 1 = the transformed features, 0 = the original ones (the decoded photo)."""
    if strength >= 1:
        return transformed
    return strength * transformed + (1 - strength) * original

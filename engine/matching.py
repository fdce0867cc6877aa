"""Nearest-neighbour feature matching for painterly harmonization.

A *mapping* is a LongTensor of flat style positions, one per content position (row-major, H×W), at one
network layer. Everything is batched tensor work (unfold + matrix products in chunks, gathers), no
per-pixel Python loops.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Largest score block (content positions × style positions) computed at once: bounds memory to ~64 MB.
_SCORE_BLOCK = 16 * 1024 * 1024


def normalized_patches(features: torch.Tensor, patch: int = 3) -> torch.Tensor:
    """(C·patch², H·W) columns: each position's patch (zero padded at the border), L2-normalised."""
    cols = F.unfold(features, patch, padding=patch // 2)[0]
    return cols / cols.norm(dim=0, keepdim=True).clamp_min(1e-8)


def cell_values(values: torch.Tensor, hw) -> torch.Tensor:
    """A 1×K×H×W map averaged over each cell of a layer's ``hw`` grid: K×(cells), flat per channel."""
    if tuple(values.shape[-2:]) != tuple(hw):
        values = F.adaptive_avg_pool2d(values, hw) if values.shape[-2] >= hw[0] and values.shape[-1] >= hw[1] \
            else F.interpolate(values, size=tuple(hw), mode="bilinear", align_corners=False)
    return values.reshape(values.shape[1], -1)


def nearest_patches(content: torch.Tensor, style: torch.Tensor, patch: int = 3,
                    content_positions: torch.Tensor | None = None,
                    style_valid: torch.Tensor | None = None, values: tuple | None = None,
                    value_weight: float = 0.0) -> torch.Tensor:
    """For each content position, the flat index of the style position whose ``patch``×``patch`` feature
    patch has the highest normalised cross-correlation (cosine similarity) with the content's patch.

    ``content``: 1×C×H×W, ``style``: 1×C×Hs×Ws. ``content_positions`` (flat indices) limits the work to
    those positions (the others map to themselves clipped into the style, and should be ignored);
    ``style_valid`` (bool, Hs×Ws) excludes style positions, e.g. the pasted object itself.
    ``values`` (content map, style map: 1×K images of any size, e.g. luminance) with ``value_weight``
    subtracts ``value_weight·Σₖ(v_content − v_style)²`` of the two positions' cells from the similarity,
    so matches also keep the value (light or dark) of the content.
    Returns a LongTensor of H·W flat style indices.
    """
    h, w = content.shape[-2:]
    cp = normalized_patches(content, patch)
    sp = normalized_patches(style, patch)
    if content_positions is None:
        content_positions = torch.arange(h * w, device=content.device)
    queries = cp[:, content_positions].T.contiguous()          # Nq × D
    if values is not None and value_weight > 0:
        # −β(a − b)² = −βa² + 2βab − βb²; −βa² is the same for every candidate of a query, so the score
        # is the product of [q, 2βa, −β] and [s, b, b²] (per value channel).
        a = cell_values(values[0].to(cp.dtype), (h, w))[:, content_positions]
        b = cell_values(values[1].to(sp.dtype), style.shape[-2:])
        queries = torch.cat([queries, 2 * value_weight * a.T, torch.full_like(a.T, -value_weight)], dim=1)
        sp = torch.cat([sp, b, b * b], dim=0)
    candidates = torch.arange(sp.shape[1], device=style.device)
    if style_valid is not None:
        candidates = candidates[style_valid.reshape(-1)]
        if candidates.numel() == 0:
            raise ValueError("no style positions left to match against")
    sp = sp[:, candidates]
    best_score = torch.full((queries.shape[0],), -float("inf"), device=content.device)
    best_index = torch.zeros(queries.shape[0], dtype=torch.long, device=content.device)
    chunk = max(1, _SCORE_BLOCK // max(1, queries.shape[0]))
    for start in range(0, sp.shape[1], chunk):
        score, index = (queries @ sp[:, start:start + chunk]).max(dim=1)
        better = score > best_score
        best_score = torch.where(better, score, best_score)
        best_index = torch.where(better, index + start, best_index)
    mapping = identity_mapping((h, w), tuple(style.shape[-2:]), content.device)
    mapping[content_positions] = candidates[best_index]
    return mapping


def identity_mapping(content_hw, style_hw, device=None) -> torch.Tensor:
    """Each content position mapped to the same (clipped) position in the style."""
    ys = torch.arange(content_hw[0], device=device).clamp_max(style_hw[0] - 1)
    xs = torch.arange(content_hw[1], device=device).clamp_max(style_hw[1] - 1)
    return (ys[:, None] * style_hw[1] + xs[None, :]).reshape(-1)


def gather(style: torch.Tensor, mapping: torch.Tensor, content_hw) -> torch.Tensor:
    """The style features rearranged by ``mapping``: 1×C×H×W with H×W = ``content_hw``."""
    c = style.shape[1]
    flat = style.reshape(c, -1)[:, mapping]
    return flat.reshape(1, c, *content_hw)


def consistency_refine(mapping: torch.Tensor, style: torch.Tensor, content_hw, mask: torch.Tensor | None = None,
                       radius: int = 1) -> torch.Tensor:
    """Make a mapping spatially consistent (Luan et al. 2018, pass 2).

    Each neighbour q of p (ring of ``radius``) votes for the style position M(q) − (q − p), i.e. the spot
    that would continue q's match coherently. Among p's candidates (its own match and the votes) we keep
    the one whose style feature is closest to all the others (the medoid), which removes isolated
    outliers while keeping coherent regions. Only neighbours inside ``mask`` (bool H×W) vote.
    """
    h, w = content_hw
    hs, ws = style.shape[-2:]
    device = mapping.device
    sy, sx = mapping // ws, mapping % ws
    ys = torch.arange(h, device=device)[:, None].expand(h, w).reshape(-1)
    xs = torch.arange(w, device=device)[None, :].expand(h, w).reshape(-1)
    inside = torch.ones(h * w, dtype=torch.bool, device=device) if mask is None else mask.reshape(-1).bool()
    offsets = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    cand, valid = [], []
    for dy, dx in offsets:  # (2r+1)² vectorised shifts, not a loop over pixels
        qy, qx = ys + dy, xs + dx
        ok = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        q = qy.clamp(0, h - 1) * w + qx.clamp(0, w - 1)
        ok = ok & inside[q]
        cy, cx = sy[q] - dy, sx[q] - dx
        ok = ok & (cy >= 0) & (cy < hs) & (cx >= 0) & (cx < ws)
        cand.append(cy.clamp(0, hs - 1) * ws + cx.clamp(0, ws - 1))
        valid.append(ok)
    cand = torch.stack(cand, dim=1)                          # N × K
    valid = torch.stack(valid, dim=1)
    centre = len(offsets) // 2
    valid[:, centre] = True                                   # a position's own match always stands
    cand[:, centre] = mapping
    feats = style.reshape(style.shape[1], -1).T[cand]         # N × K × C
    dist = torch.cdist(feats, feats)                          # N × K × K
    dist = dist.masked_fill(~valid[:, None, :], 0.0)          # invalid candidates do not vote...
    cost = dist.sum(dim=2).masked_fill(~valid, float("inf"))  # ...and cannot be chosen
    choice = cost.argmin(dim=1)
    refined = cand.gather(1, choice[:, None])[:, 0]
    return torch.where(inside, refined, mapping)


def upsample_mapping(mapping: torch.Tensor, coarse_hw, coarse_style_hw, factor: int, fine_hw,
                     fine_style_hw) -> torch.Tensor:
    """Carry a mapping from a deep layer to a shallower one ``factor`` times larger: a fine position keeps
    its offset inside its coarse cell, relative to the coarse match."""
    h, w = fine_hw
    hs, ws = fine_style_hw
    device = mapping.device
    ys = torch.arange(h, device=device)[:, None].expand(h, w)
    xs = torch.arange(w, device=device)[None, :].expand(h, w)
    cy = (ys // factor).clamp_max(coarse_hw[0] - 1)
    cx = (xs // factor).clamp_max(coarse_hw[1] - 1)
    coarse = mapping.reshape(coarse_hw)[cy, cx]
    my, mx = coarse // coarse_style_hw[1], coarse % coarse_style_hw[1]
    fy = (my * factor + ys - cy * factor).clamp(0, hs - 1)
    fx = (mx * factor + xs - cx * factor).clamp(0, ws - 1)
    return (fy * ws + fx).reshape(-1)

"""The instant transforms as the methods call them: a working-size image (and styles) in, a working-size
result out, each a few lines over :mod:`.codec` and :mod:`.transforms`."""
from __future__ import annotations

import numpy as np
import torch

from ..convert import to_image, to_tensor
from . import codec as codeclib
from .transforms import adain, interpolate, wct

TRANSFORMS = ("wct", "adain")


def _transform(name: str, codec, content, style_image, content_where=None, style_where=None):
    if name == "adain":
        style = codeclib.styles.get(codec, style_image, style_where)
        return adain(content, style["features"], content_where, style["where"])
    style = codeclib.styles.get(codec, style_image, style_where, roots=True)
    return wct(content, style["features"], content_where, style_roots=style["roots"])


def stylize(content: np.ndarray, styles: list, weights: list, params: dict, device: torch.device,
            half: bool, mask: np.ndarray | None = None) -> np.ndarray:
    """``content`` (H×W×3, working size) in the styles' statistics, mixed by ``weights`` (AdaIN's style
    interpolation: the transformed features are averaged), at ``params["strength"]``; with ``mask``, the
    content's statistics are taken inside it only (the result is meant to be pasted with it)."""
    codec = codeclib.Codec(device, half)
    feats, hw = codec.encode(to_tensor(content, device))
    where = None if mask is None else codeclib.feature_mask(to_tensor(mask, device), feats.shape[-2:])
    if where is not None and not where.any():
        where = None
    mixed = sum(w * _transform(params["transform"], codec, feats, to_tensor(s, device), where)
                for s, w in zip(styles, weights))
    out = interpolate(mixed, feats, params["strength"])
    return to_image(codec.decode(out, hw))


def photo(content: torch.Tensor, style: torch.Tensor, labels: list, device: torch.device, half: bool
          ) -> torch.Tensor:
    """WCT per label (Li et al. 2018's PhotoWCT step): the content's features under each label take the
    style's statistics under the same label; returns the decoded 1×3×H×W image."""
    codec = codeclib.Codec(device, half)
    feats, hw = codec.encode(content)
    out = feats.clone()
    for pair in labels:
        where = codeclib.feature_mask(to_tensor(pair.content, device), feats.shape[-2:])
        style_mask = to_tensor(pair.style, device)
        if not where.any() or float(style_mask.mean()) * style_mask.numel() < 64:
            continue
        moved = _transform("wct", codec, feats, style, where, style_mask)
        out = torch.where(where[None, None], moved, out)
    return codec.decode(out, hw)

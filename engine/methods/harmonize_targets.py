"""Where each feature of the pasted object should go: nearest-neighbour mappings of its network features
onto the painting's (Luan et al. 2018), as the target features of harmonize's losses."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import masks as masklib
from ..losses import resize_mask
from ..matching import cell_values, consistency_refine, gather, nearest_patches, upsample_mapping

PASS1_STYLE_LAYERS = ("relu3_1", "relu4_1")            # the paper adds relu5_1: +50 % compute for little
PASS2_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
MATCH_LAYER = "relu4_1"
MATCH_STRIDE = 8                                        # its cell in input pixels (three poolings)
# Matches also keep the pasted object's values: squared value differences of the two network cells times
# this are subtracted from the patches' cosine similarity. Without it a dark detail or a mid-grey object
# on a light ground maps to the ground (the same smoothness), and its targets erase it. Two values: the
# cell's luminance (0..1), and the tone rank of the patch's mean luminance among the painting's patches
# (0..1). The rank measures a difference in the painting's own tonal scale: where the painting renders a
# mid-tone only as lines on paper (line art), a smooth mid-grey object is far from the blank paper in rank
# though close to it in luminance, and is matched to the hatching that makes that tone.
VALUE_WEIGHT = 2.0
LUMA = (0.299, 0.587, 0.114)


def luminance(image: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(LUMA, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image * weights).sum(dim=1, keepdim=True)


def layer_mask(mask: torch.Tensor, feats: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    return resize_mask(mask, feats.shape[-2:])[0, 0] > threshold


def style_valid(exclude: torch.Tensor | None, feats: torch.Tensor):
    """Style positions allowed as matches: all, or those clear of the pasted object."""
    if exclude is None:
        return None
    valid = ~layer_mask(exclude, feats)
    if not bool(valid.any()):
        raise masklib.MaskError("the selection covers almost the whole image: not enough painting around it "
                                "for the style; select less, or raise --context")
    return valid


def value_maps(values, content_hw, style_hw, valid) -> tuple:
    """(content, style) 1×2×h×w maps on a layer's grids: cell luminance and patch tone rank (see
    VALUE_WEIGHT). ``values``: luminance images of the pasted object's image and of the painting;
    ``valid``: the painting's cells that can be matched (None: all), whose tones the ranks count."""
    def on_grid(image, hw):
        cells = cell_values(image, hw).reshape(1, 1, *hw)
        patch = F.avg_pool2d(F.pad(cells, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        return cells, patch
    (content, content_patch), (style, style_patch) = on_grid(values[0], content_hw), on_grid(values[1], style_hw)
    tones = style_patch.reshape(-1)
    tones = (tones if valid is None else tones[valid.reshape(-1)]).sort().values

    def rank(patch):        # the mid-rank: a flat paper's equal tones share the middle of their run
        flat = patch.reshape(-1).contiguous()
        below = torch.searchsorted(tones, flat) + torch.searchsorted(tones, flat, right=True)
        return (below.to(patch.dtype) / (2 * tones.numel())).reshape(patch.shape)
    return torch.cat([content, rank(content_patch)], dim=1), torch.cat([style, rank(style_patch)], dim=1)


def usable_exclude(exclude: torch.Tensor, required: bool) -> torch.Tensor | None:
    """The footprint to leave out of the matches: always from the composite (``required``: it is the object
    itself); from a clean painting only while some of the painting is left outside it on the matching
    layer's grid (a selection covering nearly all of a small image then draws on the whole painting)."""
    grid = tuple(max(1, side // MATCH_STRIDE) for side in exclude.shape[-2:])
    if required or bool((resize_mask(exclude, grid)[0, 0] <= 0).any()):
        return exclude
    return None


def pass1_targets(feats: dict, style_feats: dict, loss_mask, exclude, values=None) -> dict:
    """Independent nearest-neighbour mapping per layer (3×3 patches), the mapped painting features.
    ``values``: (luminance of the pasted object's image, of the painting) for value-keeping matches."""
    targets = {}
    for layer in PASS1_STYLE_LAYERS:
        f, s = feats[layer], style_feats[layer]
        positions = layer_mask(loss_mask, f).reshape(-1).nonzero()[:, 0]
        valid = style_valid(exclude, s)
        maps = None if values is None else value_maps(values, f.shape[-2:], s.shape[-2:], valid)
        mapping = nearest_patches(f, s, 3, positions, valid, maps, VALUE_WEIGHT)
        targets[layer] = gather(s, mapping, f.shape[-2:])
    return targets


def pass2_targets(feats: dict, style_feats: dict, loss_mask, exclude, values=None) -> dict:
    """One consistent mapping at relu4_1, carried to the shallower layers."""
    f, s = feats[MATCH_LAYER], style_feats[MATCH_LAYER]
    inside = layer_mask(loss_mask, f)
    positions = inside.reshape(-1).nonzero()[:, 0]
    valid = style_valid(exclude, s)
    maps = None if values is None else value_maps(values, f.shape[-2:], s.shape[-2:], valid)
    mapping = nearest_patches(f, s, 3, positions, valid, maps, VALUE_WEIGHT)
    mapping = consistency_refine(mapping, s, f.shape[-2:], inside)
    targets = {}
    for layer in PASS2_STYLE_LAYERS:
        lf, ls = feats[layer], style_feats[layer]
        factor = lf.shape[-1] // f.shape[-1]
        m = mapping if factor == 1 else upsample_mapping(mapping, f.shape[-2:], s.shape[-2:], factor,
                                                         lf.shape[-2:], ls.shape[-2:])
        targets[layer] = gather(ls, m, lf.shape[-2:])
    return targets

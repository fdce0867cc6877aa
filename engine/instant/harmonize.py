"""Instant harmonize: the pasted object's features take the painting's, decoded in one pass.

1. Crop: the object's region and the painting context around it, as for the optimised qualities, at a
   working size whose context's longest side is ``size`` (512 by default).
2. The object's relu4_1 statistics are whitened and coloured to the painting context's (WCT, the pasted
   object's footprint excluded from the context), so its features have the painting's contrast and
   correlations while keeping their own layout.
3. Each of those features is swapped for its best-matching painting feature patch (style swap, made
   spatially consistent): the object is built of the painting's own strokes, chosen by what the WCT
   features look like rather than by the photo's raw values (which pick the flattest strokes).
4. Decoded; the detail finer than the decoder holds is the matched painting pixels' (synthesis.py).
5. Upsampled, and pasted with the feathered mask: pixels outside it are the composite's, bit
   for bit.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .. import color
from .. import crop as croplib
from .. import masks as masklib
from ..convert import to_numpy, to_tensor
from ..methods.base import Output, RunContext
from ..matching import cell_values
from ..methods.harmonize_targets import VALUE_WEIGHT, luminance
from ..pyramid import resize
from . import codec as codeclib
from .decoder import STRIDE
from ..methods.harmonize_objective import gaussian_blur
from .synthesis import copy_pixels, with_painted_detail
from .transforms import contrast_values, interpolate, match, rank_map, style_swap, wct

INSTANT_SIDE = 512     # working longest side of the painting context: ~1 s on a laptop CPU
# How much of the swapped painting features goes into the result against the WCT ones: the swap brings
# the painting's strokes, the WCT features the object's layout, which the swap alone can scramble.
SWAP_SHARE = 0.7
# How far the object's coarse light and dark move to its own pattern in the painting's tonal range (1 =
# all the way): a painting whose strokes mix light and dark within a cell (a drawing, a poster) has only
# mid-grey cells to match, and without this the object dissolves into a uniform texture.
# At strength 1 half of it: there, as in the other qualities, the object's coarse shape gives way.
CONTRAST_SHARE = 1.0
# The blur of that move, as a share of DETAIL_SIGMA: half keeps the object's edges readable (a cup's rim)
# where the copied strokes would blur them. On 5 development examples, against the whole DETAIL_SIGMA:
# independent texture 0.482 against 0.492, shape 0.953 against 0.950; RGB ranks instead of luminance: 0.515.
CONTRAST_BLUR = 0.5
# Features compared one cell at a time, not as 3×3 patches: the consistency step already makes the
# matches coherent, the result looked the same on the development examples, and the comparison costs a
# ninth (the match was the largest part of the time at 3×3).
MATCH_PATCH = 1
# Blur (working pixels) separating the decoded image's values from the copied painting pixels' strokes:
# below it the strokes are the painting's own pixels. About one feature cell (8 px): the decoder, trained
# on a CPU budget, holds values and shapes at that scale but softens the strokes within a cell (at 3 px
# the object looked blurred, at 8 px its shading began to break into the copied patches).
DETAIL_SIGMA = 6.0


def feature_strength(strength: float) -> float:
    """harmonize's strength (0 = as pasted, 0.5 = automatic, 1 = strongest) as a feature interpolation:
    0.5 and above is the fully transformed object."""
    return min(1.0, 2.0 * strength)


def run_instant(inputs: dict, params: dict, ctx: RunContext) -> Output:
    composite_np = inputs["composite"]
    mask_np = masklib.check_mask(inputs["mask"], composite_np.shape[:2])
    style_np = inputs.get("style")
    source_np = composite_np if style_np is None else style_np
    reach = params["dilation"] + int(math.ceil(params["feather"]))
    plan = croplib.plan_crop(mask_np, params["size"] or INSTANT_SIDE, reach, context=params["context"])
    rs = plan.region_slices()
    region_mask = mask_np[rs]
    region_alpha = masklib.blend_weights(region_mask, params["dilation"], params["feather"])
    if params["strength"] <= 0:                        # the pasted object as it is
        return _as_pasted(composite_np, region_alpha, plan)
    mode = params["keep_colors"]
    work_composite = composite_np
    if mode != "off":   # the network sees the colour mode's images (grey, or the painting recoloured)
        source_np = color.network_styles(mode, [source_np], composite_np, mask_np, match_tones=False)[0]
        work_composite = color.network_content(mode, composite_np)
    dev = ctx.device
    codec = codeclib.Codec(dev, ctx.half)
    region = croplib.crop_work(work_composite, plan.region, plan.region_work, dev)
    context = croplib.crop_work(source_np, plan.context, plan.context_work, dev)
    feats, hw = codec.encode(region)
    grown = masklib.dilate(region_mask, max(1, params["dilation"] // 2))
    obj = codeclib.feature_mask(resize(to_tensor(grown, dev), plan.region_work), feats.shape[-2:], 0.25)
    # The object's footprint in the context (the object itself, or in a clean painting what it hides) is
    # never matched: copied onto the object it would make it see-through.
    footprint = masklib.dilate(mask_np[plan.context_slices()], reach + 2)
    usable = 1.0 - resize(to_tensor(footprint, dev), plan.context_work).clamp(0, 1)
    style = codeclib.styles.get(codec, context, usable, roots=True)
    if not obj.any() or not style["where"].any():
        return _as_pasted(composite_np, region_alpha, plan)
    moved = wct(feats, style["features"], obj, style_roots=style["roots"])
    values = contrast_values(_cells(region, feats), _cells(context, style["features"]), obj, style["where"])
    mapping = match(moved, style["features"], obj, style["where"], MATCH_PATCH, values=values,
                    value_weight=VALUE_WEIGHT)
    swapped = style_swap(moved, style["features"], mapping, obj)
    strength = feature_strength(params["strength"])
    out = interpolate(SWAP_SHARE * swapped + (1 - SWAP_SHARE) * moved, feats, strength)
    out = torch.where(obj[None, None], out, feats)
    decoded = codec.decode(out, hw)
    # On the canvas: the decoded values, with the strokes finer than the decoder holds copied from the
    # matched painting pixels at the painting's full resolution.
    region_hw = (plan.region[2] - plan.region[0], plan.region[3] - plan.region[1])
    context_full = to_tensor(source_np[plan.context_slices()], dev)
    copied = copy_pixels(context_full, mapping, feats.shape[-2:], style["features"].shape[-2:], region_hw,
                         _cell_size(region_hw, plan.region_work), _cell_size(context_full.shape[-2:], plan.context_work))
    decoded_full = resize(decoded, region_hw)
    sigma = DETAIL_SIGMA * region_hw[0] / plan.region_work[0]
    detailed = with_painted_detail(decoded_full, copied, sigma)
    share = CONTRAST_SHARE * (1.0 - max(0.0, params["strength"] - 0.5))
    if share > 0:
        detailed = _with_object_contrast(detailed, to_tensor(work_composite[rs], dev), context_full,
                                         to_tensor(region_mask, dev) > 0.5,
                                         to_tensor(1.0 - footprint, dev) > 0.5, sigma * CONTRAST_BLUR, share)
    on_object = to_tensor(masklib.feather(grown, sigma), dev).clamp(0, 1) * strength
    # Around the object (the blend's reach) the painting's own pixels, not the decoded painting, whose
    # softness would ring the object with a halo: the clean painting when given (the composite there
    # still has the pasted object's fringe), else the composite.
    around = to_tensor((composite_np if style_np is None else style_np)[rs], dev)
    region_rgb = to_numpy((on_object * detailed + (1 - on_object) * around).clamp(0, 1))
    if ctx.save_passes is not None:
        ctx.save_passes("decoded", to_numpy(decoded))
        ctx.save_passes("copied", to_numpy(copied))
    keep = 1.0 if mode == "luminance" else params["object_color"]
    if keep > 0:
        region_rgb = color.restore_chroma(region_rgb, composite_np[rs], keep)
    return Output(*croplib.paste_back(composite_np, region_rgb, region_alpha, plan.region))


def _with_object_contrast(image, composite, painting, inside, usable, sigma, share):
    """``image`` whose coarse luminance (blurred by ``sigma``) moves ``share`` of the way to the object's
    own light and dark rendered in the painting's tonal range: each object pixel's luminance rank among
    the object's pixels, mapped to the painting's pixel luminance of the same rank. The painting's strokes
    and colours stay; its light and dark are arranged as the object's were."""
    where, keep = inside[0, 0], usable[0, 0]
    if int(where.sum()) < 2 or int(keep.sum()) < 2:
        return image
    target = luminance(composite)[0, 0].clone()
    target[where] = rank_map(target[where], luminance(painting)[0, 0][keep].sort().values)
    shift = gaussian_blur(target[None, None], sigma) - gaussian_blur(luminance(image), sigma)
    return (image + share * shift).clamp(0, 1)


def _cell_size(full_hw, work_hw) -> tuple:
    """A feature cell's size in full-resolution pixels, per axis (8 working pixels)."""
    return (STRIDE * full_hw[0] / work_hw[0], STRIDE * full_hw[1] / work_hw[1])


def _cells(image: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
    """The image's luminance averaged over each feature cell: 1×1×h×w."""
    hw = feats.shape[-2:]
    padded = torch.nn.functional.pad(luminance(image), (0, hw[1] * 8 - image.shape[-1], 0, hw[0] * 8 - image.shape[-2]),
                                     mode="replicate")
    return cell_values(padded, hw).reshape(1, 1, *hw)


def _as_pasted(composite: np.ndarray, region_alpha: np.ndarray, plan) -> Output:
    return Output(*croplib.paste_back(composite, composite[plan.region_slices()], region_alpha, plan.region))

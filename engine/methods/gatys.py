"""Gatys et al. neural style transfer: ``global`` (whole image) and ``masked`` (inside a region only).

Both are built from the same parts: a VGG feature extractor, content / Gram-style / TV losses, the
optimisation loop and a coarse-to-fine pyramid (:mod:`..stylize`). ``masked`` works on a crop around the
(dilated) mask, restricts the content and style statistics to the mask and composites the result over
the original with a feathered mask, so a selection on a huge canvas costs what its crop costs.

Artist controls: up to three style images mixed by weight (their Gram targets are blended), the style's
scale relative to the content (stroke size), keeping the content's colours (:mod:`..color`), and quality
presets that set the working size, iterations and pyramid levels.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .. import color
from .. import crop as croplib
from .. import masks as masklib
from ..convert import to_image, to_numpy, to_tensor
from ..features import NETWORKS, POOLING
from ..pyramid import fit_longest, resize, working_size
from ..instant import paths as instant
from ..stylize import stylize_tensor
from .base import InputSpec, Method, Output, Param, ParameterError, RunContext, fit_to_area, with_preset

# Working longest side, iterations (summed over the levels) and pyramid levels per quality; two thirds
# of the iterations go to the coarse level, where one costs a quarter. ``final`` has two levels: a third,
# 128 px level moved the content more than its cheap iterations gained (on coffee at the same style
# weight: content change 0.81 with three levels and 60 iterations, 0.68 with two and 50, style closer too).
# The iterations are for a 3:2 image (``pixels``); a squarer one gets fewer (base.fit_to_area). ``budget``:
# seconds after which a slower machine than planned for stops iterating (the CPU these were set on varies
# by a quarter in speed over a day).
PRESETS = {
    # instant: one pass of the trained decoder (engine/instant), no optimisation
    "instant": {"size": 512},
    "preview": {"size": 256, "iterations": 20, "pyramid_levels": 2, "pixels": 256 * 171, "budget": 8.0},
    "final": {"size": 512, "iterations": 50, "pyramid_levels": 2, "pixels": 512 * 341, "budget": 55.0},
}
STYLE_INPUTS = ("style", "style2", "style3")  # optional further styles are inputs like any other
MAX_STYLE_SIDE = 1536  # the style image's working size at most (its features cost memory like an image)

COMMON_PARAMS = (
    Param("quality", str, "final", "instant (about a second: the trained decoder, no optimisation), preview "
          "(seconds) or final; sets working size, iterations and pyramid levels unless given",
          choices=tuple(PRESETS), group="basic"),
    Param("strength", float, 1.0, "how far the style goes: 1 = fully, lower keeps more of the photo (instant: the "
          "features interpolated; preview/final: the style weight scaled)", 0.0, 1.0, group="basic"),
    Param("keep_colors", str, "off", "keep the content's colours: off, luminance (strokes and tones from the "
          "style, colours from the content) or histogram (the style recoloured to the content's colours first)",
          choices=color.KEEP_COLORS, group="basic"),
    Param("style_scale", float, 1.0, "size of the style's strokes: the style image is resized to this times "
          "the image's size before its features are taken (2 = strokes twice as large, 0.5 = finer)",
          0.25, 4.0, group="basic"),
    Param("style_blend", str, "", "weights of the style images (style, style2, style3), e.g. 0.7,0.3 "
          "(empty = equal)"),
    Param("transform", str, "wct", "instant quality: how the features take the style's (wct: covariance, "
          "adain: mean and deviation only)", choices=instant.TRANSFORMS),
    Param("size", int, 0, "working resolution: longest side in pixels (0 = preset)", 0, 4096),
    Param("iterations", int, 0, "optimisation iterations, summed over the pyramid levels (0 = preset)", 0, 10000),
    Param("pyramid_levels", int, 0, "coarse-to-fine levels (0 = preset)", 0, 6),
    Param("level_detail", bool, True, "each finer pyramid level starts with the fine detail of the starting "
          "image that the coarser level could not hold (off: the coarser result upsampled, blurred)"),
    Param("network", str, "vgg19", "feature network", choices=NETWORKS),
    Param("pool", str, "avg", "pooling in the feature network", choices=POOLING),
    Param("optimizer", str, "lbfgs", "optimiser", choices=("lbfgs", "adam")),
    Param("learning_rate", float, 0.0, "step size (0 = optimiser's default)", 0.0, 10.0),
    Param("style_weight", float, 10.0, "weight of the style (Gram) loss", 0.0, 1e12),
    Param("content_weight", float, 1.0, "weight of the content loss", 0.0, 1e12),
    Param("tv_weight", float, 10.0, "weight of the total-variation (smoothness) loss", 0.0, 1e12),
    Param("init", str, "colour", "starting image: the content recoloured to the style's colours, the content, "
          "the content half covered by noise, or the style", choices=("colour", "content", "noise", "style")),
    Param("seed", int, 0, "random seed (noise init)", 0, 2**31 - 1),
)


def resolved(params: dict) -> dict:
    p = with_preset(params, PRESETS)
    if p["size"] < 32:
        raise ParameterError(f"size must be 0 (preset) or at least 32, got {p['size']}")
    if p["quality"] != "instant":
        p["style_weight"] *= p["strength"]
    return p


def style_weights(blend: str, count: int) -> list[float]:
    """The ``style_blend`` text ("0.7,0.3") as one weight per style image, summing to 1."""
    if not blend.strip():
        return [1.0 / count] * count
    try:
        weights = [float(part) for part in blend.split(",")]
    except ValueError:
        raise ParameterError(f"style_blend must be numbers separated by commas, e.g. 0.7,0.3; got {blend!r}") \
            from None
    if len(weights) != count:
        raise ParameterError(f"style_blend has {len(weights)} weight(s) but {count} style image(s) were given")
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ParameterError(f"style_blend weights must be non-negative with a positive sum, got {blend!r}")
    return [w / sum(weights) for w in weights]


def style_images(inputs: dict, params: dict, longest: int, ctx: RunContext) -> tuple[list, list]:
    """The style images with a non-zero weight, at working size (longest side ``longest`` × style
    scale, at most MAX_STYLE_SIDE: the cost of the style's features is bounded), and their normalised
    weights."""
    arrays = [inputs[name] for name in STYLE_INPUTS if inputs.get(name) is not None]
    weights = style_weights(params["style_blend"], len(arrays))
    side = min(MAX_STYLE_SIDE, max(16, round(longest * params["style_scale"])))
    kept = [(a, w) for a, w in zip(arrays, weights) if w > 0]
    return [to_numpy(resize(to_tensor(a, ctx.device), fit_longest(a.shape[:2], side), sharp=True))
            for a, _ in kept], \
        [w for _, w in kept]


def transfer(content: np.ndarray, styles: list, weights: list, params: dict, ctx: RunContext,
             mask: np.ndarray | None = None, stage: str = "stylize", alpha: np.ndarray | None = None
             ) -> np.ndarray:
    """Style transfer of a working-size content (H×W×3) with the colour mode applied; returns the
    working-size result (before the content's colours are restored). ``alpha``: the weights the result
    will be pasted with (see stylize.StyleObjective)."""
    mode = params["keep_colors"]
    content_in = color.network_content(mode, content)
    styles_in = color.network_styles(mode, styles, content, mask)
    if params["quality"] == "instant":
        return instant.stylize(content_in, styles_in, weights, params, ctx.device, ctx.half, mask)
    dev = ctx.device
    mask_t = None if mask is None else to_tensor(mask, dev)
    alpha_t = None if alpha is None else to_tensor(alpha, dev)
    result = stylize_tensor(to_tensor(content_in, dev), [to_tensor(s, dev) for s in styles_in], weights,
                            params, ctx, mask=mask_t, stage=stage, alpha=alpha_t)
    return to_image(result)


def run_global(inputs: dict, params: dict, ctx: RunContext) -> Output:
    p = resolved(params)
    torch.manual_seed(p["seed"])
    content_np = inputs["content"]
    size = working_size(*content_np.shape[:2], p["size"])
    p = fit_to_area(params, p, PRESETS, size)
    content = to_image(resize(to_tensor(content_np, ctx.device), size, sharp=True))
    styles, weights = style_images(inputs, p, max(size), ctx)
    result = transfer(content, styles, weights, p, ctx, stage="global")
    full = to_image(resize(to_tensor(result, ctx.device), content_np.shape[:2]))
    return Output(color.restore_colors(p["keep_colors"], full, content_np))


def run_masked(inputs: dict, params: dict, ctx: RunContext) -> Output:
    p = resolved(params)
    torch.manual_seed(p["seed"])
    content_np = inputs["content"]
    mask_np = masklib.check_mask(inputs["mask"], content_np.shape[:2])
    reach = p["dilation"] + int(math.ceil(p["feather"]))
    # Only a crop around the mask is restyled: the mask's bounding box, the blend's reach and a margin for
    # the network's receptive field, at the working size.
    plan = croplib.plan_crop(mask_np, p["size"], reach, context=0.0, max_context_pixels=p["size"] ** 2,
                             exact=True)
    rows, cols = plan.region_slices()
    region_mask = mask_np[rows, cols]
    # The losses see the mask grown a little, so the object's edge is stylised too (seed 000: 2-3 px).
    loss_mask = masklib.dilate(region_mask, max(1, round(p["dilation"] / 2)))
    work_hw = plan.region_work
    p = fit_to_area(params, p, PRESETS, work_hw)
    content = to_image(croplib.crop_work(content_np, plan.region, work_hw, ctx.device))
    mask = to_numpy(resize(to_tensor(loss_mask, ctx.device), work_hw)).clip(0, 1)
    # The style spans the whole image at the crop's scale, as for global: the strokes have the same size
    # whether the whole image or a selection of it is restyled.
    styles, weights = style_images(inputs, p, round(max(content_np.shape[:2]) * plan.scale), ctx)
    region_alpha = masklib.blend_weights(region_mask, p["dilation"], p["feather"])
    work_alpha = to_numpy(resize(to_tensor(region_alpha, ctx.device), work_hw)).clip(0, 1)
    result = transfer(content, styles, weights, p, ctx, mask=mask, stage="masked", alpha=work_alpha)
    region_content = content_np[rows, cols]
    region_rgb = croplib.upsample_region(to_tensor(result, ctx.device), plan.region)
    region_rgb = color.restore_colors(p["keep_colors"], region_rgb, region_content)
    rgb, alpha = croplib.paste_back(content_np, region_rgb, region_alpha, plan.region)
    return Output(rgb, alpha)


def _inputs(*extra: InputSpec) -> tuple:
    styles = (InputSpec("style", "rgb", help="style image (e.g. the painting)"),) + tuple(
        InputSpec(name, "rgb", required=False, help=f"another style image, mixed with the first by style_blend")
        for name in STYLE_INPUTS[1:])
    return (InputSpec("content", "rgb", help="image to restyle"),) + styles + extra


GLOBAL = Method(
    name="global",
    summary="Gatys neural style transfer of the whole image",
    inputs=_inputs(),
    params=COMMON_PARAMS,
    run=run_global,
    label="Global Style Transfer",
)

MASKED = Method(
    name="masked",
    summary="style transfer inside a mask; outside the dilated, feathered mask the image is untouched",
    inputs=_inputs(InputSpec("mask", "mask", help="region to restyle")),
    params=COMMON_PARAMS + (
        Param("dilation", int, 4, "mask dilation in pixels before compositing", 0, 256),
        Param("feather", float, 4.0, "feathering radius in pixels of the composite", 0.0, 256.0),
    ),
    run=run_masked,
    label="Stylize Selection",
)

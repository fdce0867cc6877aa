"""Gatys et al. neural style transfer: ``global`` (whole image) and ``masked`` (inside a region only).

Both are built from the same parts: a VGG feature extractor, content / Gram-style / TV loss modules, the
optimisation loop and a coarse-to-fine pyramid. ``masked`` restricts the content and style statistics to
the (dilated) mask and composites the result over the original with a feathered mask.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import masks as masklib
from ..crop import to_tensor
from ..features import NETWORKS, POOLING, get_extractor, style_features
from ..losses import ContentLoss, GramStyleLoss, gram_matrix, masked_gram_matrix, total_variation
from ..optimize import ProgressCounter, optimize
from ..optimize import to_numpy_image as to_numpy
from ..pyramid import Pyramid, resize
from .base import InputSpec, Method, Output, Param, RunContext

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"

COMMON_PARAMS = (
    Param("size", int, 512, "working resolution: longest side in pixels", 32, 4096),
    Param("iterations", int, 300, "optimisation iterations (summed over pyramid levels)", 1, 10000),
    Param("network", str, "vgg19", "feature network", choices=NETWORKS),
    Param("pool", str, "avg", "pooling in the feature network", choices=POOLING),
    Param("optimizer", str, "lbfgs", "optimiser", choices=("lbfgs", "adam")),
    Param("learning_rate", float, 0.0, "step size (0 = optimiser's default)", 0.0, 10.0),
    Param("style_weight", float, 10.0, "weight of the style (Gram) loss", 0.0, 1e12),
    Param("content_weight", float, 1.0, "weight of the content loss", 0.0, 1e12),
    Param("tv_weight", float, 10.0, "weight of the total-variation (smoothness) loss", 0.0, 1e12),
    Param("init", str, "content", "starting image", choices=("content", "noise", "style")),
    Param("pyramid_levels", int, 0, "coarse-to-fine levels (0 = automatic)", 0, 6),
    Param("seed", int, 0, "random seed (noise init)", 0, 2**31 - 1),
)


def working_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """Scale so the longest side is ``longest`` (never above the original size)."""
    scale = min(1.0, longest / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def auto_levels(params: dict, size: tuple[int, int]) -> Pyramid:
    levels = params["pyramid_levels"] or (1 if max(size) <= 384 else 2 if max(size) <= 768 else 3)
    return Pyramid(levels=levels)


def initial_image(kind: str, content: torch.Tensor, style: torch.Tensor, seed: int) -> torch.Tensor:
    if kind == "content":
        return content.clone()
    if kind == "style":
        return resize(style, tuple(content.shape[-2:]))
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(content.shape, generator=generator).to(content.device)
    return 0.5 * content + 0.5 * noise


class StyleObjective:
    """Content + Gram style + TV at one working size, optionally restricted to a mask.

    Loss terms are relative (divided by the target's magnitude) so the same weights work for both
    networks' input conventions (Caffe features are ~255× larger than torchvision's).
    """

    def __init__(self, extractor, content: torch.Tensor, style: torch.Tensor, params: dict,
                 mask: torch.Tensor | None = None, content_layer: str = CONTENT_LAYER,
                 style_layers=STYLE_LAYERS):
        self.extractor, self.params, self.mask = extractor, params, mask
        self.content_layer, self.style_layers = content_layer, tuple(style_layers)
        with torch.no_grad():
            content_feats = extractor(content)
        style_feats = style_features(extractor, style)
        self.content_loss = ContentLoss(content_feats[content_layer], mask=mask)
        self.content_scale = float(content_feats[content_layer].pow(2).mean()) + 1e-8
        self.style_losses = {}
        for layer in self.style_layers:
            target = gram_matrix(style_feats[layer])
            self.style_losses[layer] = (GramStyleLoss(target, mask=mask), float(target.pow(2).mean()) + 1e-8)

    def __call__(self, image: torch.Tensor):
        feats = self.extractor(image)
        p = self.params
        content = self.content_loss(feats[self.content_layer]) / self.content_scale
        style = sum(loss(feats[layer]) / scale for layer, (loss, scale) in self.style_losses.items())
        style = style / len(self.style_losses)
        tv = total_variation(image, self.mask)
        total = p["content_weight"] * content + p["style_weight"] * style + p["tv_weight"] * tv
        return total, {"content": float(content.detach()), "style": float(style.detach()), "tv": float(tv.detach())}


def stylize_tensor(content: torch.Tensor, style: torch.Tensor, params: dict, ctx: RunContext,
                   mask: torch.Tensor | None = None, stage: str = "stylize") -> torch.Tensor:
    """Optimise at each pyramid level; ``content``/``style``/``mask`` are at the finest working size."""
    extractor = get_extractor((CONTENT_LAYER,) + STYLE_LAYERS, params["network"], params["pool"], ctx.device)
    h, w = content.shape[-2:]
    pyramid = auto_levels(params, (h, w))
    sizes = pyramid.sizes(h, w)
    iterations = pyramid.iterations(params["iterations"], len(sizes))
    counter = ProgressCounter(sum(iterations), ctx.progress, ctx.cancel, ctx.preview_every)
    style_scale = max(h, w) / max(style.shape[-2:])
    image = None
    for level, ((lh, lw), n_iter) in enumerate(zip(sizes, iterations)):
        level_content = resize(content, (lh, lw))
        s = lh / h * style_scale
        level_style = resize(style, (max(1, round(style.shape[-2] * s)), max(1, round(style.shape[-1] * s))))
        level_mask = None if mask is None else resize(mask, (lh, lw))
        objective = StyleObjective(extractor, level_content, level_style, params, mask=level_mask)
        image = initial_image(params["init"], level_content, level_style, params["seed"]) if image is None \
            else resize(image, (lh, lw))
        lr = params["learning_rate"] or None
        image = optimize(image, objective, n_iter, params["optimizer"], lr, counter,
                         stage=f"{stage} {lw}x{lh}", half=ctx.half)
    return image


def _prepare(inputs: dict, params: dict, ctx: RunContext):
    torch.manual_seed(params["seed"])
    content_np = inputs["content"]
    size = working_size(*content_np.shape[:2], params["size"])
    content = resize(to_tensor(content_np, ctx.device), size)
    style_np = inputs["style"]
    style_size = working_size(*style_np.shape[:2], max(params["size"], max(size)))
    style = resize(to_tensor(style_np, ctx.device), style_size)
    return content_np, content, style


def run_global(inputs: dict, params: dict, ctx: RunContext) -> Output:
    content_np, content, style = _prepare(inputs, params, ctx)
    result = stylize_tensor(content, style, params, ctx, stage="global")
    return Output(to_numpy(resize(result, content_np.shape[:2])))


def run_masked(inputs: dict, params: dict, ctx: RunContext) -> Output:
    content_np = inputs["content"]
    mask_np = masklib.check_mask(inputs["mask"], content_np.shape[:2])
    content_np, content, style = _prepare(inputs, params, ctx)
    h, w = content.shape[-2:]
    # The losses see the mask grown a little, so the object's edge is stylised too (seed 000: 2-3 px).
    loss_mask = masklib.dilate(mask_np, max(1, round(params["dilation"] / 2)))
    mask = resize(torch.from_numpy(loss_mask)[None, None].to(ctx.device), (h, w))
    result = stylize_tensor(content, style, params, ctx, mask=mask, stage="masked")
    full = to_numpy(resize(result, content_np.shape[:2]))
    weights = masklib.blend_weights(mask_np, params["dilation"], params["feather"])
    return Output(full, weights)


GLOBAL = Method(
    name="global",
    summary="Gatys neural style transfer of the whole image",
    inputs=(InputSpec("content", "rgb", help="image to restyle"),
            InputSpec("style", "rgb", help="style image (e.g. the painting)")),
    params=COMMON_PARAMS,
    run=run_global,
)

MASKED = Method(
    name="masked",
    summary="style transfer inside a mask; outside the dilated, feathered mask the image is untouched",
    inputs=(InputSpec("content", "rgb", help="image to restyle"),
            InputSpec("style", "rgb", help="style image (e.g. the painting)"),
            InputSpec("mask", "mask", help="region to restyle")),
    params=COMMON_PARAMS + (
        Param("dilation", int, 4, "mask dilation in pixels before compositing", 0, 256),
        Param("feather", float, 4.0, "feathering radius in pixels of the composite", 0.0, 256.0),
    ),
    run=run_masked,
)

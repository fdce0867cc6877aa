"""The Gatys optimisation on working-size tensors: content + (blended) Gram style + TV losses, optimised
coarse to fine. Used by the ``global`` and ``masked`` methods."""
from __future__ import annotations

import numpy as np
import torch

from . import color
from .convert import to_image, to_tensor
from .features import FeatureCache, get_extractor
from .losses import ContentLoss, GramStyleLoss, gram_matrix, total_variation
from .optimize import ProgressCounter
from .pyramid import Pyramid, coarse_to_fine, resize

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
# Pixels one relu5_1 feature sees in VGG19 (VGG16: 132). A pyramid level narrower than this holds no
# structure the finest level cannot fix, and its Gram statistics come mostly from the zero padding (the demo
# cup's 144×168 crop: style distance 0.133 at the old default's content change with a 72×84 coarse level,
# 0.113 without).
RECEPTIVE_FIELD = 156


def initial_image(kind: str, content: torch.Tensor, styles: list, weights: list, seed: int,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """The optimisation's starting image: the content, the content recoloured to the (blended) styles'
    colour mean and covariance ('colour': the colours are right from the start, so the iterations go to
    the strokes), the first style, or the content half covered by noise."""
    if kind == "content":
        return content.clone()
    if kind == "colour":
        target = color.mixture_stats([to_image(s) for s in styles], weights)
        where = None if mask is None or float(mask.sum()) < 1 else to_image(mask)
        return to_tensor(np.clip(color.color_map(to_image(content), target, where), 0, 1), content.device)
    if kind == "style":
        return resize(styles[0], tuple(content.shape[-2:]))
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(content.shape, generator=generator).to(content.device)
    return 0.5 * content + 0.5 * noise


# The styles' Gram matrices, cached between pyramid levels and jobs (the features themselves would be
# hundreds of MB for a large style image).
style_grams = FeatureCache(reduce=lambda feats: {name: gram_matrix(f) for name, f in feats.items()})


def blended_grams(extractor, styles: list, weights: list, layers) -> dict:
    """Per layer, Σ_i w_i · Gram(style_i): the style target of a weighted mix of styles."""
    grams = {}
    for style, weight in zip(styles, weights):
        style_gram = style_grams(extractor, style)
        for layer in layers:
            gram = weight * style_gram[layer]
            grams[layer] = gram if layer not in grams else grams[layer] + gram
    return grams


class StyleObjective:
    """Content + Gram style + TV at one working size, optionally restricted to a mask.

    ``alpha`` (weights in [0, 1]): the image is composited over the content with it before the losses, for
    a result that will be pasted over the content with the same weights. The pixels around a selection then
    stay what they will be in the output, and the object's features are optimised in their real
    surroundings (free, they were styled to help the object's Gram statistics and then discarded: on the
    demo cup, at the old default's content change, style distance 0.131 free and 0.113 composited).

    Loss terms are relative (divided by the target's magnitude) so the same weights work for both
    networks' input conventions (Caffe features are ~255× larger than torchvision's).
    """

    def __init__(self, extractor, content: torch.Tensor, styles: list, weights: list, params: dict,
                 mask: torch.Tensor | None = None, content_layer: str = CONTENT_LAYER,
                 style_layers=STYLE_LAYERS, alpha: torch.Tensor | None = None):
        self.extractor, self.params, self.mask = extractor, params, mask
        self.content, self.alpha = content, alpha
        self.content_layer, self.style_layers = content_layer, tuple(style_layers)
        with torch.no_grad():
            content_feats = extractor(content)
        self.content_loss = ContentLoss(content_feats[content_layer], mask=mask)
        self.content_scale = float(content_feats[content_layer].pow(2).mean()) + 1e-8
        self.style_losses = {layer: (GramStyleLoss(target, mask=mask), float(target.pow(2).mean()) + 1e-8)
                             for layer, target in blended_grams(extractor, styles, weights,
                                                                self.style_layers).items()}

    def __call__(self, image: torch.Tensor):
        if self.alpha is not None:  # the losses see what will be pasted: the content where alpha is 0
            image = self.alpha * image + (1 - self.alpha) * self.content
        feats = self.extractor(image)
        p = self.params
        content = self.content_loss(feats[self.content_layer]) / self.content_scale
        style = sum(loss(feats[layer]) / scale for layer, (loss, scale) in self.style_losses.items())
        style = style / len(self.style_losses)
        tv = total_variation(image, self.mask)
        total = p["content_weight"] * content + p["style_weight"] * style + p["tv_weight"] * tv
        return total, {"content": float(content.detach()), "style": float(style.detach()), "tv": float(tv.detach())}


def stylize_tensor(content: torch.Tensor, styles: list, weights: list, params: dict, ctx,
                   mask: torch.Tensor | None = None, stage: str = "stylize",
                   alpha: torch.Tensor | None = None) -> torch.Tensor:
    """Optimise coarse to fine; ``content``/``mask``/``alpha`` (:class:`StyleObjective`) are at the finest
    working size, ``styles`` at the scale that goes with it, ``weights`` their share of the Gram targets."""
    extractor = get_extractor((CONTENT_LAYER,) + STYLE_LAYERS, params["network"], params["pool"], ctx.device)
    pyramid = Pyramid(levels=params["pyramid_levels"], min_side=RECEPTIVE_FIELD)
    sizes = pyramid.sizes(*content.shape[-2:])
    iterations = pyramid.iterations(params["iterations"], len(sizes))
    counter = ProgressCounter(sum(iterations), ctx.progress, ctx.cancel, ctx.preview_every)

    def at_level(weights_map, level_content):  # a mask or alpha at the level's size
        return None if weights_map is None else resize(weights_map, tuple(level_content.shape[-2:]))

    def objective_at(level_content, level_styles):
        return StyleObjective(extractor, level_content, level_styles, weights, params,
                              mask=at_level(mask, level_content), alpha=at_level(alpha, level_content))

    def start(level_content, level_styles):
        return initial_image(params["init"], level_content, level_styles, weights, params["seed"],
                             at_level(mask, level_content))

    return coarse_to_fine(content, styles, sizes, iterations, objective_at, start, counter, stage,
                          params["optimizer"], params["learning_rate"] or None, ctx.half,
                          restore_detail=params["level_detail"], bounded=True, budget=params.get("budget"))

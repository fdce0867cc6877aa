"""``harmonize``: make an object pasted into a painting look painted (after Luan et al., "Deep Painterly
Harmonization", 2018), restricted to a crop around the object so it runs in seconds on a CPU.

1. Crop: the mask's bounding box (plus dilation/feather reach and a margin) is optimised; a larger
   painting context around it supplies the style. Both are resized to a working resolution.
2. Pass 1 (robust, coarse, at half the working size for ``final``): each network layer's features inside
   the mask are matched independently to their nearest painting feature patch; the loss is a masked
   Gram loss against the matched painting features plus a masked content loss.
3. Pass 2 (refined, from pass 1's output): one mapping at relu4_1 by 3×3 patch matching, made spatially
   consistent, carried to the shallower layers; Gram + histogram losses on the mapped features (the Gram
   targets half-way to the whole painting context's), a patch term pulling each relu3_1/relu4_1 feature
   towards its mapped painting feature, content loss, a light TV loss (a tenth of the paper's) inside
   and, on smooth paintings only, a strong one on a ring across the outline.
4. Post-process: chroma denoising guided by the luminance, optional patch re-synthesis of the fine
   texture from painting patches (off by default: its patch averaging smears brush strokes),
   upsampling and feathered blending at full resolution.

The optimised image is always seen by the network composited over the painting (through the blend
weights), so the losses judge the seam the viewer will see, not an image with a free-floating halo.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .. import color
from .. import crop as croplib
from .. import masks as masklib
from ..convert import to_image, to_numpy, to_tensor
from ..features import NETWORKS, get_extractor
from ..histogram import HistogramLoss
from ..losses import ContentLoss, gram_matrix, masked_gram_matrix, resize_mask, total_variation
from ..matching import consistency_refine, gather, nearest_patches, upsample_mapping
from ..optimize import ProgressCounter, optimize
from ..postprocess import chroma_denoise, estimate_noise, patch_resynthesis, texture_level
from ..pyramid import resize
from .base import InputSpec, Method, Output, Param, RunContext

CONTENT_LAYER = "relu4_1"
PASS1_STYLE_LAYERS = ("relu3_1", "relu4_1")            # the paper adds relu5_1: +50 % compute for little
PASS2_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
PASS2_HIST_LAYERS = ("relu1_1", "relu4_1")
MATCH_LAYER = "relu4_1"
ALL_LAYERS = PASS2_STYLE_LAYERS
# Relative loss terms (each divided by its target's magnitude) times these and the painting's style level.
STYLE_SCALE = 0.45
HIST_SCALE = 0.45
# Pass 2 also pulls each feature vector towards its mapped painting feature (a patch-based term, as in
# CNNMRF): the Gram and histogram terms match statistics only, this one makes every part of the object
# look like some part of the painting.
FEATURE_SCALE = 0.25
FEATURE_LAYERS = ("relu3_1", "relu4_1")
# Share of the pass-2 Gram targets taken from the whole painting context rather than from the mapped
# features: the mapping favours the parts of the painting that resemble the object, this keeps the
# painting's overall palette and stroke statistics in view.
GLOBAL_MIX = 0.5
# Texture level (see postprocess.texture_level) mapped to style level 1 and 10: the dph paintings span
# ~0.011 (smooth Baroque) .. ~0.09 (hatching, impasto), with an outlier at 0.18 (a pattern).
TEXTURE_RANGE = (0.012, 0.09)
# Multiplies the paper's TV weight: the optimiser's speckle is handled by chroma denoising, and a full
# TV weight washes the brush strokes out of low-noise paintings.
TV_SCALE = 0.1
# TV weight on a ring across the object's outline only: smooths the seam without washing the inside.
# Scaled like the TV weight by the painting's smoothness: on a noisy, high-contrast painting it would
# average the strokes across the outline into a pale band.
SEAM_TV = 10.0

# Per quality: working size (longest side of the painting context), iterations of each pass, the
# scale of pass 1 relative to the working size, and whether to re-synthesise texture afterwards.
# ``region_pixels`` caps the optimised area (the cost of one iteration) for very large objects.
PRESETS = {
    "preview": {"size": 224, "pass1": 20, "pass2": 12, "pass1_scale": 1.0, "resynthesis": 0.0,
                "region_pixels": 128 * 128},
    "final": {"size": 700, "pass1": 100, "pass2": 70, "pass1_scale": 0.5, "resynthesis": 0.0,
              "region_pixels": 300 * 300},
}


def auto_weights(painting: np.ndarray, strength: float) -> dict:
    """Loss weights from the painting's own statistics (replacing the paper's unreleased style
    classifier): strongly textured paintings get a stronger style pull, noisy ones less smoothing.

    ``strength`` (0..1, 0.5 = automatic) scales the style terms exponentially: 0 leaves the object as
    pasted, 1 pulls four times harder than the automatic choice.
    """
    noise = estimate_noise(painting)
    texture = texture_level(painting)
    # Map the texture level log-linearly onto the classifier's 1..10 range.
    low, high = TEXTURE_RANGE
    level = float(np.clip(1.0 + 9.0 * (math.log(max(texture, 1e-4)) - math.log(low)) /
                          (math.log(high) - math.log(low)), 1.0, 10.0))
    factor = 0.0 if strength <= 0 else 4.0 ** (2.0 * strength - 1.0)
    # The paper's tv weight 10/(1+exp(1e4·noise−25)) drops to 0 above noise ≈ 0.0025; same shape here.
    smooth = 1.0 / (1.0 + math.exp(min(50.0, 2e3 * noise - 25.0)))
    tv = TV_SCALE * 10.0 * smooth
    return {"style_level": level, "noise": noise, "texture": texture,
            "style": STYLE_SCALE * level * factor, "histogram": HIST_SCALE * level * factor, "content": 1.0, "tv": tv,
            "seam_tv": SEAM_TV * smooth,
            # quadratic in the level: on smooth paintings the patch term would replace the object's
            # own shading with whatever painting patches it matched (faces became patchworks)
            "features": FEATURE_SCALE * level * level / 10.0 * factor}


class HarmonyObjective:
    """Masked content + Gram (+ histogram) losses against mapped painting features, and TV.

    The image under optimisation is composited over the background with ``blend`` before the network
    sees it, so pixels outside the blend region cannot drift and the seam is part of the loss.
    """

    def __init__(self, extractor, content_image, background, blend, loss_mask, style_targets: dict,
                 hist_targets: dict, weights: dict, feature_targets: dict | None = None):
        self.extractor, self.background, self.blend, self.mask = extractor, background, blend, loss_mask
        self.weights = weights
        with torch.no_grad():
            content = extractor(content_image)[CONTENT_LAYER]
        self.content_loss = ContentLoss(content, mask=loss_mask)
        self.seam_ring = 4.0 * loss_mask * (1.0 - loss_mask) * blend
        self.content_scale = float(content.pow(2).mean()) + 1e-8
        self.grams = {}
        for layer, mapped in style_targets.items():
            target = masked_gram_matrix(mapped, loss_mask)
            self.grams[layer] = (target, float(target.pow(2).mean()) + 1e-8)
        self.hists = {layer: HistogramLoss(mapped, resize_mask(loss_mask, mapped.shape[-2:]) > 0.5)
                      for layer, mapped in hist_targets.items()}
        self.features = {layer: (ContentLoss(mapped, mask=loss_mask), float(mapped.pow(2).mean()) + 1e-8)
                         for layer, mapped in (feature_targets or {}).items()}

    def mix_context_grams(self, style_feats: dict, exclude, share: float):
        """Move the Gram targets ``share`` of the way to the Gram of the painting context's features
        (outside ``exclude``, the pasted object, when given)."""
        region = None if exclude is None else (1.0 - exclude).clamp(0, 1)
        for layer, (target, _) in self.grams.items():
            feats = style_feats[layer]
            context = gram_matrix(feats) if region is None else masked_gram_matrix(feats, region)
            mixed = (1.0 - share) * target + share * context
            self.grams[layer] = (mixed, float(mixed.pow(2).mean()) + 1e-8)

    def composite(self, image):
        return self.blend * image + (1.0 - self.blend) * self.background

    def __call__(self, image):
        seen = self.composite(image)
        feats = self.extractor(seen)
        w = self.weights
        content = self.content_loss(feats[CONTENT_LAYER]) / self.content_scale
        style = sum((torch.mean((masked_gram_matrix(feats[layer], self.mask) - target) ** 2) / scale
                     for layer, (target, scale) in self.grams.items()), content.new_zeros(())) \
            / max(1, len(self.grams))
        total = w["content"] * content + w["style"] * style
        terms = {"content": float(content.detach()), "style": float(style.detach())}
        if self.hists:
            hist = sum(loss(feats[layer]) for layer, loss in self.hists.items()) / len(self.hists)
            total = total + w["histogram"] * hist
            terms["histogram"] = float(hist.detach())
        if self.features and w.get("features", 0) > 0:
            feature = sum(loss(feats[layer]) / scale for layer, (loss, scale) in self.features.items()) \
                / len(self.features)
            total = total + w["features"] * feature
            terms["features"] = float(feature.detach())
        tv = total_variation(seen, self.blend)
        total = total + w["tv"] * tv
        terms["tv"] = float(tv.detach())
        if w.get("seam_tv", 0) > 0:
            total = total + w["seam_tv"] * total_variation(seen, self.seam_ring)
        return total, terms


def _layer_mask(mask: torch.Tensor, feats: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    return resize_mask(mask, feats.shape[-2:])[0, 0] > threshold


def _style_valid(exclude: torch.Tensor | None, feats: torch.Tensor):
    """Style positions allowed as matches: all, or those clear of the pasted object."""
    if exclude is None:
        return None
    valid = ~_layer_mask(exclude, feats)
    if not bool(valid.any()):
        raise masklib.MaskError("the selection covers almost the whole image: not enough painting around it "
                                "for the style; pass the clean painting as style (or select less)")
    return valid


def pass1_targets(extractor, image, style, loss_mask, exclude):
    """Independent nearest-neighbour mapping per layer (3×3 patches), the mapped painting features."""
    with torch.no_grad():
        feats, style_feats = extractor(image), extractor(style)
    targets = {}
    for layer in PASS1_STYLE_LAYERS:
        f, s = feats[layer], style_feats[layer]
        positions = _layer_mask(loss_mask, f).reshape(-1).nonzero()[:, 0]
        mapping = nearest_patches(f, s, 3, positions, _style_valid(exclude, s))
        targets[layer] = gather(s, mapping, f.shape[-2:])
    return targets


def pass2_targets(extractor, image, style_feats: dict, loss_mask, exclude):
    """One consistent mapping at relu4_1, carried to the shallower layers (``style_feats``: the
    painting context's features, encoded once per job)."""
    with torch.no_grad():
        feats = extractor(image)
    f, s = feats[MATCH_LAYER], style_feats[MATCH_LAYER]
    inside = _layer_mask(loss_mask, f)
    positions = inside.reshape(-1).nonzero()[:, 0]
    mapping = nearest_patches(f, s, 3, positions, _style_valid(exclude, s))
    mapping = consistency_refine(mapping, s, f.shape[-2:], inside)
    targets = {}
    for layer in PASS2_STYLE_LAYERS:
        lf, ls = feats[layer], style_feats[layer]
        factor = lf.shape[-1] // f.shape[-1]
        m = mapping if factor == 1 else upsample_mapping(mapping, f.shape[-2:], s.shape[-2:], factor,
                                                         lf.shape[-2:], ls.shape[-2:])
        targets[layer] = gather(ls, m, lf.shape[-2:])
    return targets


def harmonize_tensors(composite, style, loss_mask, blend, exclude, weights, ctx: RunContext, pass1_iters: int,
                      pass2_iters: int, pass1_scale: float, network: str = "vgg19",
                      save=None) -> torch.Tensor:
    """Both passes on working-resolution tensors (1×3×h×w image, 1×1×h×w masks); h, w multiples of 8."""
    extractor = get_extractor(ALL_LAYERS, network, "avg", ctx.device)
    counter = ProgressCounter(pass1_iters + pass2_iters, ctx.progress, ctx.cancel, ctx.preview_every)
    h, w = composite.shape[-2:]
    image = composite
    if pass1_iters > 0:
        ph, pw = (max(8, int(round(h * pass1_scale / 8)) * 8), max(8, int(round(w * pass1_scale / 8)) * 8))
        sh, sw = style.shape[-2:]
        s_small = resize(style, (max(8, int(round(sh * ph / h))), max(8, int(round(sw * pw / w)))))
        c_small, m_small, b_small = resize(composite, (ph, pw)), resize(loss_mask, (ph, pw)), resize(blend, (ph, pw))
        e_small = None if exclude is None else resize(exclude, s_small.shape[-2:])
        targets = pass1_targets(extractor, c_small, s_small, m_small, e_small)
        objective = HarmonyObjective(extractor, c_small, c_small, b_small, m_small, targets, {},
                                     dict(weights, histogram=0.0))
        result = optimize(c_small, objective, pass1_iters, "lbfgs", None, counter, stage=f"pass 1 {pw}x{ph}")
        result = objective.composite(result)
        if save:
            save("pass1", result)
        # Upsample only the change, so pass 2 starts from pass 1's look with the full-resolution detail.
        image = (composite + resize(result - c_small, (h, w))).clamp(0, 1) if (ph, pw) != (h, w) else result
    if pass2_iters > 0:
        with torch.no_grad():
            style_feats = extractor(style)
        style_targets = pass2_targets(extractor, image, style_feats, loss_mask, exclude)
        hist_targets = {layer: style_targets[layer] for layer in PASS2_HIST_LAYERS}
        feature_targets = {layer: style_targets[layer] for layer in FEATURE_LAYERS}
        objective = HarmonyObjective(extractor, composite, composite, blend, loss_mask, style_targets,
                                     hist_targets, weights, feature_targets)
        if GLOBAL_MIX > 0:
            objective.mix_context_grams(style_feats, exclude, GLOBAL_MIX)
        image = objective.composite(optimize(image, objective, pass2_iters, "lbfgs", None, counter,
                                             stage=f"pass 2 {w}x{h}"))
        if save:
            save("pass2", image)
    return image


def run_harmonize(inputs: dict, params: dict, ctx: RunContext) -> Output:
    composite_np = inputs["composite"]
    mask_np = masklib.check_mask(inputs["mask"], composite_np.shape[:2])
    style_np = inputs.get("style")
    if style_np is not None and style_np.shape[:2] != composite_np.shape[:2]:
        raise ValueError(f"the style painting is {style_np.shape[1]}x{style_np.shape[0]} but the composite is "
                         f"{composite_np.shape[1]}x{composite_np.shape[0]}; pass the clean painting at the same size")
    preset = PRESETS[params["quality"]]
    torch.manual_seed(params["seed"])
    size = params["size"] or preset["size"]
    pass1_iters, pass2_iters = preset["pass1"], preset["pass2"]
    if params["iterations"]:
        share = pass1_iters / (pass1_iters + pass2_iters)
        pass1_iters = max(1, int(round(params["iterations"] * share)))
        pass2_iters = max(0, params["iterations"] - pass1_iters)
    reach = params["dilation"] + int(math.ceil(params["feather"]))
    plan = croplib.plan_crop(mask_np, size, reach, context=params["context"],
                             max_region_pixels=preset["region_pixels"] if not params["size"] else None)
    dev = ctx.device

    # Full-resolution blend weights, computed on the region only (they are 0 beyond ``reach``).
    rs = plan.region_slices()
    region_mask = mask_np[rs]
    region_alpha = masklib.blend_weights(region_mask, params["dilation"], params["feather"])
    composite = croplib.crop_work(composite_np, plan.region, plan.region_work, dev)
    blend = resize(to_tensor(region_alpha, dev), plan.region_work)
    # The losses use the tight mask blurred a little (paper: Gaussian, radius 3) grown by a pixel or two.
    loss_mask_full = masklib.feather(masklib.dilate(region_mask, max(1, params["dilation"] // 2)), 3.0)
    loss_mask = resize(to_tensor(np.maximum(loss_mask_full, region_mask), dev), plan.region_work)
    # Style source: the clean painting around the object, or the composite with the object excluded.
    source = style_np if style_np is not None else composite_np
    style = croplib.crop_work(source, plan.context, plan.context_work, dev)
    exclude = None
    if style_np is None:
        grown = masklib.dilate(mask_np[plan.context_slices()], reach + 2)
        exclude = resize(to_tensor(grown, dev), plan.context_work).clamp(0, 1)

    context_painting = to_numpy(style)
    weights = auto_weights(context_painting, params["strength"])
    mode = params["keep_colors"]
    if mode != "off":  # the network sees the colour-mode's images (grey, or the painting recoloured)
        object_colors = to_image(composite)
        style = to_tensor(color.network_styles(mode, [context_painting], object_colors, to_numpy(loss_mask),
                                               match_tones=False)[0], dev)
        composite = to_tensor(color.network_content(mode, object_colors), dev)
        context_painting = to_numpy(style)

    def save(name, tensor):
        if ctx.save_passes is not None:
            ctx.save_passes(name, to_numpy(tensor.clamp(0, 1)))

    result = harmonize_tensors(composite, style, loss_mask, blend, exclude, weights, ctx, pass1_iters,
                               pass2_iters, preset["pass1_scale"], params["network"], save)
    work = to_numpy(result.clamp(0, 1))
    work = chroma_denoise(work)
    resynthesis = preset["resynthesis"] if params["resynthesis"] < 0 else params["resynthesis"]
    if resynthesis > 0:
        work_mask = to_numpy(blend) > 0.5
        valid = None if exclude is None else to_numpy(exclude) <= 0
        synth = patch_resynthesis(work, context_painting, work_mask, painting_valid=valid)
        work = (1 - resynthesis) * work + resynthesis * synth
    if ctx.save_passes is not None:
        ctx.save_passes("post", work)
    region_rgb = croplib.upsample_region(to_tensor(work), plan.region)
    keep = 1.0 if mode == "luminance" else params["color"]
    if keep > 0:  # the object's own chroma back, all of it or part
        region_rgb = color.restore_chroma(region_rgb, composite_np[rs], keep)
    rgb, alpha = croplib.paste_back(composite_np, region_rgb, region_alpha, plan.region)
    return Output(rgb, alpha)


HARMONIZE = Method(
    name="harmonize",
    summary="make an object pasted into a painting look painted (Deep Painterly Harmonization, cropped "
            "and accelerated); pixels outside the dilated, feathered mask stay untouched",
    inputs=(InputSpec("composite", "rgb", help="the painting with the object pasted in"),
            InputSpec("mask", "mask", help="the pasted object (soft or hard; selection or layer alpha)"),
            InputSpec("style", "rgb", required=False,
                      help="the clean painting, same size (default: the composite outside the mask)")),
    params=(
        Param("quality", str, "final", "preview (seconds) or final (two passes)", choices=tuple(PRESETS),
              group="basic"),
        Param("strength", float, 0.5, "how strongly the object takes the painting's style (0.5 = automatic)",
              0.0, 1.0, group="basic"),
        Param("keep_colors", str, "off", "keep the object's colours: off, luminance (painted in the painting's "
              "strokes and tones, its own hue and saturation kept) or histogram (the painting recoloured to the "
              "object's colours first)", choices=color.KEEP_COLORS, group="basic"),
        Param("color", float, 0.0, "how much of the object's own colour to keep, 0 (the painting's) .. 1 "
              "(its own; always 1 with keep_colors luminance)", 0.0, 1.0, group="basic"),
        Param("size", int, 0, "working longest side of the painting context in pixels (0 = preset)", 0, 4096),
        Param("iterations", int, 0, "optimisation iterations of both passes together (0 = preset)", 0, 10000),
        Param("seed", int, 0, "random seed", 0, 2**31 - 1),
        Param("dilation", int, 4, "mask dilation in pixels: how far beyond the object the result reaches", 0, 256),
        Param("feather", float, 4.0, "feathering radius in pixels of the blend", 0.0, 256.0),
        Param("context", float, 0.5, "painting context around the object for the style, as a fraction of its size",
              0.0, 8.0),
        Param("resynthesis", float, -1.0, "re-synthesise fine texture from painting patches, 0..1 "
              "(-1 = preset)", -1.0, 1.0),
        Param("network", str, "vgg19", "feature network", choices=NETWORKS),
    ),
    run=run_harmonize,
    base_input="composite",
)

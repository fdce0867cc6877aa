"""Deep Photo Style Transfer (Luan, Paris, Shechtman, Bala 2017): give a photo another photo's look
without painterly distortion.

Parts: VGG19 content/style losses with a Gram per segmentation label (:mod:`..segmentation`), the
photorealism regulariser λ·Σ_c V_cᵀ M V_c with M the content's matting Laplacian (:mod:`..matting`), two
stages as in the reference (stage 1 without the regulariser, coarse-to-fine; stage 2 with it at the
working size), optional closed-form matting smoothing, and local-affine upsampling to full resolution.
``mode="fast"`` (the default) replaces stage 2 by the closed-form smoothing solve; then each label's
colours are matched to the style's (``colour_match``). Quality presets set the working size, iterations,
pyramid levels and smoothing strength. With a mask, only a crop around it is worked on.

Loss scales follow the reference code (Caffe VGG19 features, content_weight 5, style_weight 100,
tv_weight 1e-3, λ 1e4 — the reference's weights are absolute, not relative to the targets).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from .. import crop as croplib
from .. import masks as masklib
from ..color import color_map
from ..convert import to_image, to_numpy, to_tensor
from ..features import POOLING, get_extractor, style_features
from ..instant import paths as instant
from ..losses import masked_gram_matrix, resize_mask
from ..matting import DEFAULT_EPS, affine_upsample, matting_laplacian, laplacian_to_torch, matting_quadratic, \
    matting_smooth
from ..optimize import ProgressCounter, optimize
from ..pyramid import Pyramid, coarse_to_fine, fit_longest, resize, working_size
from ..segmentation import LabelPair, label_pairs
from ..stylize import CONTENT_LAYER, STYLE_LAYERS  # the Gatys layers: photo's stage 1 is that loss
from .base import InputSpec, Method, Output, Param, ParameterError, RunContext, fit_to_area, with_preset

# The reference ran at the dpst examples' size (700 px longest side, ~700×467): λ = 1e4 means that balance.
REFERENCE_PIXELS = 700 * 467
NETWORK = "vgg19"   # the reference's network; the loss weights assume its Caffe-scale features

# Working longest side, stage-1 iterations (shared by the pyramid levels), its pyramid levels, the
# stage-2 iterations (mode 'optimize') and the strength of the closed-form smoothing per quality. The
# smoothing is strong: what it removes is the network's painterly texture, and the colours it flattens are
# given back by the colour match that follows it.
# The iterations are for a 3:2 image (``pixels``); a squarer one gets fewer (base.fit_to_area). ``budget``:
# seconds of stage 1 after which a slower machine than planned for stops iterating (the smoothing, colour
# match and upsampling that follow take 3-15 s more).
PRESETS = {
    # instant: per-label WCT through the trained decoder (engine/instant) in place of stage 1, at the
    # preview's size: the smoothing solve that follows costs most of the time (at 512 px, 12 s here)
    "instant": {"size": 256, "smoothness": 1000.0},
    "preview": {"size": 256, "iterations": 24, "pyramid_levels": 2, "photo_iterations": 30, "smoothness": 1000.0,
                "pixels": 256 * 171, "budget": 5.0},
    "final": {"size": 512, "iterations": 60, "pyramid_levels": 3, "photo_iterations": 100, "smoothness": 1000.0,
              "pixels": 512 * 341, "budget": 40.0},
}

PARAMS = (
    Param("quality", str, "final", "instant (about a second: per-label WCT through the trained decoder), preview "
          "(seconds) or final; sets working size, iterations and pyramid levels unless given",
          choices=tuple(PRESETS), group="basic"),
    Param("size", int, 0, "working resolution: longest side in pixels (0 = preset)", 0, 4096),
    Param("iterations", int, 0, "stage 1 iterations (no photorealism term; shared by pyramid levels; 0 = preset)",
          0, 10000),
    Param("photo_iterations", int, 0, "stage 2 iterations (with the photorealism term; mode 'optimize'; "
          "0 = preset)", 0, 10000),
    Param("photo_weight", float, 1e4, "λ, weight of the matting-Laplacian photorealism term", 0.0, 1e9),
    Param("content_weight", float, 5.0, "weight of the content loss (relu4_2)", 0.0, 1e9),
    Param("style_weight", float, 100.0, "weight of the per-label Gram style loss", 0.0, 1e9),
    Param("tv_weight", float, 1e-3, "weight of the total-variation loss", 0.0, 1e9),
    Param("mode", str, "fast", "'fast': stage 1 then a closed-form matting smoothing solve; 'optimize': two "
          "stages as in the paper (stage 2 costs minutes on a CPU)", choices=("fast", "optimize")),
    Param("smooth", bool, True, "closed-form matting smoothing of the final result (mode 'optimize'; on the "
          "dpst benchmark it removes what stage 2 leaves of painterly texture)"),
    Param("smoothness", float, 0.0, "strength of the closed-form smoothing (weight of the Laplacian; 0 = preset)",
          0.0, 1e6),
    Param("colour_match", bool, True, "after the smoothing, match each label's colour mean and covariance to the "
          "style's (the network stage and the smoothing drift the colours away from the style)"),
    Param("upsample", str, "affine", "to full size: 'affine' (local colour models applied to the full-size "
          "content) or 'bicubic'", choices=("affine", "bicubic")),
    Param("init", str, "transfer", "starting image: 'transfer' (per-label colour statistics of the style) or "
          "'content'", choices=("transfer", "content")),
    Param("pool", str, "max", "pooling in VGG19 (the reference uses max)", choices=POOLING),
    Param("pyramid_levels", int, 0, "coarse-to-fine levels of stage 1 (0 = preset)", 0, 6),
    Param("seed", int, 0, "random seed", 0, 2**31 - 1),
    Param("dilation", int, 4, "mask dilation in pixels before compositing (with a mask)", 0, 256),
    Param("feather", float, 4.0, "feathering radius in pixels of the composite (with a mask)", 0.0, 256.0),
)


def _mask_tensor(mask: np.ndarray, size_hw, device) -> torch.Tensor:
    t = to_tensor(mask, device)
    return resize_mask(t, tuple(size_hw)) if tuple(size_hw) != mask.shape else t


def colour_transfer(content: np.ndarray, style: np.ndarray, labels: list[LabelPair]) -> np.ndarray:
    """Per label, the linear map taking the content's colour mean/covariance to the style's
    (Monge–Kantorovich). The reference code starts from such a transferred image; it gives the
    optimisation the overall look at once, so far fewer iterations are needed."""
    out = np.zeros_like(content, dtype=np.float64)
    covered = np.zeros(content.shape[:2])
    for pair in labels:
        if pair.content.sum() < 4 or pair.style.sum() < 4:
            continue
        out += color_map(content, style, pair.content, pair.style) * pair.content[..., None]
        covered += pair.content
    out += content * np.clip(1.0 - covered, 0.0, 1.0)[..., None]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


class PhotoObjective:
    """Content + per-label Gram style + TV (+ λ·photorealism) at one working size."""

    def __init__(self, extractor, content: torch.Tensor, style: torch.Tensor, labels: list[LabelPair],
                 params: dict, laplacian: torch.Tensor | None = None):
        self.extractor, self.params, self.laplacian = extractor, params, laplacian
        h, w = content.shape[-2:]
        hs, ws = style.shape[-2:]
        with torch.no_grad():
            content_feats = extractor(content)
        style_feats = style_features(extractor, style)
        self.content_target = content_feats[CONTENT_LAYER]
        # Per layer and label: (content mask at the layer's size, target Gram, weight = label's share).
        # Grams follow the reference's normalisation: Σ m f fᵀ / (C · Σ m).
        self.style_terms = {}
        for layer in STYLE_LAYERS:
            s_feat = style_feats[layer]
            c_size = content_feats[layer].shape[-2:]
            terms = []
            for pair in labels:
                c_mask = resize_mask(_mask_tensor(pair.content, (h, w), content.device), c_size)
                s_mask = _mask_tensor(pair.style, (hs, ws), style.device)
                share = float(c_mask.mean())
                if share <= 0 or float(resize_mask(s_mask, s_feat.shape[-2:]).sum()) <= 0:
                    continue  # the label vanished at this size
                target = masked_gram_matrix(s_feat, s_mask) / s_feat.shape[1]
                terms.append((c_mask, target, share))
            self.style_terms[layer] = terms

    def __call__(self, image: torch.Tensor):
        p = self.params
        feats = self.extractor(image)
        content = F.mse_loss(feats[CONTENT_LAYER], self.content_target)
        style = image.new_zeros(())
        for layer, terms in self.style_terms.items():
            feat = feats[layer]
            for mask, target, share in terms:
                gram = masked_gram_matrix(feat, mask) / feat.shape[1]
                style = style + share * F.mse_loss(gram[0], target[0])
        scaled = image * 255.0  # the reference's TV acts on Caffe-range pixels
        tv = 0.5 * (((scaled[..., 1:, :] - scaled[..., :-1, :]) ** 2).sum()
                    + ((scaled[..., :, 1:] - scaled[..., :, :-1]) ** 2).sum())
        total = p["content_weight"] * content + p["style_weight"] * style + p["tv_weight"] * tv
        terms = {"content": float(content.detach()), "style": float(style.detach()), "tv": float(tv.detach())}
        if self.laplacian is not None and p["photo_weight"] > 0:
            # reference gradient λ·M·V (V in [0, 1]) ⇔ loss λ/2 · Σ_c V_cᵀ M V_c. The sum runs over pixels
            # while the other terms are means, so λ is rescaled to keep the reference's balance at any size.
            photo = matting_quadratic(image, self.laplacian)
            pixel_scale = REFERENCE_PIXELS / (image.shape[-2] * image.shape[-1])
            total = total + 0.5 * p["photo_weight"] * pixel_scale * photo
            terms["photo"] = float(photo.detach())
        return total, terms


def _labels_at(labels: list[LabelPair], content_hw, style_hw) -> list[LabelPair]:
    def at(mask, hw):
        return mask if mask.shape == tuple(hw) else to_numpy(resize(to_tensor(mask), tuple(hw))).clip(0, 1)
    return [LabelPair(p.name, at(p.content, content_hw), at(p.style, style_hw)) for p in labels]


def stylize_photo(content: torch.Tensor, style: torch.Tensor, labels: list[LabelPair], params: dict,
                  ctx: RunContext, stage1_result: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, sp.csr_matrix | None]:
    """Both stages at the working size; returns the result (1×3×H×W) and the content's Laplacian
    (scipy CSR, or None when no stage needed it). ``stage1_result`` skips stage 1 (to compare variants
    from one stage-1 run). The style is brought to the content's longest side first."""
    extractor = get_extractor((CONTENT_LAYER,) + STYLE_LAYERS, NETWORK, params["pool"], ctx.device)
    h, w = content.shape[-2:]
    style = resize(style, fit_longest(style.shape[-2:], max(h, w)))
    pyramid = Pyramid(levels=params["pyramid_levels"])
    sizes = pyramid.sizes(h, w)
    stage1 = pyramid.iterations(params["iterations"], len(sizes)) if stage1_result is None else []
    stage2 = params["photo_iterations"] if params["mode"] == "optimize" else 0
    counter = ProgressCounter(sum(stage1) + stage2, ctx.progress, ctx.cancel, ctx.preview_every)

    def objective_at(level_content, level_styles):
        return PhotoObjective(extractor, level_content, level_styles[0], labels, params)

    def start(level_content, level_styles):
        if params["init"] != "transfer":
            return level_content.clone()
        level_labels = _labels_at(labels, level_content.shape[-2:], level_styles[0].shape[-2:])
        return to_tensor(colour_transfer(to_image(level_content), to_image(level_styles[0]), level_labels),
                         ctx.device)

    image = stage1_result.contiguous() if stage1_result is not None else \
        coarse_to_fine(content, [style], sizes, stage1, objective_at, start, counter, "photo stage 1",
                       budget=params.get("budget"))
    laplacian = None
    if stage2 > 0 or params["smooth"] or params["mode"] == "fast":
        laplacian = matting_laplacian(to_image(content), DEFAULT_EPS)
    if stage2 > 0:
        objective = PhotoObjective(extractor, content, style, labels, params,
                                   laplacian=laplacian_to_torch(laplacian, ctx.device))
        image = optimize(image, objective, stage2, "lbfgs", None, counter, stage=f"photo stage 2 {w}x{h}")
    return image, laplacian


def _crop(array: np.ndarray, box, full_hw) -> np.ndarray:
    """``box`` of the full-resolution image, of an array at (about) that size (label maps may be off by
    a row)."""
    sy, sx = array.shape[0] / full_hw[0], array.shape[1] / full_hw[1]
    return array[round(box[0] * sy):max(round(box[2] * sy), round(box[0] * sy) + 1),
                 round(box[1] * sx):max(round(box[3] * sx), round(box[1] * sx) + 1)]


def _selection(mask_np: np.ndarray, box, params: dict, size, style_size, same_photo: bool):
    """For a selection: the loss weights at working size, the style pixels allowed (all, or those
    around the selection when the style is the photo itself) and the region's blend weights."""
    region_mask = _crop(mask_np, box, mask_np.shape)
    # Only the (slightly grown) selection takes the style's look; the losses see it at working size.
    loss_mask = masklib.dilate(region_mask, max(1, round(params["dilation"] / 2)))
    small = to_numpy(resize(to_tensor(loss_mask), size)).clip(0, 1)
    style_keep = None
    if same_photo:
        # Harmonizing a selection with its own photo: the look comes from around the selection only.
        grown = np.zeros(mask_np.shape, np.float32)
        grown[box[0]:box[2], box[1]:box[3]] = masklib.dilate(region_mask, params["dilation"] + 2)
        style_keep = 1.0 - to_numpy(resize(to_tensor(grown), style_size)).clip(0, 1)
        if style_keep.sum() < 16:
            raise ParameterError("the selection covers the whole photo: nothing is left to take the look from")
    return small, style_keep, masklib.blend_weights(region_mask, params["dilation"], params["feather"])


def run_photo(inputs: dict, params: dict, ctx: RunContext) -> Output:
    p = with_preset(params, PRESETS)
    torch.manual_seed(p["seed"])
    content_np, style_np, mask_np = inputs["content"], inputs["style"], inputs.get("mask")
    full_hw = content_np.shape[:2]
    box = (0, 0) + full_hw
    if mask_np is not None:
        # A selection: only a crop around it (blend reach and a margin included) is worked on.
        mask_np = masklib.check_mask(mask_np, full_hw)
        reach = p["dilation"] + int(math.ceil(p["feather"]))
        box = croplib.plan_crop(mask_np, p["size"], reach, context=0.0, max_context_pixels=p["size"] ** 2).region
    region = content_np[box[0]:box[2], box[1]:box[3]]
    size = working_size(*region.shape[:2], p["size"])
    p = fit_to_area(params, p, PRESETS, size, ("iterations", "photo_iterations"))
    style_size = fit_longest(style_np.shape[:2], max(size))
    content = resize(to_tensor(region, ctx.device), size)
    style = resize(to_tensor(style_np, ctx.device), style_size)
    content_seg = inputs.get("content_seg")
    try:
        labels = label_pairs(None if content_seg is None else _crop(content_seg, box, full_hw),
                             inputs.get("style_seg"), size, style_size)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    if mask_np is not None:
        same_photo = style_np is content_np or (style_np.shape == content_np.shape and
                                                np.array_equal(style_np, content_np))
        small, style_keep, weights = _selection(mask_np, box, p, size, style_size, same_photo)
        labels = [LabelPair(q.name, q.content * small, q.style if style_keep is None else q.style * style_keep)
                  for q in labels]

    if p["quality"] == "instant":
        result = instant.photo(content, style, labels, ctx.device, ctx.half)
        laplacian = matting_laplacian(to_image(content), DEFAULT_EPS)
    else:
        result, laplacian = stylize_photo(content, style, labels, p, ctx)
    result_np = to_image(result)
    if p["mode"] == "fast" or p["smooth"]:
        result_np = matting_smooth(result_np, laplacian=laplacian, smoothness=p["smoothness"])
    if p["colour_match"]:
        # A global linear map per label: it moves the colours, not the edges the smoothing made photographic.
        result_np = colour_transfer(result_np, to_image(style), labels)
    if p["upsample"] == "affine":
        full = affine_upsample(to_image(content), result_np, region)
    else:
        full = to_image(resize(to_tensor(result_np, ctx.device), region.shape[:2]))
    if mask_np is None:
        return Output(full)
    full = np.where(weights[..., None] > 0, full, region).astype(np.float32)
    rgb, alpha = croplib.paste_back(content_np, full, weights, box)
    return Output(rgb, alpha)


INPUTS = (
    InputSpec("content", "rgb", help="photo to recolour"),
    InputSpec("style", "rgb", help="reference photo whose look to take"),
    InputSpec("content_seg", "rgb", required=False, help="colour-coded label map of the content", region="base"),
    InputSpec("style_seg", "rgb", required=False, help="colour-coded label map of the style"),
    InputSpec("mask", "mask", required=False, help="restyle only this region (harmonize a selection)"),
)

PHOTO = Method(
    name="photo",
    summary="photorealistic style transfer (Deep Photo Style Transfer): another photo's look, no painterly "
            "distortion",
    inputs=INPUTS,
    params=PARAMS,
    run=run_photo,
    label="Photo Style Transfer",
)

"""Deep Photo Style Transfer (Luan, Paris, Shechtman, Bala 2017): give a photo another photo's look
without painterly distortion.

Parts: VGG19 content/style losses with a Gram per segmentation label (:mod:`..segmentation`), the
photorealism regulariser λ·Σ_c V_cᵀ M V_c with M the content's matting Laplacian (:mod:`..matting`), two
stages as in the reference (stage 1 without the regulariser, coarse-to-fine; stage 2 with it at the
working size), optional closed-form matting smoothing, and local-affine upsampling to full resolution.
``mode="fast"`` replaces stage 2 by the closed-form smoothing solve.

Loss scales follow the reference code (Caffe VGG19 features, content_weight 5, style_weight 100,
tv_weight 1e-3, λ 1e4 — the reference's weights are absolute, not relative to the targets).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from .. import masks as masklib
from ..features import POOLING, get_extractor, style_features
from ..losses import masked_gram_matrix, resize_mask
from ..matting import DEFAULT_EPS, affine_upsample, matting_laplacian, laplacian_to_torch, matting_quadratic, \
    matting_smooth
from ..optimize import ProgressCounter, optimize
from ..pyramid import Pyramid, resize
from ..segmentation import LabelPair, label_pairs
from .base import InputSpec, Method, Output, Param, ParameterError, RunContext
from .gatys import to_numpy, to_tensor, working_size

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# The reference ran at the dpst examples' size (700 px longest side, ~700×467): λ = 1e4 means that balance.
REFERENCE_PIXELS = 700 * 467
NETWORK = "vgg19"   # the reference's network; the loss weights assume its Caffe-scale features

PARAMS = (
    Param("size", int, 512, "working resolution: longest side in pixels", 32, 4096),
    Param("iterations", int, 300, "stage 1 iterations (no photorealism term; shared by pyramid levels)", 1, 10000),
    Param("photo_iterations", int, 300, "stage 2 iterations (with the photorealism term; mode 'optimize')",
          0, 10000),
    Param("photo_weight", float, 1e4, "λ, weight of the matting-Laplacian photorealism term", 0.0, 1e9),
    Param("content_weight", float, 5.0, "weight of the content loss (relu4_2)", 0.0, 1e9),
    Param("style_weight", float, 100.0, "weight of the per-label Gram style loss", 0.0, 1e9),
    Param("tv_weight", float, 1e-3, "weight of the total-variation loss", 0.0, 1e9),
    Param("mode", str, "optimize", "'optimize': two stages as in the paper; 'fast': stage 1 then a "
          "closed-form matting smoothing solve", choices=("optimize", "fast")),
    Param("smooth", bool, True, "closed-form matting smoothing of the final result (mode 'optimize'; on the "
          "dpst benchmark it removes what stage 2 leaves of painterly texture)"),
    Param("smoothness", float, 100.0, "strength of the closed-form smoothing (weight of the Laplacian)", 0.0, 1e6),
    Param("upsample", str, "affine", "to full size: 'affine' (local colour models applied to the full-size "
          "content) or 'bicubic'", choices=("affine", "bicubic")),
    Param("init", str, "transfer", "starting image: 'transfer' (per-label colour statistics of the style) or "
          "'content'", choices=("transfer", "content")),
    Param("pool", str, "max", "pooling in VGG19 (the reference uses max)", choices=POOLING),
    Param("pyramid_levels", int, 0, "coarse-to-fine levels of stage 1 (0 = automatic)", 0, 6),
    Param("seed", int, 0, "random seed", 0, 2**31 - 1),
    Param("dilation", int, 4, "mask dilation in pixels before compositing (with a mask)", 0, 256),
    Param("feather", float, 4.0, "feathering radius in pixels of the composite (with a mask)", 0.0, 256.0),
)


def _mask_tensor(mask: np.ndarray, size_hw, device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None].to(device)
    return resize_mask(t, tuple(size_hw)) if tuple(size_hw) != mask.shape else t


def _sqrt_spd(m: np.ndarray, inverse: bool = False) -> np.ndarray:
    values, vectors = np.linalg.eigh(m)
    values = np.clip(values, 1e-8, None) ** (-0.5 if inverse else 0.5)
    return (vectors * values) @ vectors.T


def colour_transfer(content: np.ndarray, style: np.ndarray, labels: list[LabelPair]) -> np.ndarray:
    """Per label, the linear map taking the content's colour mean/covariance to the style's
    (Monge–Kantorovich). The reference code starts from such a transferred image; it gives the
    optimisation the overall look at once, so far fewer iterations are needed."""
    out = np.zeros_like(content, dtype=np.float64)
    covered = np.zeros(content.shape[:2])
    for pair in labels:
        c_w, s_w = pair.content, pair.style
        if c_w.sum() < 4 or s_w.sum() < 4:
            continue
        c_px, s_px = content.reshape(-1, 3), style.reshape(-1, 3)
        cw, sw = c_w.reshape(-1), s_w.reshape(-1)
        c_mean = (c_px * cw[:, None]).sum(0) / cw.sum()
        s_mean = (s_px * sw[:, None]).sum(0) / sw.sum()
        c_cov = ((c_px - c_mean) * cw[:, None]).T @ (c_px - c_mean) / cw.sum() + 1e-5 * np.eye(3)
        s_cov = ((s_px - s_mean) * sw[:, None]).T @ (s_px - s_mean) / sw.sum() + 1e-5 * np.eye(3)
        c_half, c_inv_half = _sqrt_spd(c_cov), _sqrt_spd(c_cov, inverse=True)
        transform = c_inv_half @ _sqrt_spd(c_half @ s_cov @ c_half) @ c_inv_half
        mapped = (content.reshape(-1, 3) - c_mean) @ transform.T + s_mean
        out += mapped.reshape(content.shape) * c_w[..., None]
        covered += c_w
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
        return mask if mask.shape == tuple(hw) else \
            resize(torch.from_numpy(mask)[None, None], tuple(hw))[0, 0].clamp(0, 1).numpy()
    return [LabelPair(p.name, at(p.content, content_hw), at(p.style, style_hw)) for p in labels]


def stylize_photo(content: torch.Tensor, style: torch.Tensor, labels: list[LabelPair], params: dict,
                  ctx: RunContext, stage1_result: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, sp.csr_matrix | None]:
    """Both stages at the working size; returns the result (1×3×H×W) and the content's Laplacian
    (scipy CSR, or None when no stage needed it). ``stage1_result`` skips stage 1 (to compare variants
    from one stage-1 run)."""
    extractor = get_extractor((CONTENT_LAYER,) + STYLE_LAYERS, NETWORK, params["pool"], ctx.device)
    h, w = content.shape[-2:]
    levels = params["pyramid_levels"] or (1 if max(h, w) <= 256 else 2 if max(h, w) <= 768 else 3)
    pyramid = Pyramid(levels=levels)
    sizes = pyramid.sizes(h, w)
    stage1 = pyramid.iterations(params["iterations"], len(sizes)) if stage1_result is None else []
    stage2 = params["photo_iterations"] if params["mode"] == "optimize" else 0
    counter = ProgressCounter(sum(stage1) + stage2, ctx.progress, ctx.cancel, ctx.preview_every)
    style_scale = max(h, w) / max(style.shape[-2:])
    image = None if stage1_result is None else stage1_result.contiguous()
    for (lh, lw), n_iter in zip(sizes, stage1):
        level_content = resize(content, (lh, lw))
        s = lh / h * style_scale
        level_style = resize(style, (max(1, round(style.shape[-2] * s)), max(1, round(style.shape[-1] * s))))
        objective = PhotoObjective(extractor, level_content, level_style, labels, params)
        if image is None:
            image = level_content.contiguous().clone()
            if params["init"] == "transfer":
                image = to_tensor(colour_transfer(to_numpy(level_content), to_numpy(level_style),
                                                  _labels_at(labels, (lh, lw), level_style.shape[-2:])),
                                  ctx.device).contiguous()
        else:
            image = resize(image, (lh, lw))
        image = optimize(image, objective, n_iter, "lbfgs", None, counter, stage=f"photo stage 1 {lw}x{lh}")
    laplacian = None
    needs_laplacian = stage2 > 0 or params["smooth"] or params["mode"] == "fast"
    if needs_laplacian:
        laplacian = matting_laplacian(to_numpy(content), DEFAULT_EPS)
    if stage2 > 0:
        style_level = resize(style, (max(1, round(style.shape[-2] * style_scale)),
                                     max(1, round(style.shape[-1] * style_scale))))
        objective = PhotoObjective(extractor, content, style_level, labels, params,
                                   laplacian=laplacian_to_torch(laplacian, ctx.device))
        image = optimize(image, objective, stage2, "lbfgs", None, counter, stage=f"photo stage 2 {w}x{h}")
    return image, laplacian


def run_photo(inputs: dict, params: dict, ctx: RunContext) -> Output:
    torch.manual_seed(params["seed"])
    content_np, style_np = inputs["content"], inputs["style"]
    size = working_size(*content_np.shape[:2], params["size"])
    style_size = working_size(*style_np.shape[:2], max(params["size"], max(size)))
    content = resize(to_tensor(content_np, ctx.device), size)
    style = resize(to_tensor(style_np, ctx.device), style_size)

    mask_np = inputs.get("mask")
    weights = None
    try:
        labels = label_pairs(inputs.get("content_seg"), inputs.get("style_seg"), size, style_size)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    if mask_np is not None:
        mask_np = masklib.check_mask(mask_np, content_np.shape[:2])
        # Only the (slightly grown) selection takes the style's look; the losses see it at working size.
        loss_mask = masklib.dilate(mask_np, max(1, round(params["dilation"] / 2)))
        small = resize(torch.from_numpy(loss_mask)[None, None], size)[0, 0].clamp(0, 1).numpy()
        style_keep = np.ones(style_size, np.float32)
        if style_np.shape == content_np.shape and np.array_equal(style_np, content_np):
            # Harmonizing a selection with its own photo: the look comes from around the selection only.
            grown = masklib.dilate(mask_np, params["dilation"] + 2)
            style_keep = 1.0 - resize(torch.from_numpy(grown)[None, None], style_size)[0, 0].clamp(0, 1).numpy()
            if style_keep.sum() < 16:
                raise ParameterError("the selection covers the whole photo: nothing is left to take the look from")
        labels = [LabelPair(p.name, p.content * small, p.style * style_keep) for p in labels]
        weights = masklib.blend_weights(mask_np, params["dilation"], params["feather"])

    result, laplacian = stylize_photo(content, style, labels, params, ctx)
    result_np = to_numpy(result)
    if params["mode"] == "fast" or params["smooth"]:
        result_np = matting_smooth(result_np, laplacian=laplacian, smoothness=params["smoothness"])
    if params["upsample"] == "affine":
        full = affine_upsample(to_numpy(content), result_np, content_np)
    else:
        full = to_numpy(resize(to_tensor(result_np, ctx.device), content_np.shape[:2]))
    if weights is not None:
        full = np.where(weights[..., None] > 0, full, content_np).astype(np.float32)
    return Output(full, weights)


PHOTO = Method(
    name="photo",
    summary="photorealistic style transfer (Deep Photo Style Transfer): another photo's look, no painterly "
            "distortion",
    inputs=(InputSpec("content", "rgb", help="photo to recolour"),
            InputSpec("style", "rgb", help="reference photo whose look to take"),
            InputSpec("content_seg", "rgb", required=False, help="colour-coded label map of the content"),
            InputSpec("style_seg", "rgb", required=False, help="colour-coded label map of the style"),
            InputSpec("mask", "mask", required=False, help="restyle only this region (harmonize a selection)")),
    params=PARAMS,
    run=run_photo,
)

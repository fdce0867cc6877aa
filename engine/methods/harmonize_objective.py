"""harmonize's objective: what the optimised object is pulled towards, and how hard.

- content: the object's own relu4_1 features (masked);
- style: Gram matrices, feature histograms and the mapped painting features themselves (a patch term)
  of the object's features mapped onto the painting's (harmonize_targets);
- shape: the object's coarse shape and value pattern, the correlation of its strongly blurred luminance
  with the pasted object's and that luminance's spread (its contrast), each held above a level set by
  the strength (hinges: nothing happens while the style terms leave the shape alone, and a dissolving
  object is held at that level);
- anchor (refinement stages only): the low frequencies of an earlier, lower-resolution result, so a
  refinement adds detail to the draft instead of changing its decisions;
- smoothness: a light total variation inside, a stronger one on a ring across the outline on smooth
  paintings.

The image under optimisation is composited over the background with ``blend`` before the network sees
it, so pixels outside the blend region cannot drift and the seam is part of the loss. Each network
layer's terms are evaluated together with their analytic gradients (engine/layer_loss.py).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..layer_loss import LayerLoss
from ..losses import gram_matrix, masked_gram_matrix, resize_mask, total_variation
from ..postprocess import estimate_noise, texture_level
from .harmonize_targets import PASS2_STYLE_LAYERS, luminance

CONTENT_LAYER = "relu4_1"
ALL_LAYERS = PASS2_STYLE_LAYERS
PASS2_HIST_LAYERS = ("relu1_1", "relu4_1")
FEATURE_LAYERS = ("relu3_1", "relu4_1")
# Relative loss terms (each divided by its target's magnitude) times these and the painting's style level.
STYLE_SCALE = 0.45
HIST_SCALE = 0.45
# The patch term: pulls each feature vector towards its mapped painting feature (as in CNNMRF); the Gram
# and histogram terms match statistics only, this one makes every part of the object look like some
# part of the painting.
FEATURE_SCALE = 0.25
# Share of the pass-2 Gram targets taken from the painting context's own features rather than from the
# mapped ones. The mapping favours the parts of the painting that resemble the object (dark patches for a
# dark object, eyes for dark lenses), so a Gram of the mapped features carries the object's own statistics
# back into its target; the mapping already steers each part of the object through the histogram and patch
# terms, and the Gram term asks for the painting's strokes and palette as a whole. Measured on the
# harmony bench at equal iterations, all context (1.0) against half-way (0.5): global style distance
# lower on every example tried (median −11 %), local style and shape unchanged.
GLOBAL_MIX = 1.0
# Texture level (see postprocess.texture_level) mapped to style level 1 and 10: paintings span ~0.011
# (smooth Baroque) .. ~0.09 (hatching, impasto).
TEXTURE_RANGE = (0.012, 0.09)
# Multiplies the paper's TV weight: the optimiser's speckle is handled by chroma denoising, and a full
# TV weight washes the brush strokes out of low-noise paintings.
TV_SCALE = 0.1
# TV weight on a ring across the object's outline only, scaled like the TV weight by the painting's
# smoothness (on a noisy, high-contrast painting it would average the strokes into a pale band).
SEAM_TV = 10.0
# Shape: at each (divisor, give) the blur is 1/divisor of the object's size (square root of its area) and
# the correlation is held above 1 − give·SHAPE_GIVE·strength² (0.95 at the default strength and 0.8 at
# full strength for give 1).
SHAPE_SCALES = ((16.0, 1.0),)
SHAPE_GIVE = 0.2
# Contrast: the coarse luminance's spread (same blur and region) is held above
# 1 − CONTRAST_GIVE·strength² of the pasted object's (0.9 at the default strength, 0.6 at full strength):
# a correlation alone is blind to an object fading into a ghost of itself, its pattern kept but its
# values pulled to the painting's around it.
CONTRAST_GIVE = 0.4
SHAPE_WEIGHT = 200.0
# Anchor of a refinement to its draft: mean squared colour difference of the low frequencies, divided by
# this variance (0.1 apart on average costs ANCHOR_WEIGHT).
ANCHOR_WEIGHT = 1.0
ANCHOR_VARIANCE = 0.01


def style_factor(strength: float) -> float:
    """The style terms' multiplier: 0 at strength 0, 1 at 0.5 (automatic), 4 at 1; continuous and
    increasing (quadratic up to 0.5, exponential above)."""
    if strength <= 0.5:
        return (2.0 * max(strength, 0.0)) ** 2
    return 4.0 ** (2.0 * strength - 1.0)


def shape_level(strength: float, give: float = 1.0) -> float:
    """Correlation of the coarse luminance with the pasted object's that the result keeps at least."""
    return 1.0 - give * SHAPE_GIVE * float(np.clip(strength, 0.0, 1.0)) ** 2


def auto_weights(painting: np.ndarray, strength: float) -> dict:
    """Loss weights from the painting's own statistics (replacing the paper's unreleased style
    classifier): strongly textured paintings get a stronger style pull, noisy ones less smoothing.

    ``strength`` (0..1, 0.5 = automatic) scales the style terms (0 leaves the object as pasted, 1 pulls
    four times harder than the automatic choice) and lowers the shape level only towards its top end:
    texture first, shape last.
    """
    noise = estimate_noise(painting)
    texture = texture_level(painting)
    low, high = TEXTURE_RANGE
    level = float(np.clip(1.0 + 9.0 * (math.log(max(texture, 1e-4)) - math.log(low)) /
                          (math.log(high) - math.log(low)), 1.0, 10.0))
    factor = style_factor(strength)
    # The paper's tv weight 10/(1+exp(1e4·noise−25)) drops to 0 above noise ≈ 0.0025; same shape here.
    smooth = 1.0 / (1.0 + math.exp(min(50.0, 2e3 * noise - 25.0)))
    return {"style_level": level, "noise": noise, "texture": texture,
            "style": STYLE_SCALE * level * factor, "histogram": HIST_SCALE * level * factor, "content": 1.0,
            "tv": TV_SCALE * 10.0 * smooth, "seam_tv": SEAM_TV * smooth,
            # quadratic in the level: on smooth paintings the patch term would replace the object's
            # own shading with whatever painting patches it matched (faces became patchworks)
            "features": FEATURE_SCALE * level * level / 10.0 * factor,
            "shape": SHAPE_WEIGHT if factor > 0 else 0.0,
            "shape_levels": [(divisor, shape_level(strength, give)) for divisor, give in SHAPE_SCALES],
            "contrast_level": 1.0 - CONTRAST_GIVE * float(np.clip(strength, 0.0, 1.0)) ** 2,
            "anchor": ANCHOR_WEIGHT}


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of an N×C×H×W tensor (edges replicated)."""
    radius = max(1, int(math.ceil(3.0 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = image.shape[1]
    out = F.pad(image, (radius, radius, 0, 0), mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def object_size(mask: np.ndarray) -> float:
    """The object's size in the mask's pixels: the square root of its area."""
    return float(np.sqrt((mask > 0.5).sum()))


class ShapeTerm:
    """Correlation, over the object and a band of two blur radii around it, of the blurred luminance of
    the image and of ``reference`` (the pasted object); the loss is ``weight·max(0, level − corr)²``
    plus ``weight·max(0, contrast − spread ratio)²`` (the blurred luminance's spread relative to the
    reference's)."""

    def __init__(self, reference: torch.Tensor, mask: torch.Tensor, sigma: float, level: float, weight: float,
                 contrast: float = 0.0):
        self.sigma, self.level, self.weight, self.contrast = sigma, level, weight, contrast
        inside = mask[0, 0].detach().cpu().numpy() > 0.5
        if not inside.any():
            inside = mask[0, 0].detach().cpu().numpy() > 0
        region = ndimage.distance_transform_edt(~inside) <= 2.0 * sigma
        self.region = torch.from_numpy(region).to(reference.device)
        with torch.no_grad():
            ref = gaussian_blur(luminance(reference), sigma)[0, 0][self.region]
            ref = ref - ref.mean()
            self.spread = ref.norm().clamp_min(1e-8)
            self.reference = ref / self.spread

    def correlation(self, image: torch.Tensor):
        """(correlation, spread ratio) of the image's coarse luminance with the reference's."""
        y = gaussian_blur(luminance(image), self.sigma)[0, 0][self.region]
        y = y - y.mean()
        norm = y.norm().clamp_min(1e-8)
        return (y * self.reference).sum() / norm, norm / self.spread

    def __call__(self, image: torch.Tensor):
        corr, ratio = self.correlation(image)
        loss = torch.relu(self.level - corr) ** 2 + torch.relu(self.contrast - ratio) ** 2
        return self.weight * loss, corr


class AnchorTerm:
    """Mean squared difference of the low frequencies (Gaussian ``sigma``) of the image and of ``target``
    over ``region`` weights, relative to ANCHOR_VARIANCE."""

    def __init__(self, target: torch.Tensor, region: torch.Tensor, sigma: float, weight: float):
        self.sigma, self.weight, self.region = sigma, weight, region
        self.norm = float(region.sum().clamp_min(1e-8)) * target.shape[1] * ANCHOR_VARIANCE
        with torch.no_grad():
            self.target = gaussian_blur(target, sigma)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        diff = gaussian_blur(image, self.sigma) - self.target
        return self.weight * (diff.pow(2) * self.region).sum() / self.norm


class HarmonyObjective:
    """Masked content + Gram + histogram + patch losses against mapped painting features, shape, anchor
    and TV terms, on the image composited over the background."""

    def __init__(self, extractor, content_image, background, blend, loss_mask, style_targets: dict,
                 hist_targets: dict, weights: dict, feature_targets: dict | None = None,
                 shape: list | None = None, anchor: AnchorTerm | None = None):
        self.extractor, self.background, self.blend, self.mask = extractor, background, blend, loss_mask
        self.weights, self.shape, self.anchor = weights, shape or [], anchor
        with torch.no_grad():
            feats = extractor(content_image)
        self.content, self.shapes = feats[CONTENT_LAYER], {layer: f.shape for layer, f in feats.items()}
        self.seam_ring = 4.0 * loss_mask * (1.0 - loss_mask) * blend
        self.content_scale = float(self.content.pow(2).mean()) + 1e-8
        self.grams = {}
        for layer, mapped in style_targets.items():
            target = masked_gram_matrix(mapped, loss_mask)
            self.grams[layer] = (target, float(target.pow(2).mean()) + 1e-8)
        self.hists = {}
        for layer, mapped in hist_targets.items():
            positions = (resize_mask(loss_mask, mapped.shape[-2:]) > 0.5).reshape(-1).nonzero()[:, 0]
            if positions.numel():
                self.hists[layer] = (mapped.reshape(mapped.shape[1], -1)[:, positions], positions)
        self.features = {layer: (mapped, float(mapped.pow(2).mean()) + 1e-8)
                         for layer, mapped in (feature_targets or {}).items()}
        self._layers = None

    def mix_context_grams(self, style_feats: dict, exclude, share: float):
        """Move the Gram targets ``share`` of the way to the Gram of the painting context's features
        (outside ``exclude``, the pasted object, when given)."""
        region = None if exclude is None else (1.0 - exclude).clamp(0, 1)
        for layer, (target, _) in self.grams.items():
            feats = style_feats[layer]
            context = gram_matrix(feats) if region is None else masked_gram_matrix(feats, region)
            mixed = (1.0 - share) * target + share * context
            self.grams[layer] = (mixed, float(mixed.pow(2).mean()) + 1e-8)
        self._layers = None

    def layer_losses(self) -> dict:
        """Each layer's weighted terms (built once the targets are final)."""
        if self._layers is None:
            w, layers = self.weights, {}

            def on(layer):
                return layers.setdefault(layer, LayerLoss(self.shapes[layer]))
            on(CONTENT_LAYER).mse("content", w["content"], self.content, self.mask, self.content_scale)
            for layer, (target, _) in self.grams.items():
                on(layer).gram("style", w["style"] / len(self.grams), target, self.mask)
            for layer, (target, positions) in self.hists.items():
                on(layer).histogram("histogram", w.get("histogram", 0.0) / len(self.hists), target, positions)
            if w.get("features", 0) > 0:
                for layer, (mapped, scale) in self.features.items():
                    on(layer).mse("features", w["features"] / len(self.features), mapped, self.mask, scale)
            self._layers = layers
        return self._layers

    def composite(self, image):
        return self.blend * image + (1.0 - self.blend) * self.background

    def __call__(self, image):
        seen = self.composite(image)
        feats = self.extractor(seen)
        total = seen.new_zeros(())
        terms: dict = {}
        counts: dict = {}
        for layer, loss in self.layer_losses().items():
            total = total + loss(feats[layer])
            for name, value in loss.values.items():
                terms[name] = terms.get(name, 0.0) + value
                counts[name] = counts.get(name, 0) + 1
        terms = {name: value / counts[name] for name, value in terms.items()}
        w = self.weights
        tv = total_variation(seen, self.blend)
        total = total + w["tv"] * tv
        terms["tv"] = float(tv.detach())
        if w.get("seam_tv", 0) > 0:
            total = total + w["seam_tv"] * total_variation(seen, self.seam_ring)
        for index, term in enumerate(self.shape):
            if term.weight > 0:
                loss, corr = term(seen)
                total = total + loss
                terms["shape" if index == 0 else f"shape{index + 1}"] = float(corr.detach())
        if self.anchor is not None and self.anchor.weight > 0:
            anchor = self.anchor(seen)
            total = total + anchor
            terms["anchor"] = float(anchor.detach()) / self.anchor.weight
        return total, terms

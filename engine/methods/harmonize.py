"""``harmonize``: make an object pasted into a painting look painted (after Luan et al., "Deep Painterly
Harmonization", 2018), restricted to a crop around the object and sized to a time budget.

1. Crop: the mask's bounding box (plus dilation/feather reach and a margin) is optimised; a larger
   painting context around it supplies the style.
2. Plan (harmonize_budget): the working resolutions and iterations that fit the time budget at this
   machine's measured speed.
3. Draft, at a low resolution (the whole of ``preview``):
   - pass 1: each layer's features inside the mask are matched independently to their nearest painting
     feature patch; masked Gram loss against the matched features, content and shape terms;
   - pass 2: one consistent relu4_1 mapping carried to the shallower layers; Gram (the painting context's),
     histogram and patch (the mapped features), content, shape and TV terms (harmonize_objective).
4. Refinement (``final``), at the highest resolution the budget allows: pass 2 again, from the draft's
   result upsampled, with an anchor on the draft's low frequencies, so the final is the preview with
   the detail of the higher resolution.
5. Post-process: chroma denoising guided by the luminance, optional patch re-synthesis of the fine
   texture from painting patches, upsampling and feathered blending at full resolution.

The optimised image is always seen by the network composited over the painting (through the blend
weights), so the losses judge the seam the viewer will see. ``strength`` 0 returns the pasted object
as it is; the style terms grow with it, and the object's coarse shape gives way only near 1.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import color
from .. import crop as croplib
from .. import masks as masklib
from ..convert import to_numpy, to_tensor
from ..features import NETWORKS, get_extractor, style_features
from ..instant.harmonize import run_instant
from ..optimize import ProgressCounter, optimize
from ..postprocess import chroma_denoise, patch_resynthesis
from ..pyramid import resize
from .base import InputSpec, Method, Output, Param, RunContext
from .harmonize_budget import (FINAL_BUDGET, PREVIEW_BUDGET, REFERENCE_SPEED, Stage, draft_seconds, plan_stages,
                               record_speed, seconds_per_pixel)
from .harmonize_objective import (ALL_LAYERS, FEATURE_LAYERS, GLOBAL_MIX, PASS2_HIST_LAYERS, AnchorTerm,
                                  HarmonyObjective, ShapeTerm, auto_weights, object_size)
from .harmonize_targets import luminance, pass1_targets, pass2_targets, usable_exclude

__all__ = ["HARMONIZE", "ALL_LAYERS", "HarmonyObjective", "auto_weights", "run_harmonize"]

QUALITIES = ("instant", "preview", "final")
BUDGETS = {"preview": PREVIEW_BUDGET, "final": FINAL_BUDGET}
MAX_CONTEXT_SIDE = 700        # working longest side of the painting context (without --size)
POST_SHARE = 0.04             # of the budget, kept for post-processing and pasting back
# Share of the pasted object's own detail finer than the working resolution added back when the result is
# upsampled to full size (without it a low-resolution result is a blur with a sharp seam).
DETAIL = 0.5


@dataclass
class StageTensors:
    """One working resolution's tensors (1×C×h×w; h, w multiples of 8)."""

    plan: croplib.CropPlan
    composite: torch.Tensor   # the region of the composite
    blend: torch.Tensor       # compositing weights of the region
    loss_mask: torch.Tensor   # the object, grown a little and blurred (where the losses apply)
    shape_mask: torch.Tensor  # the tight object mask
    style: torch.Tensor       # the painting context
    exclude: torch.Tensor | None  # the pasted object's footprint within the context, not matched


def stage_tensors(plan, composite_np, source_np, in_source, region_alpha, loss_mask_full, mask_np, reach,
                  dev) -> StageTensors:
    """``source_np``: the image the style comes from; ``in_source``: whether it is the composite (else the
    clean painting). The object's footprint is excluded from the matches in both: in the composite it is
    the object itself, and in a clean painting it is what the object hides, which copied onto the object
    makes it see-through."""
    work = plan.region_work
    grown = masklib.dilate(mask_np[plan.context_slices()], reach + 2)
    exclude = usable_exclude(resize(to_tensor(grown, dev), plan.context_work).clamp(0, 1), in_source)
    return StageTensors(plan, croplib.crop_work(composite_np, plan.region, work, dev),
                        resize(to_tensor(region_alpha, dev), work),
                        resize(to_tensor(loss_mask_full, dev), work),
                        resize(to_tensor(mask_np[plan.region_slices()], dev), work),
                        croplib.crop_work(source_np, plan.context, plan.context_work, dev), exclude)


class FillingCounter(ProgressCounter):
    """Progress over a job whose last pass runs until its deadline: the total follows that pass's speed."""

    fill = None   # (deadline, start time, iterations done at the start, most iterations at the end)

    def step(self, stage, losses, image):
        if self.fill is not None:
            deadline, started, done, most = self.fill
            now = time.monotonic()
            per_iteration = (now - started) / (self.done + 1 - done)
            self.total = max(self.done + 1, min(most, self.done + 1 + int((deadline - now) / per_iteration)))
        super().step(stage, losses, image)


class Harmonizer:
    """Runs the passes of one job: shared network, weights, progress and deadlines."""

    def __init__(self, extractor, weights, size, counter: FillingCounter, ctx: RunContext, save):
        self.extractor, self.weights, self.size = extractor, weights, size
        self.counter, self.ctx, self.save = counter, ctx, save

    @staticmethod
    def values(t: StageTensors):
        """Luminance of the pasted object's image and of the painting: the values matches keep."""
        return luminance(t.composite), luminance(t.style)

    def shape_term(self, t: StageTensors):
        return [ShapeTerm(t.composite, t.shape_mask, max(0.5, self.size * t.plan.scale / divisor), level,
                          self.weights["shape"], self.weights["contrast_level"])
                for divisor, level in self.weights["shape_levels"]]

    def run(self, objective, image, iterations, stage, deadline, fill=False):
        """Optimise; with ``fill``, until ``deadline`` (at most ``iterations``)."""
        before, done = time.monotonic(), self.counter.done
        if fill and math.isfinite(deadline):
            self.counter.fill = (deadline, before, done, done + iterations)
        result = optimize(image, objective, iterations, "lbfgs", None, self.counter, stage=stage,
                          half=self.ctx.half, deadline=deadline)
        self.counter.fill = None
        record_speed(self.extractor, self.ctx.device, time.monotonic() - before, self.counter.done - done,
                     image.shape[-2] * image.shape[-1])
        return objective.composite(result)

    def pass1(self, t: StageTensors, style_feats, iterations, deadline):
        with torch.no_grad():
            feats = self.extractor(t.composite)
        targets = pass1_targets(feats, style_feats, t.loss_mask, t.exclude, self.values(t))
        objective = HarmonyObjective(self.extractor, t.composite, t.composite, t.blend, t.loss_mask, targets, {},
                                     dict(self.weights, histogram=0.0), shape=self.shape_term(t))
        h, w = t.plan.region_work
        return self.run(objective, t.composite, iterations, f"pass 1 {w}x{h}", deadline)

    def pass2(self, t: StageTensors, style_feats, image, iterations, deadline, anchor=None, name="pass 2",
              fill=False):
        with torch.no_grad():
            feats = self.extractor(image)
        targets = pass2_targets(feats, style_feats, t.loss_mask, t.exclude, self.values(t))
        objective = HarmonyObjective(self.extractor, t.composite, t.composite, t.blend, t.loss_mask, targets,
                                     {layer: targets[layer] for layer in PASS2_HIST_LAYERS}, self.weights,
                                     {layer: targets[layer] for layer in FEATURE_LAYERS},
                                     shape=self.shape_term(t), anchor=anchor)
        if GLOBAL_MIX > 0:
            objective.mix_context_grams(style_feats, t.exclude, GLOBAL_MIX)
        h, w = t.plan.region_work
        return self.run(objective, image, iterations, f"{name} {w}x{h}", deadline, fill)

    def draft(self, t: StageTensors, stage: Stage, start: float, seconds: float) -> torch.Tensor:
        style_feats = style_features(self.extractor, t.style)
        image = t.composite
        if stage.pass1 > 0:
            share = stage.pass1 / max(1, stage.iterations)
            image = self.pass1(t, style_feats, stage.pass1, start + seconds * max(share, 0.5))
            self.save("pass1", image)
        if stage.pass2 > 0:
            image = self.pass2(t, style_feats, image, stage.pass2, start + seconds)
            self.save("pass2", image)
        return image

    def refine(self, t: StageTensors, draft: StageTensors, result: torch.Tensor, stage: Stage,
               deadline: float) -> torch.Tensor:
        """Pass 2 at ``t``'s resolution from the draft's result, anchored to its low frequencies."""
        change = resize(result - draft.composite, t.plan.region_work)
        image = (t.composite + change).clamp(0, 1)
        ratio = t.plan.scale / draft.plan.scale
        anchor = AnchorTerm(resize(result, t.plan.region_work), t.blend, max(1.0, ratio), self.weights["anchor"])
        image = self.pass2(t, style_features(self.extractor, t.style), image, stage.pass2, deadline, anchor,
                           "refine", fill=True)
        self.save("refine", image)
        return image


def fine_detail(image: np.ndarray, plan: croplib.CropPlan) -> np.ndarray:
    """``image``'s region minus its working-resolution version upsampled: the detail the work cannot hold."""
    region = image[plan.region_slices()]
    return region - croplib.upsample_region(croplib.crop_work(image, plan.region, plan.region_work), plan.region)


def _scale_for(plan: croplib.CropPlan, pixels: int) -> float:
    """The working scale at which ``plan``'s region has about ``pixels`` working pixels."""
    h, w = plan.region[2] - plan.region[0], plan.region[3] - plan.region[1]
    return min(plan.scale, math.sqrt(pixels / (h * w)))


def _with_iterations(stages, total: int):
    """The stages' iterations rescaled to ``total`` (at least one in the first pass)."""
    planned = sum(s.iterations for s in stages if s is not None)
    out, left = [], total
    for s in stages:
        if s is None:
            out.append(None)
            continue
        p1 = min(left, int(round(s.pass1 * total / planned)))
        if s is stages[0] and s.pass1 > 0:
            p1 = max(1, p1)
        p2 = min(left - p1, int(round(s.pass2 * total / planned)))
        left -= p1 + p2
        out.append(Stage(s.pixels, p1, p2))
    first = out[0]
    out[0] = Stage(first.pixels, first.pass1, first.pass2 + left)   # rounding leftovers
    return out


def run_harmonize(inputs: dict, params: dict, ctx: RunContext) -> Output:
    start = time.monotonic()
    composite_np = inputs["composite"]
    mask_np = masklib.check_mask(inputs["mask"], composite_np.shape[:2])
    style_np = inputs.get("style")
    if style_np is not None and style_np.shape[:2] != composite_np.shape[:2]:
        raise ValueError(f"the style painting is {style_np.shape[1]}x{style_np.shape[0]} but the composite is "
                         f"{composite_np.shape[1]}x{composite_np.shape[0]}; pass the clean painting at the same size")
    if params["quality"] == "instant":
        return run_instant(inputs, params, ctx)
    reach = params["dilation"] + int(math.ceil(params["feather"]))
    quality, budget = params["quality"], params["budget"] or BUDGETS[params["quality"]]
    # The largest working scale: the context's longest side at most ``size`` (700 px by default).
    full = croplib.plan_crop(mask_np, params["size"] or MAX_CONTEXT_SIDE, reach, context=params["context"])
    rs = full.region_slices()
    region_mask = mask_np[rs]
    if params["strength"] <= 0:                        # the pasted object as it is
        alpha = np.zeros(mask_np.shape, np.float32)
        alpha[rs] = masklib.blend_weights(region_mask, params["dilation"], params["feather"])
        return Output(np.array(composite_np, dtype=np.float32, copy=True), alpha)
    torch.manual_seed(params["seed"])
    dev = ctx.device
    extractor = get_extractor(ALL_LAYERS, params["network"], "avg", dev)
    native = full.region_work[0] * full.region_work[1]
    fixed = bool(params["iterations"])     # a reproducible job: no clock in its plan or its stopping
    stages = plan_stages(budget, quality, REFERENCE_SPEED if fixed else seconds_per_pixel(extractor, dev), native)
    if params["size"]:                                 # an explicit working size: the last stage runs at it
        last = stages[1] or stages[0]
        stages = tuple(s if s is not last else Stage(native, s.pass1, s.pass2) for s in stages)
    if params["iterations"]:
        stages = tuple(_with_iterations(list(stages), params["iterations"]))
    draft_stage, fine_stage = stages
    if fine_stage is not None and not params["iterations"]:
        # the refinement runs until its deadline, up to half again its planned iterations
        fine_stage = Stage(fine_stage.pixels, 0, int(round(1.5 * fine_stage.pass2)))
        stages = (draft_stage, fine_stage)
    last = fine_stage or draft_stage
    plan = croplib.plan_crop(mask_np, params["size"] or MAX_CONTEXT_SIDE, reach, context=params["context"],
                             max_region_pixels=last.pixels)
    rs = plan.region_slices()
    region_mask = mask_np[rs]
    region_alpha = masklib.blend_weights(region_mask, params["dilation"], params["feather"])
    # The losses use the tight mask blurred a little (paper: Gaussian, radius 3) grown by a pixel or two.
    loss_mask_full = np.maximum(masklib.feather(masklib.dilate(region_mask, max(1, params["dilation"] // 2)), 3.0),
                                region_mask)

    source_np = composite_np if style_np is None else style_np
    # Weights from the painting context at the largest scale, the same for every quality and budget.
    weights = auto_weights(to_numpy(croplib.crop_work(source_np, full.context, full.context_work)),
                           params["strength"])
    mode = params["keep_colors"]
    if mode != "off":   # the network sees the colour mode's images (grey, or the painting recoloured)
        source_np = color.network_styles(mode, [source_np], composite_np, mask_np, match_tones=False)[0]
        composite_np = color.network_content(mode, composite_np)

    def tensors(p):
        return stage_tensors(p, composite_np, source_np, style_np is None, region_alpha, loss_mask_full, mask_np,
                             reach, dev)

    fine = tensors(plan)
    draft = fine if fine_stage is None else tensors(plan.at_scale(_scale_for(plan, draft_stage.pixels)))

    def save(name, tensor):
        if ctx.save_passes is not None:
            ctx.save_passes(name, to_numpy(tensor.clamp(0, 1)))

    counter = FillingCounter(sum(s.iterations for s in stages if s), ctx.progress, ctx.cancel, ctx.preview_every)
    job = Harmonizer(extractor, weights, object_size(mask_np), counter, ctx, save)
    end = math.inf if fixed else start + budget * (1.0 - POST_SHARE)
    now = time.monotonic()
    draft_end = end if fine_stage is None or fixed else now + 1.25 * draft_seconds(budget, quality)
    result = job.draft(draft, draft_stage, now, draft_end - now)
    if fine_stage is not None and fine_stage.pass2 > 0:
        result = job.refine(fine, draft, result, fine_stage, end)
    work = chroma_denoise(to_numpy(result.clamp(0, 1)))
    if params["resynthesis"] > 0:
        valid = None if fine.exclude is None else to_numpy(fine.exclude) <= 0
        synth = patch_resynthesis(work, to_numpy(fine.style), to_numpy(fine.blend) > 0.5,
                                  painting_valid=valid)
        work = (1 - params["resynthesis"]) * work + params["resynthesis"] * synth
    save("post", torch.from_numpy(work).permute(2, 0, 1)[None])
    region_rgb = croplib.upsample_region(to_tensor(work), plan.region)
    if DETAIL > 0 and plan.scale < 1.0:
        region_rgb = np.clip(region_rgb + DETAIL * fine_detail(composite_np, plan), 0.0, 1.0)
    original = inputs["composite"]
    keep = 1.0 if mode == "luminance" else params["object_color"]
    if keep > 0:        # the object's own chroma back, all of it or part
        region_rgb = color.restore_chroma(region_rgb, original[rs], keep)
    return Output(*croplib.paste_back(original, region_rgb, region_alpha, plan.region))


HARMONIZE = Method(
    name="harmonize",
    summary="make an object pasted into a painting look painted (Deep Painterly Harmonization, cropped "
            "and sized to a time budget); pixels outside the dilated, feathered mask stay untouched",
    inputs=(InputSpec("composite", "rgb", help="the painting with the object pasted in"),
            InputSpec("mask", "mask", help="the pasted object (soft or hard; selection or layer alpha)"),
            InputSpec("style", "rgb", required=False,
                      help="the clean painting, same size (default: the composite outside the mask)",
                      region="base")),
    params=(
        Param("quality", str, "final", "instant (about a second: the painting's features decoded by the trained "
              "decoder), preview (a low-resolution draft in seconds) or final (the draft refined at full "
              "resolution)", choices=QUALITIES, group="basic"),
        Param("strength", float, 0.5, "how strongly the object takes the painting's style: 0 = as pasted, "
              "0.5 = automatic, 1 = strongest (the object's coarse shape gives way only near 1)", 0.0, 1.0,
              group="basic"),
        Param("keep_colors", str, "off", "keep the object's colours: off, luminance (painted in the painting's "
              "strokes and tones, its own hue and saturation kept) or histogram (the painting recoloured to the "
              "object's colours first)", choices=color.KEEP_COLORS, group="basic"),
        Param("object_color", float, 0.0, "how much of the object's own colour to keep, 0 (the painting's) .. 1 "
              "(its own; always 1 with keep_colors luminance)", 0.0, 1.0, group="basic"),
        Param("budget", float, 0.0, "time budget in seconds: working size and iterations are chosen to fit "
              f"it on this machine (0 = {PREVIEW_BUDGET:g} s for preview, {FINAL_BUDGET:g} s for final)",
              0.0, 3600.0, group="basic"),
        Param("size", int, 0, "working longest side of the painting context in pixels (0 = from the budget)",
              0, 4096),
        Param("iterations", int, 0, "optimisation iterations of all passes together (0 = from the budget; given, "
              "the job is reproducible: no time limit, the same result on every machine)", 0, 10000),
        Param("seed", int, 0, "random seed", 0, 2**31 - 1),
        Param("dilation", int, 4, "mask dilation in pixels: how far beyond the object the result reaches", 0, 256),
        Param("feather", float, 4.0, "feathering radius in pixels of the blend", 0.0, 256.0),
        Param("context", float, 0.5, "painting context around the object for the style, as a fraction of its size",
              0.0, 8.0),
        Param("resynthesis", float, 0.0, "re-synthesise fine texture from painting patches, 0..1 (0 = off)",
              0.0, 1.0),
        Param("network", str, "vgg19", "feature network", choices=NETWORKS),
    ),
    run=run_harmonize,
    base_input="composite",
    label="Harmonize Selection",
)

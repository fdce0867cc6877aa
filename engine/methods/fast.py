"""``fast``: instant style transfer in one pass, whole image or inside a mask.

The style is a bundled style (``starry-night``, a painting), a style in the user's models folder, any
painting's image file (served by the instant decoder: its features' statistics, no training), or a
trained style network's file (Johnson et al. 2016, ``painterly train-style``). With a mask, only the
mask's surroundings are restyled and blended back with the same dilated, feathered weights as every
masked method: pixels outside keep their values bit for bit.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import color
from .. import masks as masklib
from ..fast.apply import MIN_TILE
from ..fast.models import PAINTING_SUFFIXES, available_models
from ..fast.stylizer import stylizer
from .base import InputSpec, Method, Output, Param, ParameterError, RunContext, with_preset

DEFAULT_MODEL = "starry-night"
# Working longest side per quality: preview for live previews and drafts, final for the result.
PRESETS = {"preview": {"size": 512}, "final": {"size": 1024}}


class ModelParam(Param):
    """A model name from the installed models (listed afresh each time the method is described, so
    models added to the user's folder appear), or the path of a model file."""

    def validate(self, value):
        if not isinstance(value, str) or not value:
            raise ParameterError(f"{self.name} must be a style model name or file, got {value!r}")
        file_like = value.endswith(".pt") or value.lower().endswith(PAINTING_SUFFIXES)
        if value in available_models() or (file_like and Path(value).expanduser().is_file()):
            return value
        if file_like:
            raise ParameterError(f"style file not found: {value}")
        raise ParameterError(f"{self.name} must be one of {', '.join(available_models()) or '(no styles installed)'}"
                             f", a painting (.jpg/.png) or a model file (.pt), got {value!r}")

    def describe(self) -> dict:
        out = super().describe()
        out["choices"] = list(available_models())
        return out


def _context_box(weights: np.ndarray, context: float) -> tuple:
    """The blend support grown by ``context`` × its longest side: what the network sees around a selection."""
    top, left, bottom, right = masklib.bounding_box(weights)
    grow = max(16, int(np.ceil(context * max(bottom - top, right - left))))
    h, w = weights.shape
    return max(0, top - grow), max(0, left - grow), min(h, bottom + grow), min(w, right + grow)


def resolved(params: dict) -> dict:
    """Validated parameters with the quality preset's working size where none was given."""
    return with_preset(FAST.resolve_params(params), PRESETS)


def run_fast(inputs: dict, params: dict, ctx: RunContext) -> Output:
    params = with_preset(params, PRESETS)
    tile = params["tile"]
    if 0 < tile < MIN_TILE:
        raise ParameterError(f"tile must be 0 (off) or at least {MIN_TILE} pixels, got {tile}")
    restyle = stylizer(params, ctx.device, ctx.half, ctx.cancel)
    content = inputs["content"]
    mask = inputs.get("mask")
    if mask is None:
        return Output(restyle(content))
    mask = masklib.check_mask(mask, content.shape[:2])
    weights = masklib.blend_weights(mask, params["dilation"], params["feather"])
    top, left, bottom, right = _context_box(weights, params["context"])
    rgb = np.array(content, dtype=np.float32, copy=True)
    rgb[top:bottom, left:right] = restyle(content[top:bottom, left:right])
    return Output(rgb, weights)


FAST = Method(
    name="fast",
    summary="instant style transfer from a painting or a trained style network (whole image, or inside a mask)",
    inputs=(InputSpec("content", "rgb", help="image to restyle"),
            InputSpec("mask", "mask", required=False, help="restyle only this region (optional)")),
    params=(
        ModelParam("model", str, DEFAULT_MODEL, "the style: a bundled or user style, any painting (.jpg/.png: "
                   "served instantly by the decoder) or a trained network (.pt)"),
        Param("quality", str, "final", "preview (a smaller working size, for drafts and live previews) or final",
              choices=tuple(PRESETS), group="basic"),
        Param("keep_colors", str, "off", "keep the content's colours: off, luminance (the content's colours with "
              "the style's strokes and tones) or histogram (the result's colours mapped to the content's)",
              choices=color.KEEP_COLORS, group="basic"),
        Param("size", int, 0, "working resolution: longest side in pixels (0 = preset; never above the image's "
              "own size); smaller sizes give larger brush strokes", 0, 16384),
        Param("strength", float, 1.0, "how far the style goes (1 = fully stylised; a painting: the features "
              "interpolated, a network: the pixels blended)", 0.0, 1.0, group="basic"),
        Param("transform", str, "wct", "with a painting: how the features take its style (wct: covariance, adain: "
              "mean and deviation only)", choices=("wct", "adain")),
        Param("tile", int, 0, f"process in tiles of this many working pixels (0 = whole image at once; "
              f"at least {MIN_TILE}): for very large images", 0, 8192),
        Param("dilation", int, 4, "mask dilation in pixels before compositing (with a mask)", 0, 256),
        Param("feather", float, 4.0, "feathering radius in pixels of the composite (with a mask)", 0.0, 256.0),
        Param("context", float, 0.25, "surroundings the network sees around a selection, as a fraction of its "
              "size (with a mask)", 0.0, 4.0),
    ),
    run=run_fast,
    label="Fast Style Transfer",
)

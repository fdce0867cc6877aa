"""The engine's single entry point: run a named method on arrays, with progress and cancel."""
from __future__ import annotations

import numpy as np
import torch

from .device import select_device
from .methods import Method, Output, RunContext, get_method
from .methods.base import ParameterError
from .optimize import CancelToken, ProgressCallback


def validate_inputs(method, inputs: dict) -> dict:
    """Check presence, dtype and shape of each input array; convert to float32 in [0, 1]."""
    out = {}
    for spec in method.inputs:
        value = inputs.get(spec.name)
        if value is None:
            if spec.required:
                raise ParameterError(f"method {method.name!r} needs the input {spec.name!r} ({spec.help})")
            continue
        arr = np.asarray(value)
        if arr.dtype in (np.uint8, np.uint16):  # one float copy, scaled in place
            top = np.float32(np.iinfo(arr.dtype).max)
            arr = arr.astype(np.float32)
            arr /= top
        else:
            arr = arr.astype(np.float32, copy=False)
        if spec.kind == "rgb" and (arr.ndim != 3 or arr.shape[2] != 3):
            raise ParameterError(f"input {spec.name!r} must be an H×W×3 RGB image, got shape {arr.shape}")
        if spec.kind == "mask" and arr.ndim != 2:
            raise ParameterError(f"input {spec.name!r} must be an H×W mask, got shape {arr.shape}")
        if min(arr.shape[:2]) < 1:
            raise ParameterError(f"input {spec.name!r} is empty")
        out[spec.name] = arr
    extra = sorted(set(k for k, v in inputs.items() if v is not None) - {s.name for s in method.inputs})
    if extra:
        raise ParameterError(f"method {method.name!r} takes no input(s) {', '.join(extra)}")
    return out


def run(method: str, inputs: dict, params: dict | None = None, **options) -> np.ndarray:
    """Run ``method`` and return the visible result: H×W×3 float32 RGB at the base input's full size,
    composited over it (pixels the method does not touch are the input's, bit for bit)."""
    spec = get_method(method)
    arrays = validate_inputs(spec, inputs)
    return _run(spec, arrays, params, **options).composite_over(arrays[spec.base_input])


def run_output(method, inputs: dict, params: dict | None = None, **options) -> Output:
    """Run ``method`` (a name, or a :class:`Method` declaration) and return its :class:`Output` (new pixels +
    compositing alpha), e.g. for a new layer."""
    spec = method if isinstance(method, Method) else get_method(method)
    return _run(spec, validate_inputs(spec, inputs), params, **options)


def _run(spec, arrays: dict, params: dict | None, *, device: str | torch.device | None = "auto",
         progress: ProgressCallback | None = None, cancel: CancelToken | None = None, half: bool = False,
         preview_every: int = 0, save_passes=None) -> Output:
    resolved = spec.resolve_params(params)
    dev = device if isinstance(device, torch.device) else select_device(device)
    ctx = RunContext(device=dev, progress=progress, cancel=cancel, half=half, preview_every=preview_every,
                     save_passes=save_passes)
    return spec.run(arrays, resolved, ctx)

"""What every method declares: its name, its inputs and its parameters (with defaults and ranges).

The declarations are data, so the CLI, the daemon's handshake/validation and the plugins' dialogs are
all generated from the same place.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..optimize import CancelToken, ProgressCallback


class ParameterError(ValueError):
    """A parameter value a user passed is out of range or of the wrong type."""


GROUPS = ("basic", "advanced")


@dataclass(frozen=True)
class Param:
    """One parameter of a method. ``group``: "basic" parameters are shown in the apps' dialogs, the
    "advanced" ones folded away."""

    name: str
    type: type                      # int, float, str, bool
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    group: str = "advanced"

    def __post_init__(self):
        if self.group not in GROUPS:
            raise ValueError(f"parameter {self.name!r}: group must be one of {', '.join(GROUPS)}")

    def validate(self, value):
        if self.type is bool:
            if not isinstance(value, bool):
                raise ParameterError(f"{self.name} must be true or false, got {value!r}")
            return value
        if self.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParameterError(f"{self.name} must be a number, got {value!r}")
            if self.type is int:
                if float(value) != int(value):
                    raise ParameterError(f"{self.name} must be a whole number, got {value!r}")
                value = int(value)
            else:
                value = float(value)
                if not np.isfinite(value):
                    raise ParameterError(f"{self.name} must be finite, got {value!r}")
            if self.min is not None and value < self.min:
                raise ParameterError(f"{self.name} must be at least {self.min}, got {value}")
            if self.max is not None and value > self.max:
                raise ParameterError(f"{self.name} must be at most {self.max}, got {value}")
            return value
        if not isinstance(value, str):
            raise ParameterError(f"{self.name} must be text, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"{self.name} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        return value

    def describe(self) -> dict:
        """Plain-data description (for the daemon handshake and the plugins' dialogs)."""
        out = {"name": self.name, "type": self.type.__name__, "default": self.default, "help": self.help,
               "group": self.group}
        for key in ("min", "max", "choices"):
            if getattr(self, key) is not None:
                out[key] = list(getattr(self, key)) if key == "choices" else getattr(self, key)
        return out


def with_preset(params: dict, presets: dict) -> dict:
    """``params`` with each value a preset sets taken from the chosen ``quality`` preset where the user
    left it at 0 (or empty); explicit values win. Preset entries that are not parameters are added."""
    out = dict(params)
    for name, value in presets[params["quality"]].items():
        if out.get(name) in (None, 0, ""):
            out[name] = value
    return out


def fit_to_area(params: dict, resolved: dict, presets: dict, hw, names=("iterations",)) -> dict:
    """``resolved`` (the parameters with the preset applied) with the preset's iteration counts fitted to
    the working area ``hw``: a preset's counts are set for the area of its ``pixels`` entry (a 3:2 image at
    its working size), and a larger area, a squarer image, gets proportionally fewer, so the preset's time
    holds whatever the aspect. Counts the user gave (``params``) are kept, and then so is the whole run: the
    preset's time ``budget`` (seconds, a deadline for machines slower than planned for) is dropped."""
    out = dict(resolved)
    if any(params.get(name) not in (None, 0) for name in names):
        out.pop("budget", None)
    area = presets[resolved["quality"]].get("pixels")
    if not area or hw[0] * hw[1] <= area:
        return out
    for name in names:
        if params.get(name) in (None, 0):
            out[name] = max(1, round(resolved[name] * area / (hw[0] * hw[1])))
    return out


REGIONS = ("whole", "base")


@dataclass(frozen=True)
class InputSpec:
    """One input image. ``region``: "base" when it must cover the same canvas area as the method's base
    input, pixel for pixel (a mask always does; e.g. the clean painting under a composite), "whole" when
    any picture of any size will do (e.g. a style painting, of which only statistics matter)."""

    name: str
    kind: str          # "rgb" (H×W×3 float32 0..1) | "mask" (H×W float32 0..1)
    required: bool = True
    help: str = ""
    region: str = "whole"

    def __post_init__(self):
        if self.region not in REGIONS:
            raise ValueError(f"input {self.name!r}: region must be one of {', '.join(REGIONS)}")

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "required": self.required, "help": self.help,
                "region": "base" if self.kind == "mask" else self.region}


@dataclass
class Output:
    """What a method produces: the new pixels and where they apply.

    ``rgb`` is H×W×3 at the content's full size; ``alpha`` (H×W in [0, 1], or None for "everywhere") is
    the compositing weight: the visible result is ``alpha·rgb + (1−alpha)·original``, and pixels with
    alpha 0 stay bit-identical. Apps use (rgb, alpha) directly as a new layer over the original.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None

    def composite_over(self, original: np.ndarray) -> np.ndarray:
        if self.alpha is None:
            return self.rgb
        from ..masks import composite
        return composite(self.rgb, original, self.alpha)


@dataclass
class RunContext:
    """Everything a method needs besides its inputs and parameters."""

    device: torch.device
    progress: ProgressCallback | None = None
    cancel: CancelToken | None = None
    half: bool = False
    preview_every: int = 0
    save_passes: Callable[[str, np.ndarray], None] | None = None  # debugging output of intermediate passes


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    inputs: tuple[InputSpec, ...]
    params: tuple[Param, ...]
    run: Callable[[dict, dict, RunContext], Output] = field(repr=False)
    base_input: str = "content"  # the input the output is composited over
    label: str = ""              # what the apps call it (menu entry, method list); default from the name

    def resolve_params(self, given: dict | None) -> dict:
        """Defaults filled in, every value validated, unknown names refused."""
        given = dict(given or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ParameterError(f"method {self.name!r} has no parameter(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(known)}")
        out = {}
        for name, param in known.items():
            out[name] = param.validate(given[name]) if given.get(name) is not None else param.default
        return out

    def describe(self) -> dict:
        """Plain-data description: the daemon's handshake, from which the apps build their dialogs."""
        return {"name": self.name, "label": self.label or self.name.replace("_", " ").capitalize(),
                "summary": self.summary, "base_input": self.base_input,
                "inputs": [i.describe() for i in self.inputs],
                "params": [p.describe() for p in self.params]}

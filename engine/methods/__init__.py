"""Registry of the engine's methods. Each entry is ``module:attribute`` of a :class:`Method`,
imported on first use so listing methods stays cheap."""
from __future__ import annotations

import importlib

from .base import InputSpec, Method, Output, Param, ParameterError, RunContext

_REGISTRY = {
    "global": "painterly.engine.methods.gatys:GLOBAL",
    "masked": "painterly.engine.methods.gatys:MASKED",
    "photo": "painterly.engine.methods.photo:PHOTO",
    "harmonize": "painterly.engine.methods.harmonize:HARMONIZE",
    "fast": "painterly.engine.methods.fast:FAST",
}


def method_names() -> list[str]:
    return list(_REGISTRY)


def get_method(name: str) -> Method:
    if name not in _REGISTRY:
        raise ParameterError(f"unknown method {name!r}; choose one of {', '.join(_REGISTRY)}")
    module, attr = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)


__all__ = ["InputSpec", "Method", "Output", "Param", "ParameterError", "RunContext", "get_method", "method_names"]

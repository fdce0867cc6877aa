"""One frame-to-frame restyler for ``fast``, whatever the style is: a trained network (one forward pass),
or a painting served by the instant decoder (its features' statistics, no per-style training). Images,
selections and video frames all go through :func:`stylizer`."""
from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import color
from ..imageio import load_image
from ..pyramid import fit_longest, resize, working_size
from .apply import stylize_array
from .models import is_painting, loaded_models, resolve_model

_PAINTINGS: dict = {}
_LOCK = threading.Lock()


def painting(path: Path) -> np.ndarray:
    """A style painting's pixels, read once per file version."""
    key = (str(path), path.stat().st_mtime_ns)
    with _LOCK:
        if key not in _PAINTINGS:
            _PAINTINGS.clear()      # one painting at a time is what a session uses
            _PAINTINGS[key] = load_image(path).rgb
        return _PAINTINGS[key]


def stylizer(params: dict, device: torch.device, half: bool = False, cancel=None
             ) -> Callable[[np.ndarray], np.ndarray]:
    """rgb (H×W×3) → restyled rgb at the same size, with keep_colors and strength applied."""
    path = resolve_model(params["model"])
    if is_painting(path):
        from ..instant.paths import stylize as instant_stylize
        style = painting(path)
        settings = {"transform": params.get("transform", "wct"), "strength": params["strength"]}

        @functools.lru_cache(maxsize=2)    # a clip's frames share one working size: resized once
        def style_at(longest: int) -> np.ndarray:
            return _resize(style, fit_longest(style.shape[:2], longest), device)

        def run(rgb: np.ndarray) -> np.ndarray:
            hw = working_size(*rgb.shape[:2], params["size"] or max(rgb.shape[:2]))
            small = rgb if hw == rgb.shape[:2] else _resize(rgb, hw, device)
            content_in = color.network_content(params["keep_colors"], small)
            style_in = style_at(max(hw))
            style_in = color.network_styles(params["keep_colors"], [style_in], small)[0]
            out = instant_stylize(content_in, [style_in], [1.0], settings, device, half)
            out = out if hw == rgb.shape[:2] else _resize(out, rgb.shape[:2], device)
            return color.restore_colors(params["keep_colors"], out, rgb)
        return run
    net, _ = loaded_models.get(path, device)

    def run_network(rgb: np.ndarray) -> np.ndarray:
        out = stylize_array(net, rgb, device, params["size"], params["tile"], cancel=cancel)
        out = color.recolor_output(params["keep_colors"], out, rgb)
        strength = params["strength"]
        return out if strength >= 1 else (strength * out + (1 - strength) * rgb).astype(np.float32)
    return run_network


def _resize(rgb: np.ndarray, hw, device) -> np.ndarray:
    from ..convert import to_image, to_tensor
    return to_image(resize(to_tensor(rgb, device), tuple(hw), sharp=True))

"""Style-model files: checkpoints during training, finished models, and where models are found.

A model file is a ``torch.save`` dict of tensors and plain data only (read back with
``weights_only=True``, so a model file cannot run code):

  format      "painterly-style/1"
  network     {"variant", "output", "architecture"}: enough to rebuild the network
  state       the network's weights (float16 in shipped models, float32 in checkpoints)
  style       {"name", "sha256", "size"}: which style image it was trained on
  settings    the training settings (see train.TrainSettings)
  step        training steps done; "complete" once the planned steps are done
  training    optimiser state and losses, for --resume (dropped from shipped models)

Models are named by their file stem: the bundled ones in this package's ``styles/`` folder
(``starry-night``, ...), and the user's in ``$PAINTERLY_MODELS`` or ``~/.local/share/painterly/models``.
"""
from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path

import torch

from .network import Architecture, TransformNet

FORMAT = "painterly-style/1"
SUFFIX = ".pt"
PAINTING_SUFFIXES = (".jpg", ".jpeg", ".png")
BUNDLED_DIR = Path(__file__).resolve().parent / "styles"


class ModelError(ValueError):
    """A user-facing problem with a style model file (missing, corrupt, wrong variant, wrong style)."""


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def user_models_dir() -> Path:
    root = os.environ.get("PAINTERLY_MODELS")
    if root:
        return Path(root).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "painterly" / "models"


def is_painting(path) -> bool:
    """A style given as a painting (an image the decoder serves), not as a trained network."""
    return Path(path).suffix.lower() in PAINTING_SUFFIXES


def available_models() -> dict[str, Path]:
    """Style name → file: the bundled styles, then the user's folder (a user style of the same name wins).
    A style is a trained network (.pt) or a painting (an image, served by the instant decoder)."""
    found: dict[str, Path] = {}
    for folder in (BUNDLED_DIR, user_models_dir()):
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix == SUFFIX or is_painting(path):
                    found[path.stem] = path
    return found


def resolve_model(name_or_path) -> Path:
    """A model file from a path or a model name."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    models = available_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    known = ", ".join(models) or "none"
    raise ModelError(f"no style model {str(name_or_path)!r}: not a file, and not one of the installed models "
                     f"({known}; user models go in {user_models_dir()})")


def save_model(path, payload: dict) -> Path:
    """Write atomically: an interrupted save never leaves a half-written model behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(dict(payload, format=FORMAT), tmp)
    os.replace(tmp, path)
    return path


def read_model(path) -> dict:
    """The model file's dict, checked; one-line :class:`ModelError` for anything unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"style model not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # truncated, not a torch file, or holding objects a model never holds
        raise ModelError(f"cannot read style model {path}: not a painterly style model, or a damaged one") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"cannot read style model {path}: not a painterly style model (format "
                         f"{payload.get('format') if isinstance(payload, dict) else type(payload).__name__!r})")
    for key in ("network", "state", "style", "settings", "step"):
        if key not in payload:
            raise ModelError(f"style model {path} is incomplete: it has no {key!r}")
    return payload


def build_network(payload: dict, path, variant: str | None = None) -> TransformNet:
    """The network a model file describes, with its weights (float32, eval mode).

    ``variant``: the variant the caller expects; a model of another variant is a clear error.
    """
    net_cfg = payload["network"]
    trained = net_cfg.get("variant")
    if variant is not None and trained != variant:
        raise ModelError(f"style model {path} is a {trained!r} network, not {variant!r} "
                         f"(use --variant {trained}, or train a new model)")
    try:
        # the layout the file records (a file without one has its variant's, without skips)
        layout = net_cfg.get("architecture")
        arch = Architecture.from_dict(layout) if isinstance(layout, dict) else None
        net = TransformNet(trained, net_cfg.get("output", "tanh"), arch)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"style model {path}: {exc}") from None
    state = {k: v.float() for k, v in payload["state"].items()}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError:
        raise ModelError(f"style model {path} says it is a {trained!r} network but its weights do not fit "
                         f"one (trained for another variant or damaged)") from None
    return net.eval()


def strip_for_shipping(payload: dict) -> dict:
    """A finished model without training state, weights in float16 (half the size, same output within
    1/1000 of the value range)."""
    out = {k: v for k, v in payload.items() if k != "training"}
    out["state"] = {k: v.half() if v.is_floating_point() else v for k, v in payload["state"].items()}
    return out


class ModelCache:
    """A few loaded networks, keyed by file, its modification time and the device."""

    def __init__(self, max_entries: int = 4):
        self.max_entries = max_entries
        self._entries: "OrderedDict[tuple, tuple]" = OrderedDict()

    def get(self, name_or_path, device: torch.device) -> tuple[TransformNet, dict]:
        path = resolve_model(name_or_path).resolve()
        key = (str(path), path.stat().st_mtime_ns, str(device))
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        payload = read_model(path)
        net = build_network(payload, path).to(device)
        net.requires_grad_(False)
        info = {k: payload[k] for k in ("network", "style", "settings", "step")}
        self._entries[key] = (net, info)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return net, info


loaded_models = ModelCache()

"""Decoder files: checkpoints while training, the finished model, and where the model is found.

A decoder file is a ``torch.save`` dict of tensors and plain data only (read with ``weights_only=True``):

  format      "painterly-decoder/1"
  encoder     {"network", "pool", "layer"}: the features the decoder inverts
  state       the decoder's weights (float16 in the shipped file, float32 in checkpoints)
  training    {"step", "seconds", "data", "settings", "losses"}; a checkpoint also keeps "optimizer"

The shipped decoder is ``decoder.pt`` beside this module; ``$PAINTERLY_DECODER`` names another file
(e.g. a larger one trained on a GPU).
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import torch

from .decoder import ENCODER_LAYER, ENCODER_NETWORK, ENCODER_POOL, Decoder

FORMAT = "painterly-decoder/1"
BUNDLED = Path(__file__).resolve().parent / "decoder.pt"


class DecoderError(ValueError):
    """The decoder file is missing, unreadable or made for another encoder."""


def decoder_path() -> Path:
    return Path(os.environ.get("PAINTERLY_DECODER") or BUNDLED).expanduser()


def encoder_info() -> dict:
    return {"network": ENCODER_NETWORK, "pool": ENCODER_POOL, "layer": ENCODER_LAYER}


def read(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DecoderError(f"decoder file not found: {path} (make one with: painterly train-decoder -o {path})")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which, never a traceback
        raise DecoderError(f"decoder file {path} is unreadable ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DecoderError(f"{path} is not a painterly decoder file")
    if data.get("encoder") != encoder_info():
        raise DecoderError(f"{path} inverts other features ({data.get('encoder')}), not {encoder_info()}")
    return data


def write(path, decoder: Decoder, training: dict, half: bool) -> None:
    state = {k: (v.detach().half() if half else v.detach().float()).cpu().clone()
             for k, v in decoder.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name beside the target, then one rename: an interrupted save leaves the old file whole.
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as f:
        torch.save({"format": FORMAT, "encoder": encoder_info(), "state": state, "training": training}, f)
    os.replace(f.name, path)


def build(data: dict, device) -> Decoder:
    decoder = Decoder()
    decoder.load_state_dict({k: v.float() for k, v in data["state"].items()})
    return decoder.to(device).eval().requires_grad_(False)


_LOCK = threading.Lock()
_LOADED: dict = {}


def loaded_decoder(device) -> Decoder:
    """The decoder on ``device``, read once per process (the daemon's device threads share it)."""
    path = decoder_path()
    key = (str(path), path.stat().st_mtime_ns if path.is_file() else 0, str(device))
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = build(read(path), device)
        return _LOADED[key]

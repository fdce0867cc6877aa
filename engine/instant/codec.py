"""Encoding images into the decoder's features and decoding features back into images.

Sizes: the encoder divides by 8, so an image is reflection-padded to a multiple of 8 and the decoded
image cropped back; any size goes through unchanged in shape. Precision: on a CPU whose oneDNN has
bfloat16 (AVX-512 BF16 or AMX) the two networks always run under bfloat16 autocast: the instant path
exists to be fast, and there it halves their time for at most a few 8-bit levels of difference
(bench/device_check.py); on CUDA ``half`` (the user's --half) is float16, elsewhere float32.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import torch
import torch.nn.functional as F

from ..device import autocast_context
from .decoder import ENCODER_LAYER, STRIDE, encoder
from .model_file import loaded_decoder
from .transforms import covariance_roots


def cpu_bfloat16() -> bool:
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _autocast(device: torch.device, half: bool):
    """The engine's autocast (float16 on CUDA with ``half``), and bfloat16 on CPUs that have it."""
    if device.type == "cpu" and cpu_bfloat16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return autocast_context(device, half)


def _pad(image: torch.Tensor):
    h, w = image.shape[-2:]
    ph, pw = (-h) % STRIDE, (-w) % STRIDE
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "replicate"
        image = F.pad(image, (0, pw, 0, ph), mode=mode)
    return image, (h, w)


class Codec:
    """The encoder and the decoder on one device."""

    def __init__(self, device: torch.device, half: bool = False):
        self.device, self.half = device, half
        self.decoder = loaded_decoder(device)
        self.encoder = encoder(device)

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """(relu4_1 features in float32, the image's size) of a 1×3×H×W image in [0, 1]."""
        padded, hw = _pad(image.to(self.device))
        with torch.inference_mode(), _autocast(self.device, self.half):
            feats = self.encoder(padded.contiguous(memory_format=torch.channels_last))[ENCODER_LAYER]
        return feats.float().contiguous(), hw

    def decode(self, features: torch.Tensor, hw) -> torch.Tensor:
        """A 1×3×H×W image in [0, 1] of size ``hw`` from features made by :meth:`encode` (transformed)."""
        with torch.inference_mode(), _autocast(self.device, self.half):
            out = self.decoder(features.contiguous(memory_format=torch.channels_last))
        return out.float()[..., :hw[0], :hw[1]].clamp(0, 1).contiguous()


def feature_mask(mask: torch.Tensor, feature_hw, threshold: float = 0.5) -> torch.Tensor:
    """A 1×1×H×W weight map at the features' resolution, as a bool H×W map of positions inside."""
    padded, _ = _pad(mask)
    return (F.adaptive_avg_pool2d(padded, tuple(feature_hw)) > threshold)[0, 0]


class StyleCache:
    """The encoded style images and their WCT roots, keyed by their pixels: a daemon serving many jobs
    against one painting encodes it once. Shared by the daemon's device threads, hence the lock."""

    def __init__(self, max_entries: int = 8):
        self.max_entries = max_entries
        self._entries: "OrderedDict[tuple, dict]" = OrderedDict()
        self._lock = threading.Lock()

    def get(self, codec: Codec, image: torch.Tensor, where: torch.Tensor | None = None,
            roots: bool = False) -> dict:
        """{"features", "where" (bool map at feature resolution or None), "roots" (if asked)}."""
        digest = hashlib.blake2b(image.detach().float().cpu().contiguous().numpy().tobytes(), digest_size=16)
        if where is not None:
            digest.update(where.detach().cpu().numpy().tobytes())
        key = (digest.hexdigest(), tuple(image.shape), str(codec.device), codec.half)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None:
            feats, _ = codec.encode(image)
            fwhere = None if where is None else feature_mask(where.to(codec.device), feats.shape[-2:])
            entry = {"features": feats, "where": fwhere}
        if roots and "roots" not in entry:
            entry["roots"] = covariance_roots(entry["features"], entry["where"])
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return entry


styles = StyleCache()

"""Conversions between the engine's two image forms, in one place.

Arrays: H×W×C (or H×W for masks) float32, as methods receive and return them. Tensors: 1×C×H×W (masks
1×1×H×W) float32 on a device, as the network and the losses see them.
"""
from __future__ import annotations

import numpy as np
import torch


def to_tensor(array: np.ndarray, device=None) -> torch.Tensor:
    """H×W×C → 1×C×H×W, H×W → 1×1×H×W (float32, contiguous; one copy for the channel permutation)."""
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    t = t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None].contiguous()
    return t.to(device) if device is not None else t


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """1×C×H×W → H×W×C, 1×1×H×W → H×W (float32 on the CPU, values unchanged)."""
    arr = tensor.detach()[0].float().cpu()
    return (arr[0] if arr.shape[0] == 1 else arr.permute(1, 2, 0)).numpy()


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """A 1×3×H×W tensor as an H×W×3 RGB array clipped to [0, 1]."""
    return to_numpy(tensor.detach().clamp(0, 1))

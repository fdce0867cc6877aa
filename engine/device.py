"""Choosing where the engine computes: CUDA, Apple MPS or the CPU."""
from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def available_devices() -> list[str]:
    """Names of the devices this machine can run on, best first."""
    names = []
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    names.append("cpu")
    return names


def select_device(name: str | None = "auto") -> torch.device:
    """Resolve a user's device choice; 'auto' picks the best available one.

    An explicit device that is not present is an error, not a silent fallback: a user who asks for
    the GPU and gets minutes of CPU time would not know why.
    """
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device(available_devices()[0])
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but no CUDA GPU is available (use --device cpu or auto)")
        return torch.device(name)
    if name == "mps":
        if "mps" not in available_devices():
            raise ValueError("device 'mps' requested but Apple MPS is not available (use --device cpu or auto)")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)} or cuda:N")


def autocast_context(device: torch.device, half: bool):
    """Mixed precision on GPUs when asked for; a no-op elsewhere (CPU half is slower, not faster)."""
    if half and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, enabled=False)

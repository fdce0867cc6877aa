"""The optimisation loop shared by all optimisation-based methods."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .convert import to_image
from .device import autocast_context


class Cancelled(Exception):
    """Raised inside the loop when the job's cancel token is set."""


class CancelToken:
    """Thread-safe flag checked by the optimiser every iteration."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self):
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self):
        if self._event.is_set():
            raise Cancelled("job cancelled")


@dataclass
class Progress:
    """One progress report: overall iteration counters, the loss terms, and sometimes a preview."""

    iteration: int
    total: int
    stage: str = ""
    losses: dict = field(default_factory=dict)
    preview: np.ndarray | None = None  # H×W×3 float32 in [0, 1]
    elapsed: float = 0.0


ProgressCallback = Callable[[Progress], None]


class ProgressCounter:
    """Counts iterations across the stages/levels of one job so progress reports stay monotonic."""

    def __init__(self, total: int, callback: ProgressCallback | None = None, cancel: CancelToken | None = None,
                 preview_every: int = 0):
        self.total, self.callback, self.cancel = max(1, total), callback, cancel
        self.preview_every = preview_every
        self.done = 0
        self.start = time.monotonic()

    def step(self, stage: str, losses: dict, image: torch.Tensor | None):
        self.done += 1
        if self.callback is not None:
            preview = None
            if image is not None and self.preview_every and (self.done % self.preview_every == 0):
                preview = to_image(image)
            self.callback(Progress(self.done, self.total, stage, losses, preview, time.monotonic() - self.start))
        if self.cancel is not None:
            self.cancel.check()


def warm_up() -> None:
    """Pay the first optimiser's one-off cost now: torch.optim imports torch's compiler stack on the first
    optimiser a process builds (2–4 s on a laptop CPU). The daemon calls this at start, so a user's first
    job spends its time budget on iterations rather than on an import."""
    torch.optim.LBFGS([torch.zeros(1, requires_grad=True)])


def optimize(image: torch.Tensor, loss_fn: Callable[[torch.Tensor], tuple[torch.Tensor, dict]],
             iterations: int, optimizer: str = "lbfgs", lr: float | None = None,
             counter: ProgressCounter | None = None, stage: str = "", half: bool = False,
             deadline: float | None = None, bounded: bool = False) -> torch.Tensor:
    """Minimise ``loss_fn(image)`` over the pixels of ``image``; returns the optimised image (detached).

    ``loss_fn`` returns ``(total_loss, {term_name: float})``. One call of the progress counter per
    iteration; a set cancel token raises :class:`Cancelled` within one iteration. ``half`` evaluates the
    network in float16 autocast on CUDA (the image and optimiser state stay float32). ``deadline`` (a
    ``time.monotonic()`` value) ends the loop after the iteration during which it passed. ``bounded`` clamps
    the image to [0, 1] before each evaluation (as Adam's steps are): unclamped, L-BFGS reaches part of its
    loss with values the output's clamp throws away (on a Gatys run, a style loss of 0.021 at the
    optimiser's point was 0.059 once clamped).
    """
    # contiguous: L-BFGS flattens the gradient with view(), which fails on a permuted (channels-last) image
    image = image.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    if counter is not None and counter.cancel is not None:
        counter.cancel.check()
    if optimizer == "lbfgs":
        # max_iter=1 per step keeps L-BFGS's history across steps and gives exactly one loss evaluation
        # per iteration, so progress and cancel are checked every iteration.
        opt = torch.optim.LBFGS([image], lr=lr or 1.0, max_iter=1, history_size=50,
                                tolerance_grad=-1, tolerance_change=-1)
    elif optimizer == "adam":
        opt = torch.optim.Adam([image], lr=lr or 0.02)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose lbfgs or adam")

    last_terms: dict = {}

    def closure():
        if bounded:
            with torch.no_grad():
                image.clamp_(0, 1)
        opt.zero_grad(set_to_none=True)
        with autocast_context(image.device, half):
            loss, terms = loss_fn(image)
        loss.float().backward()
        if bounded:  # a pixel at a bound is held there: the descent direction ignores its push outwards
            with torch.no_grad():
                grad = image.grad
                grad.masked_fill_(((image <= 0) & (grad > 0)) | ((image >= 1) & (grad < 0)), 0.0)
        last_terms.clear()
        last_terms.update(terms, total=float(loss.detach()))
        return loss

    for _ in range(iterations):
        opt.step(closure)
        if optimizer == "adam":  # Adam's steps leave [0, 1]: they are clamped back after each
            with torch.no_grad():
                image.clamp_(0, 1)
        if counter is not None:
            counter.step(stage, dict(last_terms), image)
        if deadline is not None and time.monotonic() >= deadline:
            break
    with torch.no_grad():
        return image.detach().clamp(0, 1)

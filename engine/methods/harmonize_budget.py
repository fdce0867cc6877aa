"""How big and how long: harmonize's working resolutions and iterations from a time budget and this
machine's measured speed.

A job runs a *draft* (pass 1 and pass 2 at a low resolution; the whole of ``preview``) and, for ``final``,
a *refinement* at a higher resolution that starts from the draft. The draft's budget is the same for both
qualities, so a preview is the final's own first stage. The speed (seconds per working pixel per
iteration) is first estimated from a few forward/backward passes of the network (once per process,
network, device and thread count), then replaced by what the optimisations of each job actually took
(so a probe disturbed by another program corrects itself after one job); the stages also stop at their
deadlines, so a slower-than-measured machine still finishes on time.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

PREVIEW_BUDGET = 7.0         # seconds: the whole preview, and the draft stage of a final
FINAL_BUDGET = 55.0          # seconds: a final (within a minute with post-processing and a margin)
DRAFT_ITERATIONS = (30, 20)  # pass 1, pass 2 of the draft
FINE_ITERATIONS = 40         # the refinement's pass 2
MAX_MORE_ITERATIONS = 3.0    # a fast machine whose resolution is capped runs up to this many times more
MIN_PIXELS = 48 * 48         # working pixels of the optimised region below which a stage is pointless
# Share of a stage's time outside its iterations (mappings, feature extraction, post-processing) and,
# until a job has been timed, the cost of an iteration relative to a bare forward/backward pass (the
# losses, the line search's extra evaluations, the optimiser step: about 2 on a CPU at preview sizes).
OVERHEAD = 0.25
LOSS_COST = 2.0
PROBE_HW = (96, 128)
# Seconds per working pixel per iteration planned with when the iterations are given explicitly: such a job
# is reproducible (the same resolutions, iterations and result on every machine, however loaded), so its
# plan must not depend on a measurement. About a 2-core laptop CPU's speed with VGG19.
REFERENCE_SPEED = 6e-5

_SPEED: dict = {}      # key -> (seconds per pixel-iteration, measured on jobs rather than probed)


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _key(extractor, device) -> tuple:
    return extractor.network, tuple(extractor.layers), str(device), torch.get_num_threads()


def record_speed(extractor, device, seconds: float, iterations: int, pixels: int) -> None:
    """What ``iterations`` at ``pixels`` working pixels took: replaces the probe's estimate, then is
    averaged (geometrically) with earlier jobs'."""
    if iterations < 3 or pixels <= 0 or seconds <= 0:
        return
    key, observed = _key(extractor, device), seconds / (iterations * pixels)
    known, timed = _SPEED.get(key, (observed, False))
    _SPEED[key] = (math.sqrt(known * observed) if timed else observed, True)


def seconds_per_pixel(extractor, device: torch.device) -> float:
    """Seconds per working pixel of one iteration on ``device``: what earlier jobs took, or before any,
    the best of two forward/backward passes at a probe size after a warm-up, times LOSS_COST."""
    key = _key(extractor, device)
    if key not in _SPEED:
        probe = torch.rand(1, 3, *PROBE_HW, device=device)

        def step():
            image = probe.clone().requires_grad_(True)
            sum(f.sum() for f in extractor(image).values()).backward()

        step()
        best = math.inf
        for _ in range(2):
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            best = min(best, time.perf_counter() - start)
        _SPEED[key] = (LOSS_COST * best / (PROBE_HW[0] * PROBE_HW[1]), False)
    return _SPEED[key][0]


@dataclass(frozen=True)
class Stage:
    pixels: int        # working pixels of the optimised region (the network's input)
    pass1: int         # iterations of pass 1 (independent mappings)
    pass2: int         # iterations of pass 2 (consistent mapping, all terms)

    @property
    def iterations(self) -> int:
        return self.pass1 + self.pass2


def _stage(seconds: float, speed: float, pass1: int, pass2: int, native: int) -> Stage:
    """The largest region (up to ``native`` pixels) whose iterations fit ``seconds``; at ``native`` the
    iterations grow instead, up to MAX_MORE_ITERATIONS times."""
    iterations = pass1 + pass2
    usable = max(0.0, seconds) / (1.0 + OVERHEAD)
    pixels = usable / (speed * iterations)
    if pixels >= native:
        more = min(MAX_MORE_ITERATIONS, usable / (speed * iterations * native))
        return Stage(int(native), int(round(pass1 * more)), int(round(pass2 * more)))
    if pixels >= MIN_PIXELS:
        return Stage(int(pixels), pass1, pass2)
    fewer = max(0.25, usable / (speed * iterations * MIN_PIXELS))   # a tiny budget: fewer iterations
    return Stage(int(min(MIN_PIXELS, native)), max(2, int(pass1 * fewer)), max(2, int(pass2 * fewer)))


def draft_seconds(budget: float, quality: str) -> float:
    """The draft's share of a job's budget: all of a preview's; a final's as long as a default preview."""
    return budget if quality == "preview" else min(PREVIEW_BUDGET, 0.2 * budget)


def plan_stages(budget: float, quality: str, speed: float, native: int) -> tuple[Stage, Stage | None]:
    """(draft, refinement or None) for ``budget`` seconds; ``native`` is the region's working pixels at
    the largest allowed scale."""
    draft_budget = draft_seconds(budget, quality)
    draft = _stage(draft_budget, speed, *DRAFT_ITERATIONS, native)
    if quality == "preview":
        return draft, None
    spent = draft_budget if draft.pixels < native else \
        draft.iterations * draft.pixels * speed * (1.0 + OVERHEAD)
    fine = _stage(budget - spent, speed, 0, FINE_ITERATIONS, native)
    if fine.pixels < 1.2 * draft.pixels:
        # no room for a sharper refinement: spend the time on the draft's resolution instead
        return _stage(budget, speed, *DRAFT_ITERATIONS, native), None
    return draft, fine

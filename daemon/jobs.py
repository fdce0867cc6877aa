"""Jobs, what the daemon admits, and the queue the local backend's workers take jobs from.

The queue's lock also guards each job's cancel token: a worker takes a job and makes its token under the
lock, and a cancel either removes the job from the queue or sets its token under the same lock, so a
cancel never falls between the two.
"""
from __future__ import annotations

import collections
import threading
import time
from pathlib import Path

from painterly.wire import protocol
from painterly.wire.protocol import ProtocolError


class Job:
    def __init__(self, job_id, method, params, images, preview_every, created=None):
        self.id, self.method, self.params, self.images = job_id, method, params, images
        self.preview_every = preview_every
        self.owner = None                   # who submitted it (kept in the journal with the job)
        self.state = "queued"
        self.created, self.started, self.finished = created or time.time(), None, None
        self.iteration, self.total, self.stage = 0, 0, ""
        self.error_code = self.error_message = None
        self.cancel = None                  # engine CancelToken, made by the worker
        self.cancel_requested = False
        self.watchers: set[bytes] = set()
        self.result = None                  # (header dict, [frame]) of the done event, while in memory
        self.result_bytes = 0
        self.result_path: Path | None = None
        self.device = None
        self.held_bytes = 0                 # input pixel bytes counted by the admission until the job ends

    def status(self, position=None) -> dict:
        out = {"id": self.id, "method": self.method, "state": self.state, "iteration": self.iteration,
               "total": self.total, "stage": self.stage, "created": self.created, "started": self.started,
               "finished": self.finished, "device": self.device}
        if position is not None:
            out["position"] = position
        if self.error_code:
            out["code"], out["message"] = self.error_code, self.error_message[:500]
        return out


class Admission:
    """What the daemon accepts, whichever backend runs the jobs: at most ``max_jobs`` waiting for a device,
    and at most ``max_bytes`` of input pixels held by the jobs waiting or running (a job's bytes count until
    :meth:`release`). Used by the socket loop only."""

    def __init__(self, max_jobs: int, max_bytes: int):
        self.max_jobs, self.max_bytes = max_jobs, max_bytes
        self.held_bytes = 0

    def admit(self, job: Job, waiting: int):
        """Count ``job`` in, or refuse it with QUEUE_FULL."""
        nbytes = sum(image.nbytes for image in job.images.values())
        if waiting >= self.max_jobs:
            raise ProtocolError(protocol.QUEUE_FULL, f"the daemon's queue is full ({waiting} jobs waiting); "
                                "try again later")
        if self.held_bytes + nbytes > self.max_bytes:
            raise ProtocolError(protocol.QUEUE_FULL, f"the daemon's queue is full: its jobs hold "
                                f"{self.held_bytes / 2**20:.0f} MiB of images and this job's "
                                f"{nbytes / 2**20:.0f} MiB would pass its limit of {self.max_bytes / 2**20:.0f} "
                                "MiB; try again later")
        self.hold(job)

    def hold(self, job: Job):
        """Count a job in without asking (one admitted by an earlier run of the daemon)."""
        job.held_bytes = sum(image.nbytes for image in job.images.values())
        self.held_bytes += job.held_bytes

    def release(self, job: Job):
        """The job finished: its input pixels no longer count."""
        self.held_bytes -= job.held_bytes
        job.held_bytes = 0


class JobQueue:
    """Jobs waiting for a worker, first in first out (the daemon decides what it admits)."""

    def __init__(self):
        self._jobs: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self.open = True

    def __len__(self):
        return len(self._jobs)

    def push(self, job) -> int:
        """Queue ``job``; returns its position."""
        with self._cond:
            self._jobs.append(job)
            self._cond.notify()
            return len(self._jobs) - 1

    def position(self, job) -> int | None:
        if job.state != "queued":
            return None
        with self._cond:
            for index, queued in enumerate(self._jobs):
                if queued is job:
                    return index
        return None

    def cancel(self, job) -> bool:
        """True when the job was still waiting (now removed); else its cancel token is set."""
        with self._cond:
            try:
                self._jobs.remove(job)
                return True
            except ValueError:
                job.cancel_requested = True
                if job.cancel is not None:
                    job.cancel.cancel()
                return False

    def take(self) -> Job | None:
        """The next job with its cancel token made (waits for one); None once the queue is closed."""
        from painterly.engine import CancelToken
        with self._cond:
            while self.open and not self._jobs:
                self._cond.wait(0.5)
            if not self.open:
                return None
            job = self._jobs.popleft()
            job.cancel = CancelToken()
            if job.cancel_requested:
                job.cancel.cancel()
            return job

    def close(self):
        """Drop the waiting jobs and wake the workers so they stop."""
        with self._cond:
            self.open = False
            self._jobs.clear()
            self._cond.notify_all()


def import_method(spec: str):
    """The Method declared at ``MODULE:ATTR`` (a test method: see DaemonConfig.test_methods)."""
    import importlib
    from painterly.engine.methods.base import Method
    module, _, attr = spec.partition(":")
    method = getattr(importlib.import_module(module), attr, None)
    if not isinstance(method, Method):
        raise ValueError(f"{spec} is not a painterly Method declaration")
    return method


def echo_method():
    """A daemon-internal method with no compute: returns the base input unchanged (as RGBA).
    ``iterations``/``delay`` make it report progress slowly, for tests of queueing and cancel."""
    from painterly.engine.methods.base import InputSpec, Method, Param
    return Method(
        name="echo", summary="test method: returns the content unchanged (daemon --allow-test-methods)",
        inputs=(InputSpec("content", "rgb", help="image returned as is"),),
        params=(Param("iterations", int, 0, "progress steps to report", 0, 100000),
                Param("delay", float, 0.0, "seconds per step", 0.0, 10.0)),
        run=None)


def check_inputs(method, images):
    """Every image is one of the method's inputs (masks with one channel), every required one is there."""
    kinds = {spec.name: spec for spec in method.inputs}
    for name, image in images.items():
        spec = kinds.get(name)
        if spec is None:
            raise ProtocolError(protocol.BAD_PARAMS, f"method {method.name!r} takes no input {name!r}; "
                                f"its inputs are {', '.join(kinds)}")
        if spec.kind == "mask" and image.channels != 1:
            raise ProtocolError(protocol.BAD_PARAMS, f"input {name!r} is a mask: send 1 channel, "
                                f"not {image.channels}")
    missing = [s.name for s in method.inputs if s.required and s.name not in images]
    if missing:
        raise ProtocolError(protocol.BAD_PARAMS, f"method {method.name!r} needs the input(s) {', '.join(missing)}")

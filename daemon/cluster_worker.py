"""The painterly side of a Dask worker: a worker plugin that loads the engine and its weights once and
hands out the machine's GPUs, and :func:`run_job`, the task every painterly job runs as.

A job that asked the scheduler for a ``GPU`` resource takes one of the worker's CUDA devices for its
duration (a worker started with ``--gpus N`` runs up to N such jobs at once, one per device); any other
job runs on the CPU. Progress and previews go to the daemon as Dask events (``Worker.log_event`` on the
daemon's topic). Cancel is Dask's own: when the daemon cancels the future, or disappears, the scheduler
releases the task and the job's cancel token sees it at its next iteration.
"""
from __future__ import annotations

import logging
import queue
import threading
import time

from distributed import WorkerPlugin, get_worker

from painterly.wire import protocol

from .jobs import Job, echo_method
from .workers import execute

log = logging.getLogger("painterly.worker")

PLUGIN_NAME = "painterly"
ACTIVE_STATES = ("executing", "long-running")
LOAD_LOCK = threading.Lock()


class PainterlyWorker(WorkerPlugin):
    """Installed on every painterly worker (``painterly worker``, or ``Client.register_plugin``)."""

    name = PLUGIN_NAME

    def __init__(self, gpus: int = 0, threads: int = 0, half: bool = False, warm: bool = True):
        self.gpus, self.threads, self.half, self.warm = gpus, threads, half, warm
        self.free_gpus: queue.SimpleQueue | None = None
        self.methods: dict = {}

    async def setup(self, worker):
        import asyncio
        self.free_gpus = queue.SimpleQueue()
        for index in range(self.gpus):
            self.free_gpus.put(f"cuda:{index}")
        await asyncio.get_running_loop().run_in_executor(None, self.load)

    def load(self):
        """Import the engine, set its threads and read the network weights into memory, once."""
        import torch

        from painterly import engine
        from painterly.engine.weights import SOURCES, MissingWeightsError, load_state_dict
        if self.threads:
            torch.set_num_threads(self.threads)
        with LOAD_LOCK:
            if self.methods:
                return
            for name in engine.method_names():
                try:
                    self.methods[name] = engine.get_method(name)
                except Exception as exc:  # an unavailable method must not take the worker down
                    log.warning("method %s unavailable: %s", name, exc)
            self.methods["echo"] = echo_method()
        if self.warm:
            engine.warm_up()
            for arch in SOURCES:
                try:
                    load_state_dict(arch)
                except MissingWeightsError as exc:
                    log.warning("%s", exc)

    def take_device(self, wants_gpu: bool) -> str:
        if wants_gpu and self.free_gpus is not None:
            try:
                return self.free_gpus.get_nowait()
            except queue.Empty:
                pass
        return "cpu"

    def give_back(self, device: str):
        if device.startswith("cuda") and self.free_gpus is not None:
            self.free_gpus.put(device)


def plugin_of(worker) -> PainterlyWorker:
    """This worker's painterly plugin; a plain ``dask worker`` gets a default one (CPU, no GPU hand-out)."""
    plugin = worker.plugins.get(PLUGIN_NAME)
    if plugin is None:
        plugin = worker.plugins.setdefault(PLUGIN_NAME, PainterlyWorker(warm=False))
    plugin.load()
    return plugin


class TaskCancelToken:
    """The engine's cancel token for a task: set by the daemon's cancel, or once the scheduler released the
    task (its future was cancelled, or its daemon disconnected). Checked every iteration, reading only the
    worker's own task table."""

    def __init__(self, worker, key):
        from painterly.engine import CancelToken
        self.token, self.worker, self.key = CancelToken(), worker, key

    def cancel(self):
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        if not self.token.cancelled:
            task = self.worker.state.tasks.get(self.key)
            if task is None or task.state not in ACTIVE_STATES:
                self.token.cancel()
        return self.token.cancelled

    def check(self):
        from painterly.engine import Cancelled
        if self.cancelled:
            raise Cancelled("job cancelled")


def run_job(key, topic, job_id, method, params, images, preview_every, created, half=False):
    """The Dask task of one painterly job: ``execute`` on this worker's device. Returns the final event
    (kind, header, [bytes]); running and progress events go to the daemon on ``topic`` as they come (none
    without a topic)."""
    worker = get_worker()
    plugin = plugin_of(worker)
    if method not in plugin.methods:
        return "failed", {"code": protocol.ENGINE, "message": f"the worker {worker.address} has no method "
                          f"{method!r}: update painterly there"}, []
    task = worker.state.tasks.get(key)
    wants_gpu = bool(task is not None and (task.resource_restrictions or {}).get("GPU"))
    device = plugin.take_device(wants_gpu)
    job = Job(job_id, method, params, images, preview_every, created=created)
    job.cancel = TaskCancelToken(worker, key)

    def emit(kind, job, header=None, frames=()):
        if topic is not None:
            worker.log_event(topic, {"key": key, "kind": kind, "header": header or {},
                                     "frames": [bytes(f) for f in frames]})

    job.started = time.time()
    try:
        emit("running", job, {"device": f"{worker.name or worker.address} {device}"})
        import torch
        kind, header, frames = execute(job, plugin.methods[method], torch.device(device),
                                       half or plugin.half, emit)
    finally:
        plugin.give_back(device)
    if kind == "cancelled":
        emit("stopped", job, header)
    return kind, header, [bytes(f) for f in frames]

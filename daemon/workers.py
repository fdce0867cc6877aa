"""Running jobs: :func:`execute` runs one job on one device and turns every outcome into an event (used by
both backends), and :class:`LocalBackend` computes jobs in this process, one thread per device. Every
failure becomes a sentence for the user; a bug in a job never takes the daemon down."""
from __future__ import annotations

import logging
import threading
import time
import traceback

from painterly.wire import protocol

from . import buffers
from .jobs import JobQueue

log = logging.getLogger("painterly.daemon")


class LocalBackend:
    """The embedded backend: a queue in this process and one worker thread per device."""

    def __init__(self, devices, methods: dict, events, half: bool = False):
        self.devices, self.methods, self.events = list(devices), methods, events
        self.half = half
        self.queue = JobQueue()
        self.threads: list[threading.Thread] = []
        self.running: dict[str, object] = {}   # device -> the job it computes

    def start(self):
        # The optimiser's one-off import, in the background: the daemon is ready at once, and a first job
        # arriving meanwhile waits only for what is left of it instead of spending its time budget on it.
        threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
        for device in self.devices:
            thread = threading.Thread(target=self._loop, args=(device,), name=f"worker-{device}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def submit(self, job) -> int:
        return self.queue.push(job)

    def waiting(self) -> int:
        return len(self.queue)

    def position(self, job) -> int | None:
        return self.queue.position(job)

    def cancel(self, job) -> bool:
        return self.queue.cancel(job)

    def stop(self, timeout=5) -> bool:
        """Drop the waiting jobs, interrupt the running ones and wait for the threads; True when all stopped.
        The jobs stay in the daemon's journal, so the next start runs them again."""
        self.queue.close()
        for job in list(self.running.values()):
            job.cancel.cancel()
        for thread in self.threads:
            thread.join(timeout=timeout)
        return not any(t.is_alive() for t in self.threads)

    def _loop(self, device_name):
        import torch
        device = torch.device(device_name)
        emit = self.events.sender()
        try:
            while True:
                job = self.queue.take()
                if job is None:
                    return
                self.running[device_name] = job
                emit("running", job, {"device": device_name})
                kind, header, frames = execute(job, self.methods[job.method], device, self.half, emit)
                self.running.pop(device_name, None)
                emit(kind, job, header, frames)
        finally:
            emit.close()


def warm_up():
    try:
        from painterly import engine
        engine.warm_up()
    except Exception as exc:   # only an optimisation: the first job would pay it instead
        log.warning("warm-up failed: %s", exc)


def execute(job, method, device, half, emit):
    """Run ``job`` (its ``cancel`` token made) on ``device``; progress goes to ``emit`` as it comes.

    Returns the final event: ("done", header, [pixels]), ("failed", {"code", "message"}, []) or
    ("cancelled", {"iteration"}, [])."""
    from painterly import engine
    start = time.monotonic()
    try:
        if job.method == "echo":
            image = run_echo(job, emit)
        else:
            image = run_engine(job, method, device, half, emit)
    except engine.Cancelled:
        return "cancelled", {"iteration": job.iteration}, []
    except (engine.ParameterError, engine.ImageError, engine.MaskError, ValueError) as exc:
        return "failed", {"code": protocol.BAD_PARAMS, "message": str(exc)}, []
    except engine.MissingWeightsError as exc:
        return "failed", {"code": protocol.ENGINE, "message": str(exc)}, []
    except MemoryError:
        return "failed", {"code": protocol.ENGINE, "message": "the worker ran out of memory on this job; "
                          "try a smaller size"}, []
    except Exception as exc:
        log.error("job %s failed: %s", job.id, traceback.format_exc())
        message = f"the engine failed: {type(exc).__name__}: {exc}"
        if "out of memory" in str(exc).lower():
            message = "the device ran out of memory on this job; try a smaller size or quality 'preview'"
        return "failed", {"code": protocol.ENGINE, "message": message}, []
    meta = {"method": job.method, "params": job.params, "device": str(device),
            "compute_seconds": round(time.monotonic() - start, 4),
            "queued_seconds": round((job.started or time.time()) - job.created, 4)}
    return "done", protocol.event(job.id, "done", image=image.descriptor(0), meta=meta), [image.data]


def compute_layer(method, images: dict, params: dict, device, half=False, progress=None, cancel=None,
                  preview_every=0):
    """The one way a job's images become its result layer (an RGBA ImageBuffer), in the daemon, on a cluster
    worker and in the command line's own process alike, so that every path gives the same pixels: the wire
    buffers as the engine's inputs, its output at the base input's depth and offsets."""
    from painterly import engine
    kinds = {s.name: s.kind for s in method.inputs}
    inputs = {name: buffers.to_input(buf, kinds[name]) for name, buf in images.items()}
    output = engine.run_output(method, inputs, params, device=device, progress=progress, cancel=cancel, half=half,
                               preview_every=preview_every)
    return buffers.result_buffer(output.rgb, output.alpha, images[method.base_input])


def run_engine(job, method, device, half, emit):
    """The job's result layer (an RGBA ImageBuffer), progress and previews sent through ``emit``."""

    def progress(p):
        job.iteration = p.iteration
        header = protocol.event(job.id, "progress", iteration=p.iteration, total=p.total, stage=p.stage,
                                losses={k: float(v) for k, v in p.losses.items()})
        frames = []
        if p.preview is not None:
            preview = buffers.preview_buffer(p.preview)
            header["preview"] = preview.descriptor(0)
            frames = [preview.data]
        emit("progress", job, header, frames)

    return compute_layer(method, job.images, job.params, device, half, progress, job.cancel, job.preview_every)


def run_echo(job, emit):
    """The test method: progress steps with a delay, then the content unchanged."""
    total = job.params["iterations"]
    for step in range(1, total + 1):
        job.cancel.check()
        time.sleep(job.params["delay"])
        job.iteration = step
        emit("progress", job, protocol.event(job.id, "progress", iteration=step, total=total,
                                             stage="echo", losses={}))
    job.cancel.check()
    return buffers.echo_result(job.images["content"])

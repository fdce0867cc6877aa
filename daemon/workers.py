"""The engine workers: one thread per device takes jobs from the queue, runs the engine and reports
progress, the result or the failure as events. Every failure becomes a sentence for the user; a bug in a
job never takes the daemon down."""
from __future__ import annotations

import logging
import threading
import time
import traceback

from painterly.wire import protocol

from . import buffers

log = logging.getLogger("painterly.daemon")


class LocalWorkers:
    """Computes jobs in this process, one thread per device."""

    def __init__(self, devices, jobs, methods: dict, events, half: bool = False, on_result=None):
        self.devices, self.jobs, self.methods, self.events = list(devices), jobs, methods, events
        self.half = half
        self.on_result = on_result          # (job, done header, pixels) after each result, e.g. to store it
        self.threads: list[threading.Thread] = []

    def start(self):
        for device in self.devices:
            thread = threading.Thread(target=self._loop, args=(device,), name=f"worker-{device}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self, timeout=5) -> bool:
        """Wait for the workers to stop (after the queue was closed); True when all did."""
        for thread in self.threads:
            thread.join(timeout=timeout)
        return not any(t.is_alive() for t in self.threads)

    def _loop(self, device_name):
        import torch
        device = torch.device(device_name)
        emit = self.events.sender()
        try:
            while True:
                job = self.jobs.take()
                if job is None:
                    return
                emit("running", job, {"device": device_name})
                self.run_job(job, device, emit)
        finally:
            emit.close()

    def run_job(self, job, device, emit):
        from painterly import engine
        start = time.monotonic()
        method = self.methods[job.method]
        try:
            if job.method == "echo":
                image = run_echo(job, emit)
            else:
                image = run_engine(job, method, device, self.half, emit)
        except engine.Cancelled:
            emit("cancelled", job)
            return
        except (engine.ParameterError, engine.ImageError, engine.MaskError, ValueError) as exc:
            emit("failed", job, {"code": protocol.BAD_PARAMS, "message": str(exc)})
            return
        except engine.MissingWeightsError as exc:
            emit("failed", job, {"code": protocol.ENGINE, "message": str(exc)})
            return
        except MemoryError:
            emit("failed", job, {"code": protocol.ENGINE, "message": "the daemon ran out of memory on this job; "
                                 "try a smaller size"})
            return
        except Exception as exc:
            log.error("job %s failed: %s", job.id, traceback.format_exc())
            message = f"the engine failed: {type(exc).__name__}: {exc}"
            if "out of memory" in str(exc).lower():
                message = "the device ran out of memory on this job; try a smaller size or quality 'preview'"
            emit("failed", job, {"code": protocol.ENGINE, "message": message})
            return
        meta = {"method": job.method, "params": job.params, "device": str(device),
                "compute_seconds": round(time.monotonic() - start, 4),
                "queued_seconds": round((job.started or time.time()) - job.created, 4)}
        header = protocol.event(job.id, "done", image=image.descriptor(0), meta=meta)
        emit("done", job, header, [image.data])
        if self.on_result is not None:
            self.on_result(job, header, image.data)


def run_engine(job, method, device, half, emit):
    """The job's result layer (an RGBA ImageBuffer), progress and previews sent through ``emit``."""
    from painterly import engine
    kinds = {s.name: s.kind for s in method.inputs}
    inputs = {name: buffers.to_input(buf, kinds[name]) for name, buf in job.images.items()}

    def progress(p):
        header = protocol.event(job.id, "progress", iteration=p.iteration, total=p.total, stage=p.stage,
                                losses={k: float(v) for k, v in p.losses.items()})
        frames = []
        if p.preview is not None:
            preview = buffers.preview_buffer(p.preview)
            header["preview"] = preview.descriptor(0)
            frames = [preview.data]
        emit("progress", job, header, frames)

    output = engine.run_output(method, inputs, job.params, device=device, progress=progress,
                               cancel=job.cancel, half=half, preview_every=job.preview_every)
    return buffers.result_buffer(output.rgb, output.alpha, job.images[method.base_input])


def run_echo(job, emit):
    """The test method: progress steps with a delay, then the content unchanged."""
    from painterly.engine import Cancelled
    total = job.params["iterations"]
    for step in range(1, total + 1):
        if job.cancel.cancelled:
            raise Cancelled("job cancelled")
        time.sleep(job.params["delay"])
        emit("progress", job, protocol.event(job.id, "progress", iteration=step, total=total,
                                             stage="echo", losses={}))
    if job.cancel.cancelled:
        raise Cancelled("job cancelled")
    return buffers.echo_result(job.images["content"])

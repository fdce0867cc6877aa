"""Where ``painterly batch`` computes: a Dask cluster (a scheduler's address, or a LocalCluster started in
this process and sized to the machine) or a running daemon. Each runner takes an iterator of jobs
``(tag, method, params, {input: ImageBuffer})`` and yields ``(tag, "done", result ImageBuffer)`` or
``(tag, "failed", message)`` as jobs finish, keeping only a few jobs ahead of the results."""
from __future__ import annotations

import collections
import logging
import os
import time
import uuid

from painterly.wire import protocol
from painterly.wire.protocol import ImageBuffer

from .errors import UserError

RESULT_LIMITS = {"max_side": 1 << 20, "max_pixels": 1 << 62}


def as_bytes(image: ImageBuffer) -> ImageBuffer:
    """A picklable copy of a buffer (its pixels as bytes)."""
    return ImageBuffer(image.width, image.height, image.channels, image.depth, bytes(image.data), image.x, image.y)


def local_cluster_layout(workers: int | None) -> tuple[int, int, dict, int]:
    """(worker processes, threads each, resources each, torch threads per job) for this machine: one
    process driving every GPU, else up to 4 single-job CPU workers sharing the cores."""
    import torch
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    cores = os.cpu_count() or 1
    if gpus and not workers:
        return 1, gpus, {"GPU": gpus}, 1
    count = workers or min(cores, 4)
    return count, 1, {"CPU": 1}, max(1, cores // count)


class DaskRunner:
    def __init__(self, address: str | None = None, workers: int | None = None, security=None,
                 device: str = "auto"):
        self.address, self.workers, self.security, self.device = address, workers, security, device
        self.cluster = self.client = None

    def __enter__(self):
        from distributed import Client, LocalCluster

        from painterly.daemon.cluster_worker import PainterlyWorker
        if self.address is None:
            count, threads, resources, torch_threads = local_cluster_layout(self.workers)
            self.cluster = LocalCluster(n_workers=count, threads_per_worker=threads, resources=resources,
                                        processes=True, dashboard_address="127.0.0.1:0",
                                        silence_logs=logging.ERROR)
            self.client = Client(self.cluster, set_as_default=False)
            # Weights load with the first job that needs them: a batch uses one network, not every one.
            self.client.register_plugin(PainterlyWorker(gpus=resources.get("GPU", 0), threads=torch_threads,
                                                        warm=False))
        else:
            try:
                self.client = Client(self.address, security=self.security, timeout=20, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise UserError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from None
        return self

    def __exit__(self, *exc):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def slots(self) -> int:
        workers = self.client.scheduler_info(-1).get("workers", {})
        return max(1, sum(w.get("nthreads", 1) for w in workers.values()))

    def run(self, jobs):
        from distributed import as_completed

        from painterly.daemon.cluster import job_resources
        from painterly.daemon.cluster_worker import run_job
        workers = self.client.scheduler_info(-1).get("workers", {})
        resources = job_resources({a: w.get("resources") or {} for a, w in workers.items()}, self.device)
        tags, done = {}, as_completed(loop=self.client.loop)
        source = iter(jobs)

        def feed(count):
            for tag, method, params, images in source:
                key = f"painterly-batch-{uuid.uuid4().hex}"
                future = self.client.submit(run_job, key, None, key, method, params,
                                            {n: as_bytes(b) for n, b in images.items()}, 0, time.time(),
                                            key=key, pure=False, resources=resources)
                tags[future.key] = tag
                done.add(future)
                count -= 1
                if count <= 0:
                    return

        feed(2 * self.slots())
        for future in done:
            tag = tags.pop(future.key)
            try:
                kind, header, frames = future.result()
            except Exception as exc:  # the task itself failed (e.g. every worker running it died)
                yield tag, "failed", f"{type(exc).__name__}: {exc}"
            else:
                if kind == "done":
                    yield tag, "done", protocol.decode_image("result", header["image"], frames, RESULT_LIMITS)
                else:
                    yield tag, "failed", header.get("message", kind)
            future.release()
            feed(1)


class DaemonRunner:
    def __init__(self, endpoint: str, token=None, timeout: float = 30.0):
        self.endpoint, self.token, self.timeout = endpoint, token, timeout

    def __enter__(self):
        from painterly.wire.client import Client, DaemonUnavailable
        self.client = Client(self.endpoint, timeout=self.timeout, token=self.token)
        try:
            self.limits = self.client.handshake()["limits"]
        except DaemonUnavailable as exc:
            self.client.close()
            raise UserError(str(exc)) from None
        return self

    def __exit__(self, *exc):
        self.client.close()

    def run(self, jobs):
        from painterly.wire.client import DaemonError, DaemonUnavailable
        window = max(1, min(8, self.limits.get("max_queue", 8) // 2))
        inflight = collections.deque()
        source = iter(jobs)

        def feed():
            for tag, method, params, images in source:
                try:
                    inflight.append((tag, self.client.submit(method, params, images)))
                except DaemonUnavailable as exc:
                    raise UserError(str(exc)) from None
                except DaemonError as exc:
                    inflight.append((tag, exc))
                if len(inflight) >= window:
                    return

        feed()
        while inflight:
            tag, job_id = inflight.popleft()
            if isinstance(job_id, DaemonError):
                yield tag, "failed", str(job_id)
            else:
                try:
                    yield tag, "done", self.client.wait(job_id).image
                except DaemonUnavailable as exc:
                    raise UserError(str(exc)) from None
                except DaemonError as exc:
                    yield tag, "failed", str(exc)
            feed()

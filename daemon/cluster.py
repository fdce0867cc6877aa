"""The ``dask`` backend: every job becomes a future on a Dask distributed cluster (``painterly daemon
--cluster tcp://SCHEDULER:8786``), computed by :func:`~.cluster_worker.run_job` on a ``painterly worker``.

Dask places the jobs (a job asks for a ``GPU`` or ``CPU`` resource), reschedules a job whose worker died
and cancels a future on request. One thread here does everything that talks to the cluster, in arrival
order: it submits, cancels, collects finished futures and forwards the workers' events (``log_event`` on
this daemon's topic) to the socket loop, so a job's events never overtake its result.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid

from painterly.wire import protocol
from painterly.wire.protocol import ImageBuffer

log = logging.getLogger("painterly.daemon")

CONNECT_TIMEOUT = 20          # seconds to reach the scheduler at start
CANCEL_CONFIRM = 10.0         # seconds to wait for a running job's worker to say it stopped
WORKERS_REFRESH = 5.0         # seconds between looks at the cluster's workers


class ClusterUnavailable(RuntimeError):
    """The scheduler could not be reached."""


class Entry:
    """One job in flight on the cluster."""

    def __init__(self, job):
        self.job = job
        self.images = {n: ImageBuffer(b.width, b.height, b.channels, b.depth, bytes(b.data), b.x, b.y)
                       for n, b in job.images.items()}
        self.future = None
        self.running = self.cancel_requested = self.dropped = False
        self.cancelled_at = None      # when its future was cancelled on request
        self.stopped = None           # the iteration its worker stopped at


class DaskBackend:
    def __init__(self, address: str, events, device: str = "auto", half: bool = False, security=None,
                 name: str = "painterly"):
        self.address, self.events, self.device, self.half, self.security = address, events, device, half, security
        self.topic = f"painterly-events-{name}"
        self.lock = threading.Lock()
        self.by_job: dict[str, Entry] = {}      # job id -> entry, in submission order
        self.by_key: dict[str, Entry] = {}      # the current Dask key of each entry
        self.inbox: queue.Queue = queue.Queue()
        self.workers: dict[str, dict] = {}     # worker address -> its resources
        self.devices = [f"cluster {address}"]
        self.running = False
        self.client = None

    # --- interface ---------------------------------------------------------------------------------

    def start(self):
        import dask
        from distributed import Client
        # Job inputs travel inside the task (kept by the scheduler, so a job survives its worker's death).
        dask.config.set({"distributed.admin.large-graph-warning-threshold": "4GiB"})
        try:
            self.client = Client(self.address, security=self.security, timeout=CONNECT_TIMEOUT,
                                 set_as_default=False, name=f"painterly-daemon-{self.topic}")
        except (OSError, TimeoutError) as exc:
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {self.address}: {exc}") from None
        self.client.subscribe_topic(self.topic, lambda event: self.inbox.put(("event", event[1])))
        self.refresh_workers()
        self.running = True
        self.thread = threading.Thread(target=self._loop, name="cluster", daemon=True)
        self.thread.start()
        log.info("jobs go to the Dask cluster at %s (%d workers)", self.address, len(self.workers))

    def submit(self, job) -> int:
        entry = Entry(job)
        with self.lock:
            self.by_job[job.id] = entry
            position = self.waiting() - 1
        self.inbox.put(("submit", entry))
        return position

    def waiting(self) -> int:
        return sum(1 for entry in list(self.by_job.values()) if not entry.running)

    def position(self, job) -> int | None:
        if job.state != "queued":
            return None
        waiting = [entry.job for entry in list(self.by_job.values()) if not entry.running]
        return next((index for index, queued in enumerate(waiting) if queued is job), None)

    def cancel(self, job) -> bool:
        with self.lock:
            entry = self.by_job.get(job.id)
            if entry is None:
                return False
            entry.cancel_requested = True
            dropped = not entry.running
            if dropped:
                self._forget(entry)
        self.inbox.put(("cancel", entry))
        return dropped

    def stop(self, timeout=5) -> bool:
        """Stop talking to the cluster; the scheduler then releases this daemon's futures and their workers
        stop within an iteration. The jobs stay in the daemon's journal."""
        self.running = False
        if self.client is None:
            return True
        self.thread.join(timeout)
        try:
            self.client.close(timeout=timeout)
        except Exception as exc:  # a scheduler already gone
            log.info("closing the cluster connection: %s", exc)
        return not self.thread.is_alive()

    # --- the cluster thread ------------------------------------------------------------------------

    def _loop(self):
        emit = self.events.sender()
        next_refresh = time.monotonic() + WORKERS_REFRESH
        retry: list[Entry] = []
        try:
            while self.running:
                try:
                    kind, item = self.inbox.get(timeout=0.5)
                except queue.Empty:
                    kind, item = None, None
                if kind == "submit" and not item.dropped:
                    self._send(item, retry)
                elif kind == "cancel" and item.future is not None:
                    self._call(item.future.cancel)
                elif kind == "finished":
                    self._finished(item, emit, retry)
                elif kind == "event":
                    self._event(item, emit)
                self._confirm_cancels(emit)
                if retry and self.client.status == "running":
                    waiting, retry[:] = [e for e in retry if not e.dropped], []
                    for entry in waiting:
                        self._send(entry, retry)
                if time.monotonic() > next_refresh:
                    self.refresh_workers()
                    next_refresh = time.monotonic() + WORKERS_REFRESH
        finally:
            emit.close()

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except Exception as exc:  # the scheduler is unreachable: the client reconnects by itself
            log.warning("cluster call failed: %s", exc)
            return None

    def _send(self, entry: Entry, retry: list):
        from .cluster_worker import run_job
        job = entry.job
        if self.client.status != "running":  # reconnecting to the scheduler: sent once it is back
            retry.append(entry)
            return
        key = f"painterly-{job.id}-{uuid.uuid4().hex[:8]}"
        try:
            future = self.client.submit(run_job, key, self.topic, job.id, job.method, job.params, entry.images,
                                        job.preview_every, job.created, self.half, key=key, pure=False,
                                        resources=self.resources())
        except Exception as exc:
            log.warning("could not send job %s to the cluster (retrying): %s", job.id, exc)
            retry.append(entry)
            return
        with self.lock:
            if entry.future is not None:
                self.by_key.pop(entry.future.key, None)
            entry.future, entry.running = future, False
            self.by_key[key] = entry
        future.add_done_callback(lambda f: self.inbox.put(("finished", f.key)))

    def _finished(self, key, emit, retry):
        entry = self.by_key.get(key)
        if entry is None or entry.dropped:
            return
        future = entry.future
        if future.status == "finished":
            outcome = self._call(future.result)
            if outcome is None:
                return self._send(entry, retry)   # the result was lost with its worker: compute it again
            kind, header, frames = outcome
            if kind == "cancelled" and not entry.cancel_requested:
                return self._send(entry, retry)   # released by the scheduler (e.g. it restarted): run again
            return self._final(entry, emit, kind, header, frames)
        if future.status == "error":
            exc = self._call(future.exception)
            if type(exc).__name__ == "KilledWorker":
                message = ("every worker that ran this job died while computing it; it may need more memory "
                           "than the workers have")
            else:
                message = f"the job failed on the cluster: {type(exc).__name__}: {exc}"
            return self._final(entry, emit, "failed", {"code": protocol.ENGINE, "message": message})
        if entry.cancel_requested:
            entry.cancelled_at = time.monotonic()
        else:  # cancelled or lost without asking: the scheduler connection dropped; submit it again
            log.info("job %s: its future was %s; sending it again", entry.job.id, future.status)
            self._send(entry, retry)

    def _event(self, msg, emit):
        entry = self.by_key.get(msg.get("key"))
        if entry is None or entry.dropped:
            return
        kind, header = msg.get("kind"), msg.get("header") or {}
        if kind == "stopped":
            entry.stopped = header.get("iteration", 0)
        elif entry.cancel_requested:
            return
        elif kind == "running":
            entry.running = True
            emit("running", entry.job, {"device": header.get("device", "?")})
        elif kind == "progress":
            emit("progress", entry.job, header, msg.get("frames") or [])

    def _confirm_cancels(self, emit):
        """A cancelled running job is reported once its worker stopped (or did not say so in time)."""
        now = time.monotonic()
        for entry in [e for e in list(self.by_key.values()) if e.cancelled_at is not None]:
            if entry.stopped is not None or now - entry.cancelled_at > CANCEL_CONFIRM:
                self._final(entry, emit, "cancelled", {"iteration": entry.stopped or entry.job.iteration})

    def _final(self, entry, emit, kind, header, frames=()):
        with self.lock:
            self._forget(entry)
        emit(kind, entry.job, header, frames)

    def _forget(self, entry):
        entry.dropped = True
        self.by_job.pop(entry.job.id, None)
        if entry.future is not None:
            self.by_key.pop(entry.future.key, None)

    # --- the cluster's workers ---------------------------------------------------------------------

    def refresh_workers(self):
        info = self._call(self.client.scheduler_info, -1)
        if info is None:
            return
        self.workers = {addr: dict(w.get("resources") or {}) for addr, w in info.get("workers", {}).items()}
        self.devices = [f"{addr} ({', '.join(f'{k} {v:g}' for k, v in sorted(res.items())) or 'no resources'})"
                        for addr, res in sorted(self.workers.items())] or [f"cluster {self.address}: no workers yet"]

    def resources(self) -> dict | None:
        return job_resources(self.workers, self.device)


def job_resources(workers: dict, device: str = "auto") -> dict | None:
    """What a job asks the scheduler for, given each worker's resources: a GPU when ``device`` wants one
    (cuda) or, with ``auto``, when the cluster has one; else a CPU slot. None when no worker declares
    resources (plain Dask workers)."""
    has = {name for res in workers.values() for name, amount in res.items() if amount > 0}
    wanted = device.lower()
    if wanted.startswith("cuda") or wanted == "gpu" or (wanted == "auto" and "GPU" in has):
        return {"GPU": 1}
    return {"CPU": 1} if "CPU" in has else None

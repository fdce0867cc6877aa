"""The painterly daemon's socket loop: a ZeroMQ ROUTER that validates requests, queues jobs, routes
events and serves results.

The loop never computes: jobs go to a backend (:mod:`.backend`: this process's devices, or a Dask
cluster), whose events come back through an :class:`~.events.EventChannel`. Every admitted job is in the
journal (:mod:`.journal`) with its inputs until it finished, so a restarted daemon runs it again. Finished
results stay in memory (within a budget) and on disk (:mod:`.store`) for ``keep_results`` seconds, so a
client that disconnected can fetch them with ``watch``. Who may connect is settled before a message is read (:mod:`.access`); messages are
read and sent within memory bounds (:mod:`.transport`).
"""
from __future__ import annotations

import collections
import itertools
import logging
import os
import signal
import threading
import time
import traceback
import uuid
from pathlib import Path

import zmq

from painterly.wire import protocol
from painterly.wire.protocol import ProtocolError
from painterly.wire.validate import parse_request

from . import listen
from .backend import load_methods, make_backend
from .config import VERSION, DaemonConfig, default_results_dir
from .events import EventChannel
from .jobs import Admission, Job, check_inputs
from .journal import JobJournal
from .shm import SharedMemory, is_live
from .store import ResultStore, ResultWriter, StoreFull
from .transport import Outbox, Receiver

log = logging.getLogger("painterly.daemon")

HANDSHAKE_LIMITS = ("max_pixels", "max_side", "max_message_bytes", "max_header_bytes", "max_queue",
                    "max_queue_bytes", "max_images", "max_peer_bytes", "max_status_jobs")


class Daemon:
    def __init__(self, config: DaemonConfig):
        self.config = config
        self.limits = config.limits
        self.jobs: dict[str, Job] = {}
        self.admission = Admission(self.limits["max_queue"], self.limits["max_queue_bytes"])
        self.context = zmq.Context()
        self.running = False
        self.methods = {}
        self.method_descriptions = []
        self.backend = None
        self.started = time.time()
        self.memory_results = collections.OrderedDict()   # job id -> bytes held in memory
        self.store = ResultStore(config.results_dir or default_results_dir(), config.disk_results_bytes,
                                 config.keep_results, fix_mode=config.results_dir is None)
        self.results_dir = self.store.folder
        self.journal = JobJournal(self.store)
        self.endpoint = config.endpoint
        self.gate = self.lock = None

    # --- setup -------------------------------------------------------------------------------------

    def load_methods(self):
        self.methods = load_methods(self.config.allow_test_methods, self.config.test_methods)
        self.method_descriptions = [method.describe() for method in self.methods.values()]

    def claim_endpoint(self):
        """An ipc socket's folder must be the user's own, and one daemon only may serve the socket."""
        if self.lock is None:
            self.lock = listen.claim(self.endpoint)

    def bind(self):
        self.claim_endpoint()
        self.socket, self.gate = listen.listen(self.context, self.endpoint, self.config.token, self.limits)
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.shared = SharedMemory(self.endpoint)   # pixels in shared memory, on a local ipc socket
        self.receiver = Receiver(self.socket, self.limits)
        self.outbox = Outbox(self.socket, self.limits["max_peer_bytes"])

    def start(self):
        self.claim_endpoint()  # before the slow part: a second daemon on the socket fails at once,
        self.store.open()
        name = self.journal.open()  # and so does one on the results folder (and journal) of a running daemon
        self.load_methods()
        if self.config.threads:
            import torch
            torch.set_num_threads(self.config.threads)
        self.bind()
        self.events = EventChannel(self.context)
        self.running = True
        self.writer = ResultWriter(self.store, self.events)
        self.writer.start()
        self.backend = make_backend(self.config, self.methods, self.events, name)
        self.backend.start()
        self.recover()

    def recover(self):
        """Run again the jobs an earlier run of the daemon admitted but did not finish; list those it finished."""
        unfinished = self.journal.unfinished(self.methods)
        self.jobs.update((job.id, job) for job in self.journal.earlier())
        for job in unfinished:
            self.jobs[job.id] = job
            self.admission.hold(job)
            self.backend.submit(job)
            log.info("job %s queued again: %s (admitted by an earlier run)", job.id, job.method)

    # --- socket loop --------------------------------------------------------------------------------

    def serve_forever(self, ready=None):
        """Run until shutdown/SIGTERM/SIGINT. ``ready()`` is called once requests are accepted."""
        self.start()
        stop = lambda *_: setattr(self, "running", False)  # noqa: E731
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
        log.info("workers on %s; methods: %s", ", ".join(self.backend.devices), ", ".join(self.methods))
        if ready:
            ready(self.endpoint)
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        poller.register(self.events.wake, zmq.POLLIN)
        if self.gate is not None:
            poller.register(self.gate.socket, zmq.POLLIN)
        next_expiry = time.monotonic() + 60
        try:
            while self.running:
                ready_socks = dict(poller.poll(200 if not self.outbox.peers else 20))
                if self.gate is not None and self.gate.socket in ready_socks:
                    self.gate.handle()
                if self.events.wake in ready_socks:
                    self.events.drain_wakeups()
                self.handle_worker_events()
                if self.socket in ready_socks:
                    for _ in range(100):  # bounded so worker events are not starved by a flood
                        message = self.receiver.receive()
                        if message is None:
                            break
                        self.handle_message(*message)
                self.outbox.pump()
                if time.monotonic() > next_expiry:
                    self.expire_results()
                    next_expiry = time.monotonic() + 60
        finally:
            self.stop()

    def stop(self):
        """Stop; unfinished jobs stay in the journal for the next start."""
        self.running = False
        stopped = self.backend.stop(timeout=5) if self.backend is not None else True
        self.writer.stop()
        self.journal.close()
        self.socket.close(linger=1000)  # the last replies (to shutdown, say) still go out
        self.events.close()
        if self.gate is not None:
            self.gate.close()
        self.shared.close()
        if stopped:  # else a worker still owns a socket; exit anyway
            self.context.term()
        if self.lock is not None:
            self.lock.release()
        log.info("stopped")

    def send(self, identity, header, frames=(), droppable=False):
        self.outbox.send(identity, header, frames, droppable=droppable)

    def handle_message(self, identity, body, problem=None):
        rid = None
        try:
            if problem is not None:
                try:  # the header alone, for the request id of the error reply
                    rid = parse_request(body[:1], self.limits)[0].get("rid") if body else None
                except ProtocolError as exc:
                    rid = exc.rid
                raise problem
            header, images = parse_request(body, self.limits, self.config.token, self.shared.attach)
            rid = header.get("rid")
            handler = getattr(self, "on_" + header["type"])
            handler(identity, header, images)
        except ProtocolError as exc:
            self.send(identity, protocol.error_reply(getattr(exc, "rid", rid), exc.code, exc.message))
        except Exception as exc:  # a bug here must cost one reply, never the daemon
            log.error("error handling a request: %s", traceback.format_exc())
            self.send(identity, protocol.error_reply(rid, protocol.INTERNAL, f"internal daemon error: {exc}"))

    # --- requests ----------------------------------------------------------------------------------

    def on_handshake(self, identity, header, images):
        self.send(identity, protocol.reply(
            header.get("rid"), protocol=protocol.PROTOCOL_VERSION, version=VERSION,
            methods=self.method_descriptions, devices=self.backend.devices,
            limits={k: self.limits[k] for k in HANDSHAKE_LIMITS}))

    def on_shutdown(self, identity, header, images):
        self.send(identity, protocol.reply(header.get("rid"), pid=os.getpid()))
        log.info("shutdown requested")
        self.running = False

    def on_status(self, identity, header, images):
        job_id = header.get("job")
        if job_id is not None:
            job = self.get_job(job_id)
            self.send(identity, protocol.reply(header.get("rid"), job=job.status(self.backend.position(job))))
            return
        offset = header.get("offset") or 0
        limit = header.get("limit")
        limit = self.limits["max_status_jobs"] if limit is None else min(limit, self.limits["max_status_jobs"])
        page = list(itertools.islice(self.jobs.values(), offset, offset + limit))
        counts = collections.Counter(j.state for j in self.jobs.values())
        self.send(identity, protocol.reply(
            header.get("rid"), jobs=[j.status(self.backend.position(j)) for j in page], total=len(self.jobs),
            offset=offset, next=offset + limit if offset + limit < len(self.jobs) else None, counts=dict(counts),
            queue=self.backend.waiting(), workers=self.backend.devices, uptime=time.time() - self.started,
            pid=os.getpid(), endpoint=self.endpoint))

    def on_submit(self, identity, header, images):
        method = self.methods.get(header["method"])
        if method is None:
            raise ProtocolError(protocol.UNKNOWN_METHOD, f"unknown method {header['method']!r}; this daemon has "
                                f"{', '.join(self.methods)}")
        from painterly.engine import ParameterError
        try:
            params = method.resolve_params(header["params"])
        except ParameterError as exc:
            raise ProtocolError(protocol.BAD_PARAMS, str(exc))
        check_inputs(method, images)
        preview_every = header.get("preview_every")
        job = Job(uuid.uuid4().hex, method.name, params, images,
                  self.config.preview_every if preview_every is None else preview_every)
        self.admission.admit(job, self.backend.waiting())
        self.shared.adopt(job, identity, header)
        try:
            if not job.live:  # a live preview is replaced by the next one, not run again after a restart
                self.journal.add(job)
        except StoreFull as exc:
            self.admission.release(job)
            raise ProtocolError(protocol.QUEUE_FULL, str(exc))
        self.jobs[job.id] = job
        position = self.backend.submit(job)
        log.info("job %s queued: %s %s", job.id, job.method,
                 ", ".join(f"{n} {i.width}x{i.height}x{i.channels}@{i.depth}" for n, i in images.items()))
        self.send(identity, protocol.reply(header.get("rid"), job=job.id, state="queued", position=position))

    def on_watch(self, identity, header, images):
        job = self.get_job(header["job"])
        self.send(identity, protocol.reply(header.get("rid"), job=job.status(self.backend.position(job))))
        if job.state in protocol.FINAL_STATES:
            self.send_final(job, [identity])
        else:
            job.watchers.add(identity)

    def on_cancel(self, identity, header, images):
        job = self.get_job(header["job"])
        if job.state not in protocol.FINAL_STATES and self.backend.cancel(job):
            self.finish(job, "cancelled")
        self.send(identity, protocol.reply(header.get("rid"), job=job.status()))

    # --- job lifecycle (socket thread) ---------------------------------------------------------------

    def get_job(self, job_id) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            job = self.load_stored_job(job_id) or self.journal.final(job_id)
        elif job.state == "done" and job.result is None and not (job.result_path and job.result_path.is_file()):
            del self.jobs[job_id]  # its file was pruned to keep the results folder within its budget
            job = None
        if job is None:
            raise ProtocolError(protocol.NOT_FOUND, f"no job {job_id} (unknown, or its result expired)")
        return job

    def load_stored_job(self, job_id):
        """A finished job from an earlier run of the daemon, if its result file is still there."""
        path = self.store.find(job_id)
        if path is None:
            return None
        try:
            header = self.store.read_header(path)
        except Exception:
            return None
        job = Job(job_id, (header.get("meta") or {}).get("method", "?"), {}, None, 0)
        job.state, job.result_path, job.finished = "done", path, path.stat().st_mtime
        self.jobs[job_id] = job
        return job

    def handle_worker_events(self):
        for kind, job, header, frames in self.events.pending():
            if kind == "stored":
                job.result_path = Path(header["path"]) if header["path"] else None
                self.journal.finish(job)
                self.trim_memory()
            elif job.state in protocol.FINAL_STATES:
                continue  # a late event of a job already finished (e.g. cancelled before it started)
            elif kind == "progress":
                job.iteration, job.total, job.stage = header["iteration"], header["total"], header["stage"]
                for identity in job.watchers:
                    self.send(identity, header, frames, droppable=True)
            elif kind == "running":
                job.state, job.started, job.device = "running", time.time(), header["device"]
                for identity in job.watchers:
                    self.send(identity, protocol.event(job.id, "state", state="running"))
            else:  # done / failed / cancelled
                if kind == "done":
                    job.result = (header, frames)
                    job.result_bytes = sum(memoryview(f).nbytes for f in frames)
                    self.memory_results[job.id] = job.result_bytes
                    if not is_live(job):
                        self.writer.put(job, header, frames[0])
                elif kind == "failed":
                    job.error_code, job.error_message = header["code"], header["message"]
                elif header:
                    job.iteration = header.get("iteration", job.iteration)
                self.finish(job, kind)

    def finish(self, job, state):
        job.state, job.finished, job.images = state, time.time(), None
        self.admission.release(job)
        if state == "cancelled":
            job.error_code, job.error_message = protocol.CANCELLED, "The job was cancelled."
        log.info("job %s %s%s", job.id, state, f": {job.error_message}" if state == "failed" else
                 f" at iteration {job.iteration}" if state == "cancelled" else "")
        if state != "done":  # a done job is finished in the journal once its result is on disk
            self.journal.finish(job)
        self.send_final(job, job.watchers)
        job.watchers = set()

    def send_final(self, job, identities):
        if job.state == "done":
            size = job.result_bytes or self.store.size(job.result_path or self.store.path(job.id))
            for identity in identities:
                direct = self.shared.deliver(job, identity, self.result_message)
                if direct is not None or is_live(job):  # live: sent now, then dropped below
                    self.send(identity, *(direct or self.result_message(job)))
                else:
                    self.outbox.send(identity, None, job_id=job.id, size=size, make=lambda: self.result_message(job))
            if is_live(job) and identities:
                job.result = None
                self.memory_results.pop(job.id, None)
            self.trim_memory()  # after the sends: a result in flight stays the one shared buffer
            return
        if job.state == "failed":
            header = protocol.event(job.id, "failed", code=job.error_code, message=job.error_message)
        else:
            header = protocol.event(job.id, "cancelled", message="The job was cancelled.")
        for identity in identities:
            self.send(identity, header)

    def result_message(self, job):
        """The done event of a job: the one buffer in memory, read from disk once if it is not there."""
        if job.result is None:
            try:
                job.result = self.store.read(job.result_path or self.store.path(job.id))
            except Exception as exc:  # gone, truncated or not a result: the job's result is lost, not the daemon
                log.warning("stored result of job %s unreadable: %s", job.id, exc)
                return protocol.event(job.id, "failed", code=protocol.NOT_FOUND,
                                      message=f"the result of job {job.id} expired or is unreadable"), []
            job.result_bytes = sum(memoryview(f).nbytes for f in job.result[1])
            self.memory_results[job.id] = job.result_bytes
        return job.result

    def trim_memory(self):
        """Drop in-memory copies of stored results beyond the memory budget (oldest first)."""
        total = sum(self.memory_results.values())
        for job_id in list(self.memory_results):
            if total <= self.config.memory_results_bytes:
                break
            job = self.jobs.get(job_id)
            if job is not None and (job.result_path is None or self.outbox.pinned(job_id)):
                continue
            total -= self.memory_results.pop(job_id)
            if job is not None:
                job.result = None

    def expire_results(self):
        cutoff = time.time() - self.config.keep_results
        for job_id, job in list(self.jobs.items()):
            if job.state in protocol.FINAL_STATES and job.finished and job.finished < cutoff:
                del self.jobs[job_id]
                self.memory_results.pop(job_id, None)
        self.store.expire()
        self.journal.expire(cutoff)

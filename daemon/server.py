"""The painterly daemon: a ZeroMQ ROUTER socket loop, a job queue and one engine worker thread per device.

The socket loop only validates, queues and routes messages; compute runs on the workers, which hand
their events (progress, results) back through a queue and an inproc wake-up socket, so a busy worker
never delays a handshake or a cancel. Finished results stay in memory (within a budget) and on disk
for ``keep_results`` seconds, so a client that disconnected can fetch them with ``watch``.
"""
from __future__ import annotations

import collections
import logging
import os
import queue
import secrets
import signal
import struct
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import zmq

from . import buffers, protocol
from .protocol import ProtocolError

log = logging.getLogger("painterly.daemon")

VERSION = "0.1.0"
STORE_DELAY = 0.5  # seconds between a result going out and its copy to disk


@dataclass
class DaemonConfig:
    endpoint: str = "tcp://127.0.0.1:7878"
    devices: tuple = ("auto",)
    threads: int = 0                       # torch threads (0 = torch's default)
    half: bool = False
    token: str | None = None               # shared access token (required for non-loopback endpoints)
    allow_test_methods: bool = False       # the ``echo`` method (no compute) for tests and benchmarks
    results_dir: Path | None = None
    keep_results: float = 3600.0           # seconds a finished job (and its result file) is kept
    memory_results_bytes: int = 512 * 1024 * 1024
    disk_results_bytes: int = 4 * 1024 * 1024 * 1024  # oldest result files go first beyond this
    preview_every: int = 5                 # default iterations between preview images
    limits: dict = field(default_factory=lambda: dict(protocol.DEFAULT_LIMITS))


class Job:
    def __init__(self, job_id, method, params, images, preview_every):
        self.id, self.method, self.params, self.images = job_id, method, params, images
        self.preview_every = preview_every
        self.state = "queued"
        self.created, self.started, self.finished = time.time(), None, None
        self.iteration, self.total, self.stage = 0, 0, ""
        self.error_code = self.error_message = None
        self.cancel = None                  # engine CancelToken, made by the worker
        self.cancel_requested = False
        self.watchers: set[bytes] = set()
        self.result = None                  # (header dict, [frame]) of the done event, while in memory
        self.result_bytes = 0
        self.result_path: Path | None = None
        self.device = None

    def status(self, position=None) -> dict:
        out = {"id": self.id, "method": self.method, "state": self.state, "iteration": self.iteration,
               "total": self.total, "stage": self.stage, "created": self.created, "started": self.started,
               "finished": self.finished, "device": self.device}
        if position is not None:
            out["position"] = position
        if self.error_code:
            out["code"], out["message"] = self.error_code, self.error_message
        return out


def _echo_method():
    """A daemon-internal method with no compute: returns the base input unchanged (as RGBA).
    ``iterations``/``delay`` make it report progress slowly, for tests of queueing and cancel."""
    from painterly.engine.methods.base import InputSpec, Method, Param
    return Method(
        name="echo", summary="test method: returns the content unchanged (daemon --allow-test-methods)",
        inputs=(InputSpec("content", "rgb", help="image returned as is"),),
        params=(Param("iterations", int, 0, "progress steps to report", 0, 100000),
                Param("delay", float, 0.0, "seconds per step", 0.0, 10.0)),
        run=None)


class Daemon:
    def __init__(self, config: DaemonConfig):
        self.config = config
        self.limits = config.limits
        self.jobs: dict[str, Job] = {}
        self.queue: collections.deque[Job] = collections.deque()
        self.queue_cond = threading.Condition()
        self.events: queue.Queue = queue.Queue()
        self.context = zmq.Context()
        self.running = False
        self.methods = {}
        self.method_descriptions = []
        self.workers: list[threading.Thread] = []
        self.worker_devices: list[str] = []
        self.started = time.time()
        self.memory_results = collections.OrderedDict()   # job id -> bytes held in memory
        results_dir = config.results_dir or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") \
            / "painterly" / "daemon" / "results"
        self.results_dir = Path(results_dir)
        self.endpoint = config.endpoint

    # --- setup -------------------------------------------------------------------------------------

    def load_methods(self):
        from painterly import engine
        for name in engine.method_names():
            try:
                method = engine.get_method(name)
                self.method_descriptions.append(method.describe())
                self.methods[name] = method
            except Exception as exc:  # a method that fails to import must not take the daemon down
                log.warning("method %s unavailable: %s", name, exc)
        if self.config.allow_test_methods:
            echo = _echo_method()
            self.methods["echo"] = echo
            self.method_descriptions.append(echo.describe())

    def resolve_devices(self):
        from painterly.engine.device import available_devices, select_device
        names = []
        for name in self.config.devices:
            if name == "auto":
                found = available_devices()
                gpus = [d for d in found if d != "cpu"]
                names += gpus or ["cpu"]
            else:
                names.append(str(select_device(name)))
        return list(dict.fromkeys(names))

    def bind(self):
        sock = self.context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        # Larger frames disconnect the peer inside libzmq, before the frame is allocated here.
        sock.setsockopt(zmq.MAXMSGSIZE, self.limits["max_message_bytes"])
        sock.setsockopt(zmq.RCVHWM, 64)
        sock.setsockopt(zmq.SNDHWM, 10000)
        token = self.config.token
        if not protocol.endpoint_is_local(self.endpoint) and not token:
            raise PermissionError(f"refusing to listen on {self.endpoint}: it is not a loopback address, and that "
                                  "needs authentication (add --auth token)")
        if token and self.endpoint.startswith("tcp://"):
            public, secret = protocol.curve_keys_from_token(token)
            sock.curve_server = True
            sock.curve_secretkey = secret
            sock.curve_publickey = public
        if self.endpoint.startswith("tcp://") and ("[" in self.endpoint or self.endpoint.count(":") > 2):
            sock.setsockopt(zmq.IPV6, 1)
        old_umask = os.umask(0o077)  # an ipc:// socket file only its owner can connect to
        try:
            sock.bind(self.endpoint)
        finally:
            os.umask(old_umask)
        self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.socket = sock

    def start(self):
        self.load_methods()
        if self.config.threads:
            import torch
            torch.set_num_threads(self.config.threads)
        self.worker_devices = self.resolve_devices()
        self.results_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.expire_results(startup=True)
        self.bind()
        self.wake_pull = self.context.socket(zmq.PULL)
        self.wake_address = f"inproc://painterly-wake-{id(self)}"
        self.wake_pull.bind(self.wake_address)
        self.running = True
        self.store_queue = queue.Queue()
        writer = threading.Thread(target=self.store_loop, name="result-writer", daemon=True)
        writer.start()
        self.workers.append(writer)
        for device in self.worker_devices:
            thread = threading.Thread(target=self.worker_loop, args=(device,), name=f"worker-{device}", daemon=True)
            thread.start()
            self.workers.append(thread)

    # --- socket loop --------------------------------------------------------------------------------

    def serve_forever(self, ready=None):
        """Run until shutdown/SIGTERM/SIGINT. ``ready()`` is called once requests are accepted."""
        self.start()
        stop = lambda *_: setattr(self, "running", False)  # noqa: E731
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
        log.info("workers on %s; methods: %s", ", ".join(self.worker_devices), ", ".join(self.methods))
        if ready:
            ready(self.endpoint)
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        poller.register(self.wake_pull, zmq.POLLIN)
        next_expiry = time.monotonic() + 60
        try:
            while self.running:
                ready_socks = dict(poller.poll(200))
                if self.wake_pull in ready_socks:
                    while True:
                        try:
                            self.wake_pull.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                self.handle_worker_events()
                if self.socket in ready_socks:
                    for _ in range(100):  # bounded so worker events are not starved by a flood
                        try:
                            frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self.handle_message(frames)
                if time.monotonic() > next_expiry:
                    self.expire_results()
                    next_expiry = time.monotonic() + 60
        finally:
            self.stop()

    def stop(self):
        self.running = False
        for job in list(self.jobs.values()):
            if job.state in ("queued", "running") and job.cancel is not None:
                job.cancel.cancel()
        with self.queue_cond:
            self.queue.clear()
            self.queue_cond.notify_all()
        for thread in self.workers:
            thread.join(timeout=5)
        self.socket.close(linger=0)
        self.wake_pull.close(linger=0)
        if not any(t.is_alive() for t in self.workers):  # else a worker still owns a socket; exit anyway
            self.context.term()
        log.info("stopped")

    def send(self, identity, header, frames=()):
        try:
            self.socket.send_multipart([identity, protocol.pack(header), *frames], copy=False, flags=zmq.NOBLOCK)
        except zmq.ZMQError:  # peer gone or its queue full: events are best-effort, results stay fetchable
            pass

    def handle_message(self, frames):
        identity, body = frames[0], frames[1:]
        identity = identity.bytes
        rid = None
        try:
            header, images = protocol.parse_request(body, self.limits, self.config.token)
            rid = header.get("rid")
            handler = getattr(self, "on_" + header["type"])
            handler(identity, header, images)
        except ProtocolError as exc:
            self.send(identity, protocol.error_reply(getattr(exc, "rid", rid), exc.code, exc.message))
        except Exception as exc:  # a bug here must cost one reply, never the daemon
            log.error("error handling a request: %s", traceback.format_exc())
            self.send(identity, protocol.error_reply(rid, protocol.INTERNAL, f"internal daemon error: {exc}"))

    def on_handshake(self, identity, header, images):
        self.send(identity, protocol.reply(
            header.get("rid"), protocol=protocol.PROTOCOL_VERSION, version=VERSION,
            methods=self.method_descriptions, devices=self.worker_devices,
            limits={k: self.limits[k] for k in ("max_pixels", "max_side", "max_message_bytes", "max_queue",
                                                 "max_images")}))

    def on_shutdown(self, identity, header, images):
        self.send(identity, protocol.reply(header.get("rid")))
        log.info("shutdown requested")
        self.running = False

    def get_job(self, job_id) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            job = self.load_stored_job(job_id)
        elif job.state == "done" and job.result is None and not (job.result_path and job.result_path.is_file()):
            del self.jobs[job_id]  # its file was pruned to keep the results folder within its budget
            job = None
        if job is None:
            raise ProtocolError(protocol.NOT_FOUND, f"no job {job_id} (unknown, or its result expired)")
        return job

    def position(self, job):
        if job.state != "queued":
            return None
        with self.queue_cond:
            for index, queued in enumerate(self.queue):
                if queued is job:
                    return index
        return None

    def on_status(self, identity, header, images):
        job_id = header.get("job")
        if job_id is not None:
            job = self.get_job(job_id)
            self.send(identity, protocol.reply(header.get("rid"), job=job.status(self.position(job))))
            return
        jobs = [j.status(self.position(j)) for j in self.jobs.values()]
        self.send(identity, protocol.reply(header.get("rid"), jobs=jobs, queue=len(self.queue),
                                           workers=self.worker_devices, uptime=time.time() - self.started,
                                           pid=os.getpid(), endpoint=self.endpoint))

    def on_submit(self, identity, header, images):
        rid = header.get("rid")
        method = self.methods.get(header["method"])
        if method is None:
            raise ProtocolError(protocol.UNKNOWN_METHOD, f"unknown method {header['method']!r}; this daemon has "
                                f"{', '.join(self.methods)}")
        from painterly.engine import ParameterError
        try:
            params = method.resolve_params(header["params"])
        except ParameterError as exc:
            raise ProtocolError(protocol.BAD_PARAMS, str(exc))
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
        with self.queue_cond:
            if len(self.queue) >= self.limits["max_queue"]:
                raise ProtocolError(protocol.QUEUE_FULL, f"the daemon's queue is full ({len(self.queue)} jobs "
                                    "waiting); try again later")
            preview_every = header.get("preview_every")
            job = Job(uuid.uuid4().hex, method.name, params, images,
                      self.config.preview_every if preview_every is None else preview_every)
            self.jobs[job.id] = job
            self.queue.append(job)
            position = len(self.queue) - 1
            self.queue_cond.notify()
        log.info("job %s queued: %s %s", job.id, job.method,
                 ", ".join(f"{n} {i.width}x{i.height}x{i.channels}@{i.depth}" for n, i in images.items()))
        self.send(identity, protocol.reply(rid, job=job.id, state="queued", position=position))

    def on_watch(self, identity, header, images):
        job = self.get_job(header["job"])
        self.send(identity, protocol.reply(header.get("rid"), job=job.status(self.position(job))))
        if job.state in protocol.FINAL_STATES:
            self.send_final(job, [identity])
        else:
            job.watchers.add(identity)

    def on_cancel(self, identity, header, images):
        job = self.get_job(header["job"])
        if job.state not in protocol.FINAL_STATES:
            with self.queue_cond:  # the worker takes jobs and makes their cancel token under this lock
                try:
                    self.queue.remove(job)
                    removed = True
                except ValueError:
                    removed = False
                    job.cancel_requested = True
                    if job.cancel is not None:
                        job.cancel.cancel()
            if removed:
                self.finish(job, "cancelled")
        self.send(identity, protocol.reply(header.get("rid"), job=job.status()))

    # --- job lifecycle (socket thread) ---------------------------------------------------------------

    def handle_worker_events(self):
        while True:
            try:
                kind, job, header, frames = self.events.get_nowait()
            except queue.Empty:
                return
            if kind == "progress":
                job.iteration, job.total, job.stage = header["iteration"], header["total"], header["stage"]
                for identity in job.watchers:
                    self.send(identity, header, frames)
            elif kind == "running":
                job.state, job.started, job.device = "running", time.time(), header["device"]
                for identity in job.watchers:
                    self.send(identity, protocol.event(job.id, "state", state="running"))
            elif kind == "stored":
                job.result_path = header["path"]
                self.trim_memory()
            else:  # done / failed / cancelled
                if kind == "done":
                    job.result = (header, frames)
                    job.result_bytes = sum(memoryview(f).nbytes for f in frames)
                    self.memory_results[job.id] = job.result_bytes
                elif kind == "failed":
                    job.error_code, job.error_message = header["code"], header["message"]
                self.finish(job, kind)

    def finish(self, job, state):
        job.state, job.finished, job.images = state, time.time(), None
        if state == "cancelled":
            job.error_code, job.error_message = protocol.CANCELLED, "The job was cancelled."
        log.info("job %s %s%s", job.id, state, f": {job.error_message}" if state == "failed" else "")
        self.send_final(job, job.watchers)
        job.watchers = set()

    def send_final(self, job, identities):
        if job.state == "done":
            header, frames = job.result if job.result is not None else self.read_result(job)
        elif job.state == "failed":
            header, frames = protocol.event(job.id, "failed", code=job.error_code, message=job.error_message), []
        else:
            header, frames = protocol.event(job.id, "cancelled", message="The job was cancelled."), []
        for identity in identities:
            self.send(identity, header, frames)

    # --- results on disk -------------------------------------------------------------------------

    def result_file(self, job_id) -> Path:
        return self.results_dir / f"{job_id}.result"

    def write_result(self, job_id, header, frames):
        """<4-byte header length><msgpack header><pixels>, written by the worker, readable only by the user."""
        path = self.result_file(job_id)
        tmp = path.with_suffix(".tmp")
        packed = protocol.pack(header)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<I", len(packed)))
            f.write(packed)
            for frame in frames:
                f.write(frame)
        os.replace(tmp, path)
        return path

    def read_result(self, job):
        data = job.result_path.read_bytes() if job.result_path else self.result_file(job.id).read_bytes()
        (size,) = struct.unpack_from("<I", data)
        header = msgpack.unpackb(data[4:4 + size], raw=False)
        return header, [memoryview(data)[4 + size:]]

    def load_stored_job(self, job_id):
        """A finished job from an earlier run of the daemon, if its result file is still there."""
        if not isinstance(job_id, str) or not job_id.isalnum():
            return None
        path = self.result_file(job_id)
        if not path.is_file():
            return None
        try:
            header, _ = self.read_result_path(path)
        except Exception:
            return None
        job = Job(job_id, (header.get("meta") or {}).get("method", "?"), {}, None, 0)
        job.state, job.result_path, job.finished = "done", path, path.stat().st_mtime
        self.jobs[job_id] = job
        return job

    def read_result_path(self, path):
        with open(path, "rb") as f:
            (size,) = struct.unpack("<I", f.read(4))
            return msgpack.unpackb(f.read(size), raw=False), None

    def trim_memory(self):
        """Drop in-memory copies of stored results beyond the memory budget (oldest first)."""
        total = sum(self.memory_results.values())
        for job_id in list(self.memory_results):
            if total <= self.config.memory_results_bytes:
                break
            job = self.jobs.get(job_id)
            if job is not None and job.result_path is None:
                continue
            total -= self.memory_results.pop(job_id)
            if job is not None:
                job.result = None

    def prune_disk(self):
        """Delete the oldest result files while the folder is over its byte budget."""
        files = []
        for path in self.results_dir.glob("*.result"):
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.config.disk_results_bytes:
                break
            try:
                path.unlink()
            except OSError:
                pass
            total -= size

    def expire_results(self, startup=False):
        cutoff = time.time() - self.config.keep_results
        for job_id, job in list(self.jobs.items()):
            if job.state in protocol.FINAL_STATES and job.finished and job.finished < cutoff:
                del self.jobs[job_id]
                self.memory_results.pop(job_id, None)
        for path in self.results_dir.glob("*.result"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass

    # --- workers -----------------------------------------------------------------------------------

    def worker_loop(self, device_name):
        import torch
        from painterly.engine import CancelToken
        device = torch.device(device_name)
        wake = self.context.socket(zmq.PUSH)
        wake.connect(self.wake_address)

        def emit(kind, job, header=None, frames=()):
            self.events.put((kind, job, header, list(frames)))
            try:
                wake.send(b"", zmq.NOBLOCK)
            except zmq.Again:  # the loop is already due to wake up
                pass

        try:
            while self.running:
                with self.queue_cond:
                    while self.running and not self.queue:
                        self.queue_cond.wait(0.5)
                    if not self.running:
                        return
                    job = self.queue.popleft()
                    job.cancel = CancelToken()
                    if job.cancel_requested:
                        job.cancel.cancel()
                emit("running", job, {"device": device_name})
                self.run_job(job, device, emit)
        finally:
            wake.close(linger=0)

    def store_loop(self):
        """Write finished results to disk off the workers, so the next job starts at once. The thread runs
        at the lowest CPU priority and a moment after the result went out, so that disk copies do not
        slow down sending results to clients."""
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread only, on Linux
        except (AttributeError, OSError):
            pass
        wake = self.context.socket(zmq.PUSH)
        wake.connect(self.wake_address)
        try:
            while self.running or not self.store_queue.empty():  # on shutdown: finish pending copies
                try:
                    job, header, data = self.store_queue.get(timeout=0.5)
                except queue.Empty:
                    continue
                if self.running:
                    time.sleep(max(0.0, (job.finished or time.time()) + STORE_DELAY - time.time()))
                try:
                    path = self.write_result(job.id, header, [data])
                    self.prune_disk()
                except OSError as exc:
                    log.warning("could not store the result of job %s: %s", job.id, exc)
                    continue
                self.events.put(("stored", job, {"path": path}, []))
                try:
                    wake.send(b"", zmq.NOBLOCK)
                except zmq.Again:
                    pass
        finally:
            wake.close(linger=0)

    def run_job(self, job, device, emit):
        from painterly import engine
        start = time.monotonic()
        try:
            if job.method == "echo":
                image = self.run_echo(job, emit)
            else:
                method = self.methods[job.method]
                kinds = {s.name: s.kind for s in method.inputs}
                inputs = {name: buffers.to_input(buf, kinds[name]) for name, buf in job.images.items()}

                def progress(p):
                    header = protocol.event(job.id, "progress", iteration=p.iteration, total=p.total,
                                            stage=p.stage, losses={k: float(v) for k, v in p.losses.items()})
                    frames = []
                    if p.preview is not None:
                        preview = buffers.preview_buffer(p.preview)
                        header["preview"] = preview.descriptor(0)
                        frames = [preview.data]
                    emit("progress", job, header, frames)

                output = engine.run_output(job.method, inputs, job.params, device=device, progress=progress,
                                           cancel=job.cancel, half=self.config.half,
                                           preview_every=job.preview_every)
                image = buffers.result_buffer(output.rgb, output.alpha, job.images[method.base_input])
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
        self.store_queue.put((job, header, image.data))

    def run_echo(self, job, emit):
        total = job.params["iterations"]
        for step in range(1, total + 1):
            if job.cancel.cancelled:
                from painterly.engine import Cancelled
                raise Cancelled("job cancelled")
            time.sleep(job.params["delay"])
            emit("progress", job, protocol.event(job.id, "progress", iteration=step, total=total,
                                                 stage="echo", losses={}))
        if job.cancel.cancelled:
            from painterly.engine import Cancelled
            raise Cancelled("job cancelled")
        return buffers.echo_result(job.images["content"])


def new_token() -> str:
    return secrets.token_urlsafe(32)


def write_token_file(path: Path) -> str:
    """Create the user-only token file if needed and return its token."""
    path = Path(path)
    if path.is_file() and path.read_text().strip():
        if path.stat().st_mode & 0o077:
            raise PermissionError(f"token file {path} is readable by other users; chmod 600 it")
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token

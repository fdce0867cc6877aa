"""Finished results on disk, so a client that disconnected (or a restarted daemon) can still fetch them.

Each result is one file ``<job id>.result``: <4-byte header length><msgpack done-event header><pixels>,
readable only by the user. A low-priority writer thread copies results out a moment after they were
sent, the folder is kept within a byte budget (oldest first) and files expire after ``keep`` seconds.
"""
from __future__ import annotations

import logging
import os
import queue
import struct
import threading
import time
from pathlib import Path

import msgpack

from painterly.wire import protocol

log = logging.getLogger("painterly.daemon")

STORE_DELAY = 0.5  # seconds between a result going out and its copy to disk


class ResultStore:
    def __init__(self, folder: Path, disk_budget: int, keep: float):
        self.folder, self.disk_budget, self.keep = Path(folder), disk_budget, keep

    def open(self):
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.expire()

    def path(self, job_id) -> Path:
        return self.folder / f"{job_id}.result"

    def write(self, job_id, header, frames) -> Path:
        path = self.path(job_id)
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

    def read(self, path: Path):
        """(done-event header, [pixels]) of a stored result."""
        data = Path(path).read_bytes()
        (size,) = struct.unpack_from("<I", data)
        header = msgpack.unpackb(data[4:4 + size], raw=False)
        return header, [memoryview(data)[4 + size:]]

    def read_header(self, path: Path) -> dict:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<I", f.read(4))
            return msgpack.unpackb(f.read(size), raw=False)

    def find(self, job_id) -> Path | None:
        """The stored result of ``job_id`` from this or an earlier run of the daemon, if still there."""
        if not isinstance(job_id, str) or not job_id.isalnum():
            return None
        path = self.path(job_id)
        return path if path.is_file() else None

    def prune(self):
        """Delete the oldest result files while the folder is over its byte budget."""
        files = []
        for path in self.folder.glob("*.result"):
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.disk_budget:
                break
            try:
                path.unlink()
            except OSError:
                pass
            total -= size

    def expire(self):
        cutoff = time.time() - self.keep
        for path in self.folder.glob("*.result"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass


class ResultWriter:
    """Writes finished results to disk off the workers, so the next job starts at once. The thread runs
    at the lowest CPU priority and a moment after the result went out, so that disk copies do not slow
    down sending results to clients. Reports ("stored", job, {"path"}) through ``events``."""

    def __init__(self, store: ResultStore, events):
        self.store, self.events = store, events
        self.pending: queue.Queue = queue.Queue()
        self.running = False
        self.thread = threading.Thread(target=self._loop, name="result-writer", daemon=True)

    def start(self):
        self.running = True
        self.thread.start()

    def put(self, job, header, data):
        self.pending.put((job, header, data))

    def stop(self, timeout=5):
        """Finish the pending copies, then stop."""
        self.running = False
        self.thread.join(timeout)

    def _loop(self):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread only, on Linux
        except (AttributeError, OSError):
            pass
        send = self.events.sender()
        try:
            while self.running or not self.pending.empty():
                try:
                    job, header, data = self.pending.get(timeout=0.5)
                except queue.Empty:
                    continue
                if self.running:
                    time.sleep(max(0.0, (job.finished or time.time()) + STORE_DELAY - time.time()))
                try:
                    path = self.store.write(job.id, header, [data])
                    self.store.prune()
                except OSError as exc:
                    log.warning("could not store the result of job %s: %s", job.id, exc)
                    continue
                send("stored", job, {"path": path})
        finally:
            send.close()

"""Safe file writing, and the daemon's files: the finished results, so a client that disconnected (or a
restarted daemon) can still fetch them, and the inputs of unfinished jobs, so a restarted daemon runs them
again.

:func:`atomic_file` is the one way painterly writes a file: a new file next to the target, created
exclusively and never through a link, moved over the target only once complete, so a failure or a crash
leaves the old file as it was and never half a file.

The daemon's files share one layout (:meth:`ResultStore.write_frames`): <4-byte header length><msgpack
header><frames>, mode 0600, in a folder that must be the user's own (mode 0700). ``<job id>.result``
holds the done-event header and the result's pixels; ``<job id>.inputs`` a map of image descriptors and
each image's pixels in turn. A low-priority writer thread copies results out a moment after they were
sent. Results and inputs share one byte budget: the oldest other results go first, a result larger than
the whole budget is not stored at all, a job whose inputs would not fit is refused, and results expire
after ``keep`` seconds.
"""
from __future__ import annotations

import contextlib
import logging
import os
import queue
import secrets
import stat
import struct
import threading
import time
from pathlib import Path

import msgpack
import zmq

from painterly.wire import protocol
from painterly.wire.endpoints import HAS_OWNERS, private_folder
from painterly.wire.protocol import ImageBuffer

log = logging.getLogger("painterly.daemon")

STORE_DELAY = 0.5  # seconds between a result going out and its copy to disk
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


@contextlib.contextmanager
def atomic_file(path, mode=0o666, durable=True):
    """An open binary file that becomes ``path`` when the block ends without error (``os.replace``);
    on error it is deleted and ``path`` is untouched. ``mode`` is the new file's (less the umask);
    ``durable`` flushes it to the disk before it takes the name (not needed for a cache). A file already at
    ``path`` keeps its permissions (an owner-only file stays owner-only)."""
    path = Path(path)
    try:
        st = os.lstat(path)
        kept = stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None
    except OSError:
        kept = None
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, 0o600 if kept else mode)
            break
        except FileExistsError:
            continue
    try:
        if kept is not None:
            os.fchmod(fd, kept)
        with os.fdopen(fd, "wb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def open_own_file(path: Path):
    """A regular file of the user's opened for reading without following links (OSError otherwise)."""
    fd = os.open(path, os.O_RDONLY | NOFOLLOW | CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (HAS_OWNERS and st.st_uid != os.getuid()):
        os.close(fd)
        raise PermissionError(f"{path} is not a regular file of yours")
    return os.fdopen(fd, "rb")


class StoreFull(OSError):
    """A job's inputs do not fit in the store's byte budget."""


class ResultStore:
    def __init__(self, folder: Path, disk_budget: int, keep: float, fix_mode: bool = False):
        self.folder, self.disk_budget, self.keep = Path(folder), disk_budget, keep
        self.fix_mode = fix_mode   # painterly's default folder: closed to others if it was not
        # (mtime, size) of each .result and .inputs file, oldest first: read once from the folder, then kept
        # up to date here, so that keeping the budget costs no look at thousands of files per job.
        self._known: dict[str, tuple[float, int]] = {}
        self._known_lock = threading.Lock()

    def open(self):
        private_folder(str(self.folder), fix=self.fix_mode)
        with self._known_lock:
            self._known = {path.name: (mtime, size)
                           for mtime, size, path in sorted(self._scan("*.result") + self._scan("*.inputs"))}
        self.expire()

    def path(self, job_id) -> Path:
        return self.folder / f"{job_id}.result"

    def write(self, job_id, header, frames) -> Path | None:
        """Store a result; None (and nothing deleted) when it is larger than the whole budget."""
        packed = protocol.pack(header)
        size = 4 + len(packed) + sum(memoryview(f).nbytes for f in frames)
        if size > self.disk_budget:
            log.warning("result of job %s not kept on disk: %d MB is over the results budget of %d MB",
                        job_id, size >> 20, self.disk_budget >> 20)
            return None
        path = self.path(job_id)
        self.prune(room=size, keep=path)
        return self.write_frames(path, packed, frames)

    def write_frames(self, path: Path, header, frames) -> Path:
        """One file of the store's layout: ``header`` (a map, or already packed) and ``frames``."""
        packed = header if isinstance(header, bytes) else protocol.pack(header)
        with atomic_file(path, 0o600, durable=False) as f:
            f.write(struct.pack("<I", len(packed)))
            f.write(packed)
            for frame in frames:
                f.write(frame)
        st = os.lstat(path)
        with self._known_lock:
            self._known.pop(path.name, None)  # now the newest
            self._known[path.name] = (st.st_mtime, st.st_size)
        return path

    def read_frames(self, path: Path):
        """(header, the bytes after it) of a file of the store's layout, read once into one buffer."""
        with open_own_file(path) as f:
            data = f.read()
        (size,) = struct.unpack_from("<I", data)
        header = msgpack.unpackb(data[4:4 + size], raw=False)
        return header, memoryview(data)[4 + size:]

    def read(self, path: Path):
        """(done-event header, [pixels]) of a stored result."""
        header, rest = self.read_frames(path)
        return header, [rest]

    # --- inputs of unfinished jobs ---------------------------------------------------------------------

    def inputs_path(self, job_id) -> Path:
        return self.folder / f"{job_id}.inputs"

    def write_inputs(self, job_id, images: dict) -> Path:
        """Keep a job's input images until it finished; StoreFull when they do not fit in the budget."""
        size = sum(image.nbytes for image in images.values())
        self.prune(room=size)
        if self.inputs_bytes() + size > self.disk_budget:
            raise StoreFull(f"the daemon's disk budget ({self.disk_budget / 2**20:.0f} MiB) is taken by the jobs "
                            "already waiting; try again later")
        header = {"images": {name: image.descriptor(index) for index, (name, image) in enumerate(images.items())}}
        return self.write_frames(self.inputs_path(job_id), header, [image.data for image in images.values()])

    def read_inputs(self, job_id) -> dict:
        """The input images of an unfinished job: {name: ImageBuffer} over the file's bytes."""
        header, rest = self.read_frames(self.inputs_path(job_id))
        images, offset = {}, 0
        for name, desc in sorted(header["images"].items(), key=lambda item: item[1]["frame"]):
            image = ImageBuffer(desc["width"], desc["height"], desc["channels"], desc["depth"], b"",
                                desc.get("x", 0), desc.get("y", 0))
            image.data = rest[offset:offset + image.nbytes]
            images[name] = image.check(name)
            offset += image.nbytes
        return images

    def remove_inputs(self, job_id):
        self._remove(self.inputs_path(job_id))

    def _remove(self, path: Path):
        with contextlib.suppress(OSError):
            path.unlink()
        with self._known_lock:
            self._known.pop(path.name, None)

    def inputs_bytes(self) -> int:
        return sum(size for _, size, _ in self._files("*.inputs"))

    def read_header(self, path: Path) -> dict:
        with open_own_file(path) as f:
            (size,) = struct.unpack("<I", f.read(4))
            return msgpack.unpackb(f.read(size), raw=False)

    def size(self, path: Path) -> int:
        try:
            return os.lstat(path).st_size
        except OSError:
            return 0

    def find(self, job_id) -> Path | None:
        """The stored result of ``job_id`` from this or an earlier run of the daemon, if still there."""
        if not isinstance(job_id, str) or not job_id.isalnum():
            return None
        path = self.path(job_id)
        try:
            return path if stat.S_ISREG(os.lstat(path).st_mode) else None
        except OSError:
            return None

    def _files(self, pattern="*.result"):
        """(mtime, size, path) of this store's files of one kind, ``*.result`` or ``*.inputs``, oldest first."""
        suffix = pattern[1:]
        with self._known_lock:
            return [(mtime, size, self.folder / name) for name, (mtime, size) in self._known.items()
                    if name.endswith(suffix)]

    def _scan(self, pattern):
        """(mtime, size, path) of the regular files in the folder whose names match ``pattern``."""
        files = []
        for path in self.folder.glob(pattern):
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                files.append((st.st_mtime, st.st_size, path))
        return files

    def prune(self, room=0, keep=None):
        """Delete the oldest result files (never ``keep``, never inputs) until the folder holds at most the
        budget less ``room`` bytes."""
        files = [f for f in self._files() if f[2] != keep]
        total = sum(size for _, size, _ in files) + self.inputs_bytes()
        for _, size, path in sorted(files):
            if total + room <= self.disk_budget:
                break
            self._remove(path)
            total -= size

    def expire(self):
        cutoff = time.time() - self.keep
        for mtime, _, path in self._files() + self._scan(".*.tmp"):
            if mtime < cutoff:
                self._remove(path)


class ResultWriter:
    """Writes finished results to disk off the workers, so the next job starts at once. The thread writes
    a moment after the result went out, so that disk copies do not slow down sending results to clients.
    It keeps the process's CPU priority: a thread niced below the socket loop holds the interpreter lock
    while the kernel leaves it waiting on a busy machine, and the loop then stalls for seconds. Reports ("stored", job, {"path"}) through ``events`` (path None when
    the result could not be kept)."""

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
                except OSError as exc:
                    log.warning("could not store the result of job %s: %s", job.id, exc)
                    path = None
                if send is not None:
                    try:
                        send("stored", job, {"path": path})
                    except zmq.ZMQError:  # the daemon is stopping: keep storing what is left, quietly
                        send.close()
                        send = None
        finally:
            if send is not None:
                send.close()

"""A lock file held (flock) for as long as a daemon runs, holding its pid: one daemon per socket, one
daemon per results folder (and so per journal). The kernel drops the lock when the process ends, however it
ends, so a crashed daemon never blocks the next one."""
from __future__ import annotations

import os
from pathlib import Path


class AlreadyRunning(RuntimeError):
    """Another daemon holds the lock."""


class PidLock:
    """``path`` locked while held; ``busy`` is the sentence for a lock held by another process, with
    ``{pid}`` for its pid."""

    def __init__(self, path: Path | None, busy: str):
        self.path, self.busy = path, busy
        self.fd = None

    def acquire(self):
        if self.path is None:
            return
        import fcntl
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunning(self.busy.format(pid=holder)) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

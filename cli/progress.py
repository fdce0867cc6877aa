"""A terminal progress bar for engine jobs, in this process or on a daemon."""
from __future__ import annotations

import sys
import time


class ProgressBar:
    """A one-line progress bar on a terminal; periodic plain lines when stderr is not a terminal."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_line = 0.0
        self.start = time.monotonic()

    def __call__(self, progress) -> None:
        frac = progress.iteration / max(1, progress.total)
        now = time.monotonic()
        loss = progress.losses.get("total")
        tail = f" loss {loss:.4g}" if loss is not None else ""
        text = (f"{progress.stage:<24.24} [{'#' * int(frac * self.width):<{self.width}}] "
                f"{progress.iteration}/{progress.total} {now - self.start:5.1f}s{tail}")
        if self.tty:
            self.stream.write("\r" + text)
            if progress.iteration >= progress.total:
                self.stream.write("\n")
            self.stream.flush()
        elif now - self.last_line > 5 or progress.iteration >= progress.total:
            self.stream.write(text + "\n")
            self.stream.flush()
            self.last_line = now


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}:" if hours else "") + f"{rest // 60:02d}:{rest % 60:02d}"


class FolderProgress:
    """A progress bar over the files of a folder, with the time left estimated from the files done so far."""

    def __init__(self, total: int, stream=None, width: int = 30):
        self.total, self.width = total, width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = self.failed = 0
        self.start = self.last_line = time.monotonic()

    def file_finished(self, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        elapsed = now - self.start
        eta = elapsed / self.done * (self.total - self.done)
        text = (f"files [{'#' * int(self.done / max(1, self.total) * self.width):<{self.width}}] {self.done}/"
                f"{self.total}{f', {self.failed} failed' if self.failed else ''}  {clock(elapsed)} elapsed, "
                f"{clock(eta)} left")
        finished = self.done >= self.total
        if self.tty:
            self.stream.write("\r" + text + ("\n" if finished else ""))
            self.stream.flush()
        elif now - self.last_line > 5 or finished:
            self.stream.write(text + "\n")
            self.stream.flush()
            self.last_line = now

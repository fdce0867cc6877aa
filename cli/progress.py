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

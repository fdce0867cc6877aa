"""The daemon's settings (from ``painterly daemon`` options or a test) and where it keeps its files."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from painterly.wire import protocol
from painterly.wire.endpoints import default_endpoint

VERSION = "0.1.0"


def default_results_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "painterly" / "daemon" / "results"


@dataclass
class DaemonConfig:
    endpoint: str = field(default_factory=default_endpoint)
    devices: tuple = ("auto",)
    threads: int = 0                       # torch threads (0 = torch's default)
    half: bool = False
    token: str | None = None               # the user's access token (required for TCP endpoints)
    allow_test_methods: bool = False       # the ``echo`` method (no compute) for tests and benchmarks
    test_methods: tuple = ()               # with allow_test_methods, "MODULE:ATTR" of further Method declarations
    results_dir: Path | None = None
    keep_results: float = 3600.0           # seconds a finished job (and its result file) is kept
    memory_results_bytes: int = 512 * 1024 * 1024
    disk_results_bytes: int = 4 * 1024 * 1024 * 1024  # oldest result files go first beyond this
    preview_every: int = 5                 # default iterations between preview images
    limits: dict = field(default_factory=lambda: dict(protocol.DEFAULT_LIMITS))
    cluster: str | None = None              # a Dask scheduler address: jobs run there (the dask backend)
    tls_dir: Path | None = None             # certificates of ``painterly cluster-certs`` for a tls:// cluster

    def cluster_security(self):
        """Dask's TLS settings for the daemon's connection to the cluster (None without ``tls_dir``)."""
        if self.tls_dir is None:
            return None
        from .certs import security
        return security(self.tls_dir, "client")

"""Private folders for the daemon tests, as pytest fixtures that test modules import by name. Not pytest's
tmp_path: concurrent pytest sessions prune each other's old base temp folders."""
import pathlib
import shutil
import tempfile
import time

import pytest


@pytest.fixture(scope="module")
def daemon_dir():
    path = pathlib.Path(tempfile.mkdtemp(prefix="painterly-daemon-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_dir(daemon_dir):
    path = daemon_dir / f"case-{time.monotonic_ns()}"
    path.mkdir()
    return path

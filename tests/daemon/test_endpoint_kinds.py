"""Every kind of endpoint is the user's alone or refused: an abstract socket (``ipc://@name``, no folder to
guard it) gets the daemon's check of each connecting user and the client's check of the process it reached;
a socket path whose folder another user makes after the client looked is caught once connected; a socket
path too long for the user's own folder is refused with a sentence, never moved to a shared folder."""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest

from painterly.wire import endpoints, protocol
from painterly.wire.client import Client, DaemonError

from daemon_process import DaemonProcess
from other_user import (OTHER_UID, abstract_bound, each_request_as_client, impostor_at, other_user_unavailable,
                        raw_requests, run_as_other_user)
from private_dirs import daemon_dir, own_dir  # noqa: F401 (fixtures)
from sample_jobs import random_rgba

RNG = np.random.default_rng(5)
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")


def abstract_endpoint():
    return "ipc://@painterly-test-%d-%d" % (os.getpid(), time.monotonic_ns())


@pytest.fixture(scope="module")
def abstract_daemon(daemon_dir):
    proc = DaemonProcess(daemon_dir, endpoint=abstract_endpoint())
    yield proc
    proc.stop()
    assert "Traceback" not in proc.output(), proc.output()


def test_the_owner_uses_an_abstract_socket_daemon(abstract_daemon):
    with Client(abstract_daemon.endpoint, timeout=10) as c:
        assert c.handshake()["protocol"] == protocol.PROTOCOL_VERSION
        assert c.run("echo", {}, {"content": random_rgba(RNG, 8, 8)}).image.width == 8


def test_another_user_can_neither_list_fetch_cancel_nor_stop_an_abstract_socket_daemon(abstract_daemon):
    endpoint = abstract_daemon.endpoint
    with Client(endpoint, timeout=10) as c:
        finished = c.submit("echo", {}, {"content": random_rgba(RNG, 8, 8)})
        c.wait(finished)
        running = c.submit("echo", {"iterations": 400, "delay": 0.05}, {"content": random_rgba(RNG, 8, 8)})
        while c.status(running)["state"] != "running":
            time.sleep(0.02)
    outcomes = run_as_other_user(each_request_as_client, endpoint, running, finished)
    for name in ("handshake", "list", "fetch", "watch", "cancel", "stop"):   # its client sends nothing to uid 0
        assert outcomes[name].startswith("auth: Not sending anything"), (name, outcomes[name])
    outcomes = run_as_other_user(each_request_as_client, endpoint, running, finished, True)
    for name in ("handshake", "list", "fetch", "watch", "cancel", "stop"):   # the daemon refuses it itself
        assert outcomes[name].startswith("auth: ") and "refused this client" in outcomes[name], outcomes[name]
    seen = run_as_other_user(raw_requests, endpoint, running)     # past the client's own check: the daemon's
    assert seen["replies"] == 0 and "HANDSHAKE_FAILED_AUTH" in seen["events"], seen
    assert "refused a connection from uid %d" % OTHER_UID in abstract_daemon.output()
    with Client(endpoint, timeout=10) as c:
        assert c.status(running)["state"] == "running"
        assert c.wait(finished).image.width == 8
        c.cancel(running)


def test_an_abstract_socket_another_user_took_first_receives_nothing(own_dir, capsys):
    from PIL import Image
    from painterly.cli import main as cli
    reason = other_user_unavailable()
    if reason:
        pytest.skip(reason)
    cli.build_parser()                           # its imports take seconds: not while the impostor waits
    endpoint = abstract_endpoint()
    impostor = {}
    thread = threading.Thread(target=lambda: impostor.update(run_as_other_user(impostor_at, endpoint, 8)))
    thread.start()
    deadline = time.monotonic() + 5
    while not abstract_bound(endpoint[len("ipc://@"):]):
        assert time.monotonic() < deadline, "the impostor did not bind"
        time.sleep(0.05)
    with Client(endpoint, timeout=3) as c:
        with pytest.raises(DaemonError, match="runs as uid %d, not as you" % OTHER_UID) as exc:
            c.submit("echo", {}, {"content": random_rgba(RNG, 8, 8)})
        assert exc.value.code == protocol.AUTH
    Image.new("RGB", (8, 8), "red").save(own_dir / "in.png")
    code = cli.main(["submit", "echo", str(own_dir / "in.png"), "-o", str(own_dir / "out.png"), "--endpoint",
                     endpoint, "--timeout", "3", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "is not your painterly daemon" in err and "Traceback" not in err, err
    assert not (own_dir / "out.png").exists()
    thread.join(30)
    assert impostor == {"received": 0}


def test_a_socket_folder_made_by_another_user_after_the_client_looked_receives_nothing():
    """The folder is not there when the client checks it; another user makes it (in a shared folder) and
    listens there while ZeroMQ keeps reconnecting: the process reached is checked before anything goes."""
    reason = other_user_unavailable()
    if reason:
        pytest.skip(reason)
    shared = pathlib.Path(tempfile.mkdtemp(prefix="painterly-shared-"))
    os.chmod(shared, 0o1777)                       # like /tmp
    endpoint = "ipc://%s/painterly-0/daemon.sock" % shared
    impostor = {}
    try:
        with Client(endpoint, timeout=6) as c:
            assert endpoints.ipc_problem(endpoint) is None    # nothing there yet: nothing to object to
            thread = threading.Thread(target=lambda: impostor.update(run_as_other_user(impostor_at, endpoint, 8, 1.0)))
            thread.start()
            with pytest.raises(DaemonError, match="runs as uid %d" % OTHER_UID) as exc:
                c.submit("echo", {}, {"content": random_rgba(RNG, 8, 8)})
            assert exc.value.code == protocol.AUTH
        thread.join(30)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert impostor == {"received": 0}


def test_a_socket_path_too_long_is_refused_with_a_sentence_not_moved_to_a_shared_folder(own_dir):
    deep = own_dir / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True, mode=0o700)
    env = dict(os.environ, XDG_CACHE_HOME=str(deep))
    env.pop("XDG_RUNTIME_DIR")
    folder = subprocess.run([sys.executable, "-c", "from painterly.wire import endpoints; "
                             "print(endpoints.runtime_folder()); print(endpoints.default_endpoint())"],
                            capture_output=True, text=True, env=env, timeout=60).stdout.split()
    assert folder[0] == str(deep / "painterly" / "run") and folder[1].startswith("ipc://" + str(deep)), folder
    daemon = subprocess.run([sys.executable, "-m", "painterly.cli", "daemon", "--device", "cpu"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert daemon.returncode == 2 and "longer than a socket path may be" in daemon.stderr, daemon
    assert "Traceback" not in daemon.stderr
    status = subprocess.run([sys.executable, "-m", "painterly.cli", "daemon", "status"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert status.returncode != 0 and "longer than a socket path may be" in status.stdout + status.stderr, status
    assert not [p for p in pathlib.Path(tempfile.gettempdir()).glob("painterly-%d" % os.getuid())
                if p.stat().st_mtime > time.time() - 120]

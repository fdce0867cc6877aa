"""Starting, stopping and configuring the daemon: detached start, kill and restart with stored results,
refused binds, which methods it loads, and its disk budget for results."""
import os
import signal
import time

import numpy as np
import pytest

from painterly.wire import protocol
from painterly.wire.client import Client, DaemonError, DaemonUnavailable

from daemon_process import free_port
from private_dirs import daemon_dir, own_dir  # noqa: F401 (fixtures)
from sample_jobs import random_rgba


def test_detached_daemon_killed_mid_job_then_restarted_serves_stored_results(own_dir, capsys):
    """--detach / status / stop; kill -9 mid-job: the client reports it within its timeout; a restarted
    daemon still serves results finished before the kill, from disk, and runs the interrupted job again."""
    from painterly.cli import main as cli
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    start = ["daemon", "--detach", "--endpoint", endpoint, "--device", "cpu", "--threads", "1",
             "--allow-test-methods", "--results-dir", str(own_dir / "results"), "--log", str(own_dir / "log")]
    assert cli.main(start) == 0
    assert "started (pid" in capsys.readouterr().err
    assert oct((own_dir / "log").stat().st_mode & 0o777) == "0o600"        # the log is the user's alone
    image = random_rgba(np.random.default_rng(9), 24, 16, depth=16)
    with Client(endpoint, timeout=2) as c:
        pid = c.status()["pid"]
        try:
            finished = c.submit("echo", {}, {"content": image})
            c.wait(finished)
            deadline = time.monotonic() + 10
            while not (own_dir / "results" / f"{finished}.result").is_file():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            job_id = c.submit("echo", {"iterations": 100, "delay": 0.02}, {"content": image})
            killed = []

            def kill_on_progress(event):
                if not killed:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(time.monotonic())

            with pytest.raises(DaemonUnavailable) as err:
                c.wait(job_id, on_progress=kill_on_progress)
            noticed = time.monotonic() - killed[0]
            print(f"daemon death noticed after {noticed:.2f} s (client timeout 2 s)")
            assert noticed < 2 + 1.5
            assert "stopped answering" in str(err.value)
            with pytest.raises(DaemonUnavailable):  # later calls fail clearly too
                c.handshake()
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert cli.main(["daemon", "status", "--endpoint", endpoint, "--timeout", "0.5"]) == 1
    assert "no painterly daemon" in capsys.readouterr().out
    # Restarted listening on all interfaces: that needs --auth token (CURVE + token); same results folder.
    token_file = own_dir / "token"
    port = endpoint.rsplit(":", 1)[1]
    restart = start[:3] + [f"tcp://0.0.0.0:{port}"] + start[4:] + ["--auth", "token", "--token-file",
                                                                   str(token_file), "--max-queue", "2"]
    assert cli.main(restart) == 0
    try:
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        token = token_file.read_text().strip()
        for wrong, words in (("w" * 40, "with your token"), ("", "needs an access token")):
            with Client(endpoint, timeout=1, token=wrong) as c:  # other CURVE keys / plain TCP: no handshake
                with pytest.raises(DaemonError, match=words) as err:
                    c.handshake()
                assert err.value.code == protocol.AUTH
        with Client(endpoint, timeout=10, token=token) as c:
            result = c.wait(finished)
            assert bytes(result.image.data) == bytes(image.data)
            assert (result.image.depth, result.image.x, result.image.y) == (16, image.x, image.y)
            rerun = c.wait(job_id)  # killed mid-job: run again by the restarted daemon
            assert bytes(rerun.image.data) == bytes(image.data)
            first = c.submit("echo", {"iterations": 40, "delay": 0.05}, {"content": image})
            while c.status(first)["state"] != "running":
                time.sleep(0.02)
            c.submit("echo", {}, {"content": image})
            c.submit("echo", {}, {"content": image})
            with pytest.raises(DaemonError) as err:
                c.submit("echo", {}, {"content": image})
            assert err.value.code == protocol.QUEUE_FULL and "queue is full" in str(err.value)
            c.cancel(first)
        assert cli.main(["daemon", "status", "--endpoint", endpoint, "--token-file", str(token_file)]) == 0
        assert "echo" in capsys.readouterr().out
    finally:
        assert cli.main(["daemon", "stop", "--endpoint", endpoint, "--token-file", str(token_file)]) == 0
    assert "stopped" in capsys.readouterr().err


def test_no_daemon_is_a_clear_error():
    port = free_port()
    start = time.monotonic()
    with Client(f"tcp://127.0.0.1:{port}", timeout=0.5) as c:
        with pytest.raises(DaemonUnavailable, match="painterly daemon"):
            c.handshake()
    assert time.monotonic() - start < 2


def test_non_loopback_bind_without_auth_is_refused(own_dir, capsys):
    from painterly.cli import main as cli
    from painterly.daemon.config import DaemonConfig
    from painterly.daemon.server import Daemon
    for endpoint in ("tcp://0.0.0.0:0", "tcp://192.168.1.2:7878", "tcp://*:7878"):
        assert cli.main(["daemon", "--endpoint", endpoint, "--results-dir", str(own_dir)]) == 2
        err = capsys.readouterr().err
        assert "not a loopback address" in err and "--auth token" in err and "Traceback" not in err
    # The server refuses too, whoever configures it.
    with pytest.raises(PermissionError, match="not a loopback address"):
        Daemon(DaemonConfig(endpoint="tcp://0.0.0.0:0", results_dir=own_dir)).bind()


def test_echo_exists_only_with_allow_test_methods(own_dir):
    from painterly.daemon.config import DaemonConfig
    from painterly.daemon.server import Daemon
    plain = Daemon(DaemonConfig(results_dir=own_dir))
    plain.load_methods()
    assert "echo" not in plain.methods and {"global", "masked"} <= set(plain.methods)
    testing = Daemon(DaemonConfig(results_dir=own_dir, allow_test_methods=True))
    testing.load_methods()
    assert "echo" in testing.methods
    for daemon in (plain, testing):
        daemon.context.term()


def test_further_test_methods_come_from_their_declarations(own_dir):
    from painterly.daemon.config import DaemonConfig
    from painterly.daemon.jobs import import_method
    from painterly.daemon.server import Daemon
    from painterly.engine.methods.gatys import GLOBAL
    assert import_method("painterly.engine.methods.gatys:GLOBAL") is GLOBAL
    with pytest.raises(ValueError, match="not a painterly Method"):
        import_method("painterly.engine.methods.gatys:COMMON_PARAMS")
    daemon = Daemon(DaemonConfig(results_dir=own_dir, allow_test_methods=True,
                                 test_methods=("painterly.daemon.jobs:echo_method",)))
    with pytest.raises(ValueError):                 # a function, not a declaration
        daemon.load_methods()
    daemon.context.term()


def test_result_files_stay_within_their_disk_budget(own_dir):
    from painterly.daemon.config import DaemonConfig
    from painterly.daemon.jobs import Job
    from painterly.daemon.server import Daemon
    daemon = Daemon(DaemonConfig(results_dir=own_dir, disk_results_bytes=2500))
    daemon.results_dir.mkdir(parents=True, exist_ok=True)
    own_dir.chmod(0o700)
    for age, name in enumerate(["newest", "middle", "oldest"]):
        path = daemon.store.path(name)
        path.write_bytes(bytes(1000))
        os.utime(path, (time.time() - 100 * age, time.time() - 100 * age))
    daemon.store.open()                                 # results of earlier runs, found when the store opens
    job = Job("oldest", "echo", {}, None, 0)
    job.state, job.result_path = "done", daemon.store.path("oldest")
    daemon.jobs["oldest"] = job
    daemon.store.prune()
    assert sorted(p.stem for p in own_dir.glob("*.result")) == ["middle", "newest"]
    with pytest.raises(protocol.ProtocolError) as err:  # its job is reported as expired, not as a crash
        daemon.get_job("oldest")
    assert err.value.code == protocol.NOT_FOUND
    daemon.context.term()

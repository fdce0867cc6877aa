"""The daemon is the user's alone: each probe of an attacker on the same machine (another user, uid 65534)
and of a process without the token, against real daemons on the default endpoint (an ipc socket in the
user's runtime folder) and on loopback TCP (token + CURVE)."""
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest

from painterly.daemon import buffers
from painterly.wire import endpoints, protocol
from painterly.wire.client import Client, DaemonError

from abuse import (handshake_seconds, many_frames, unfinished_multipart, unread_handshakes, unread_watches,
                   while_running)
from daemon_process import DaemonProcess, free_port
from other_user import (OTHER_UID, OpenedForOthers, each_request_as_client, fake_daemon, impostor_socket_in_own_folder,
                        port_open, raw_requests, run_as_other_user)
from private_dirs import daemon_dir  # noqa: F401 (fixtures)
from sample_jobs import random_rgba

MB = 1 << 20
RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def daemons(daemon_dir):
    """The user's daemon on the default endpoint, and one on loopback TCP (both start at once)."""
    (daemon_dir / "ipc").mkdir()
    (daemon_dir / "tcp").mkdir()
    ipc = DaemonProcess(daemon_dir / "ipc", "--results-disk-mb", "160", "--results-memory-mb", "1",
                        "--max-queue-mb", "64", endpoint="default", wait=False)
    tcp = DaemonProcess(daemon_dir / "tcp", endpoint="tcp://127.0.0.1:%d" % free_port(), wait=False)
    try:
        yield ipc.wait_ready(180), tcp.wait_ready(180)
    finally:
        for proc in (ipc, tcp):
            proc.stop()
            assert "Traceback" not in proc.output(), proc.output()


def running_and_finished_jobs(endpoint):
    with Client(endpoint, timeout=10) as c:
        finished = c.submit("echo", {}, {"content": random_rgba(RNG, 8, 8)})
        c.wait(finished)
        running = c.submit("echo", {"iterations": 400, "delay": 0.05}, {"content": random_rgba(RNG, 8, 8)})
        while c.status(running)["state"] != "running":
            time.sleep(0.02)
    return running, finished


def assert_untouched(endpoint, running, finished):
    with Client(endpoint, timeout=10) as c:
        assert c.status(running)["state"] == "running"
        assert c.wait(finished).image.width == 8
        c.cancel(running)


# --- 1. no access control by default --------------------------------------------------------------------

def test_the_default_endpoint_is_a_socket_only_the_user_reaches(daemons):
    ipc, _ = daemons
    folder = os.path.join(os.environ["XDG_RUNTIME_DIR"], "painterly")
    assert endpoints.default_endpoint() == ipc.endpoint == "ipc://" + os.path.join(folder, "daemon.sock")
    for path in (folder, endpoints.ipc_path(ipc.endpoint)):
        st = os.lstat(path)
        assert st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077 == 0, oct(st.st_mode)
    with Client(timeout=10) as client:          # the plugins' and the CLI's way: no endpoint, no token
        assert client.endpoint == ipc.endpoint and client.handshake()["protocol"] == 1
    status = subprocess.run([sys.executable, "-m", "painterly.cli", "daemon", "status"], capture_output=True,
                            text=True, timeout=60)
    assert status.returncode == 0 and ipc.endpoint in status.stdout, status


def test_another_user_can_neither_list_fetch_cancel_nor_stop_the_default_daemon(daemons):
    ipc, _ = daemons
    running, finished = running_and_finished_jobs(ipc.endpoint)
    outcomes = run_as_other_user(each_request_as_client, ipc.endpoint, running, finished)
    for name in ("handshake", "list", "fetch", "watch", "cancel", "stop"):   # it cannot even reach the socket
        assert outcomes[name].startswith("unavailable: No painterly daemon"), (name, outcomes[name])
    assert_untouched(ipc.endpoint, running, finished)


def test_the_daemon_refuses_another_users_connection_itself(daemons):
    """Even with the folder opened to everyone, another user's requests are never read: the connection is
    refused during the ZeroMQ handshake."""
    ipc, _ = daemons
    running, finished = running_and_finished_jobs(ipc.endpoint)
    with OpenedForOthers(ipc.endpoint):
        seen = run_as_other_user(raw_requests, ipc.endpoint, running)
        outcomes = run_as_other_user(each_request_as_client, ipc.endpoint, running, finished, True)
    assert seen["replies"] == 0 and "HANDSHAKE_FAILED_AUTH" in seen["events"], seen
    for name in ("handshake", "list", "fetch", "watch", "cancel", "stop"):
        assert outcomes[name].startswith("auth: ") and "refused this client" in outcomes[name], outcomes[name]
    assert "refused a connection from uid %d" % OTHER_UID in ipc.output()
    assert_untouched(ipc.endpoint, running, finished)


def test_another_user_without_the_token_cannot_use_a_tcp_daemon(daemons):
    _, tcp = daemons
    running, finished = running_and_finished_jobs(tcp.endpoint)
    outcomes = run_as_other_user(each_request_as_client, tcp.endpoint, running, finished)
    assert outcomes["token"] is None          # the user's token file is the user's alone
    for name in ("handshake", "list", "fetch", "watch", "cancel", "stop"):
        assert outcomes[name].startswith("auth: ") and "needs an access token" in outcomes[name], outcomes[name]
    seen = run_as_other_user(raw_requests, tcp.endpoint, running)
    # a plain (non-CURVE) peer fails the handshake: libzmq names it PROTOCOL when it reads the greeting
    # itself and NO_DETAIL when the daemon hangs up first; either way nothing gets through
    failed = [e for e in seen["events"] if e.startswith("HANDSHAKE_FAILED_")]
    assert seen["replies"] == 0 and failed and "HANDSHAKE_SUCCEEDED" not in seen["events"], seen
    assert_untouched(tcp.endpoint, running, finished)


@pytest.mark.parametrize("curve", [False, True])
def test_a_process_of_another_user_on_the_port_receives_nothing_and_forges_nothing(daemons, daemon_dir, curve, capsys):
    from painterly.cli import main as cli
    cli.build_parser()                          # its imports take seconds: not while the impostor waits
    port = free_port()
    impostor = {}
    thread = threading.Thread(target=lambda: impostor.update(run_as_other_user(fake_daemon, port, curve, 10)))
    thread.start()
    deadline = time.monotonic() + 5
    while not port_open(port):
        assert time.monotonic() < deadline, "the impostor did not bind"
        time.sleep(0.05)
    work = daemon_dir / ("impostor-%d" % curve)
    work.mkdir()
    from PIL import Image
    Image.fromarray(buffers.as_uint_array(random_rgba(RNG, 16, 16))).save(work / "in.png")
    endpoint = "tcp://127.0.0.1:%d" % port
    code = cli.main(["submit", "echo", str(work / "in.png"), "-o", str(work / "out.png"), "--endpoint", endpoint,
                     "--timeout", "3", "--quiet"])
    err = capsys.readouterr().err
    words = "Could not authenticate the painterly daemon"
    assert code == 2 and words in err and "not your daemon; nothing was sent" in err and "Traceback" not in err, err
    assert not (work / "out.png").exists()
    with Client(endpoint, timeout=3) as c:  # straight to submit, without a handshake first
        with pytest.raises(DaemonError, match=words) as exc:
            c.submit("echo", {}, {"content": random_rgba(RNG, 16, 16)})
        assert exc.value.code == protocol.AUTH
    with Client(endpoint, timeout=3, token="") as c:  # a client without the token sends nothing over TCP
        with pytest.raises(DaemonError, match="not a painterly daemon" if not curve else "needs an access token"):
            c.submit("echo", {}, {"content": random_rgba(RNG, 16, 16)})
    thread.join(30)
    assert impostor == {"received": 0}


def test_a_socket_folder_of_another_user_is_neither_trusted_nor_used(daemon_dir):
    from painterly.daemon.config import DaemonConfig
    from painterly.daemon.server import Daemon
    shared = pathlib.Path(tempfile.mkdtemp(prefix="painterly-shared-"))
    os.chmod(shared, 0o1777)                       # like /tmp
    impostor = {}
    thread = threading.Thread(target=lambda: impostor.update(run_as_other_user(impostor_socket_in_own_folder,
                                                                               str(shared), 5)))
    thread.start()
    endpoint = "ipc://%s/painterly-0/daemon.sock" % shared
    deadline = time.monotonic() + 5
    while not os.path.exists(endpoints.ipc_path(endpoint)):
        assert time.monotonic() < deadline, "the impostor did not bind"
        time.sleep(0.05)
    with Client(endpoint, timeout=2) as c:
        with pytest.raises(DaemonError, match="belongs to another user") as exc:
            c.handshake()
        assert exc.value.code == protocol.AUTH
    daemon = Daemon(DaemonConfig(endpoint=endpoint, results_dir=daemon_dir / "unused"))
    with pytest.raises(PermissionError, match="belongs to another user"):
        daemon.claim_endpoint()
    daemon.context.term()
    thread.join(30)
    shutil.rmtree(shared)
    assert impostor == {"received": 0}


def test_a_tcp_daemon_reached_without_the_token_says_so(daemons, daemon_dir):
    _, tcp = daemons
    start = time.monotonic()
    with Client(tcp.endpoint, timeout=5, token="") as c:
        with pytest.raises(DaemonError, match="needs an access token") as exc:
            c.handshake()
    assert exc.value.code == protocol.AUTH and time.monotonic() - start < 2
    env = dict(os.environ, PAINTERLY_TOKEN_FILE=str(daemon_dir / "no-such-token"))
    status = subprocess.run([sys.executable, "-m", "painterly.cli", "daemon", "status", "--endpoint", tcp.endpoint],
                            capture_output=True, text=True, timeout=60, env=env)
    assert status.returncode == 2 and "needs an access token" in status.stderr, status
    assert "no painterly daemon" not in status.stdout + status.stderr


# --- 2. files: painterly submit never destroys one ----------------------------------------------------

def test_submit_never_destroys_a_file(daemons, daemon_dir, capsys):
    from PIL import Image
    from painterly.cli import main as cli
    ipc, _ = daemons
    work = daemon_dir / "files"
    work.mkdir()
    arr = buffers.as_uint_array(random_rgba(np.random.default_rng(4), 24, 16)).copy()
    arr[..., 3] = 0
    arr[4:12, 6:18, 3] = 255                                 # a transparent layer with an opaque object
    Image.fromarray(arr).save(work / "layer.png")
    victim = work / "victim.jpg"
    Image.new("RGB", (5, 5), "red").save(victim)
    assert cli.main(["submit", "echo", str(work / "layer.png"), "-o", str(victim), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "flattened onto white" in err and "Traceback" not in err
    with Image.open(victim) as out:
        assert out.format == "JPEG" and out.size == (24, 16)
        assert np.asarray(out.convert("RGB"))[0, 0].min() > 240        # transparent -> white
    with Client(timeout=10) as c:
        before = c.status(limit=0)["total"]
    original = (work / "layer.png").read_bytes()
    for output, words in ((work / "layer.png", "over the input"), (work / "layer.png" / "x.png", "not a folder"),
                          (work / "out.xyz", "not an image format")):
        assert cli.main(["submit", "echo", str(work / "layer.png"), "-o", str(output)]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err
    assert (work / "layer.png").read_bytes() == original
    with Client(timeout=10) as c:                          # refused before anything was sent
        assert c.status(limit=0)["total"] == before
    assert sorted(p.name for p in work.iterdir()) == ["layer.png", "victim.jpg"]


# --- 3. memory stays bounded ------------------------------------------------------------------------

def wait_stored(ipc, job_id):
    path = pathlib.Path(ipc.log_path).parent / "results" / ("%s.result" % job_id)
    deadline = time.monotonic() + 20
    while not path.is_file():
        assert time.monotonic() < deadline, "result not stored"
        time.sleep(0.05)
    time.sleep(0.5)
    return path


def test_watching_a_stored_result_forty_times_without_reading_holds_one_copy(daemons):
    ipc, _ = daemons
    with Client(timeout=30) as c:
        job = c.submit("echo", {}, {"content": random_rgba(RNG, 2048, 2048)})   # a 16 MiB result
        assert c.wait(job).image.width == 2048
    wait_stored(ipc, job)                        # on disk, and out of memory (--results-memory-mb 1)
    seen = while_running(ipc.proc.pid, ipc.endpoint, lambda: unread_watches(ipc.endpoint, job, 40))
    print("40 unread watches of a 16 MiB stored result: daemon +%.0f MB, handshakes <= %.0f ms"
          % (seen["peak_mb"], seen["latency_ms"][0]))
    assert seen["peak_mb"] < 64 and seen["latency_ms"][0] < 1000


def test_an_unfinished_multipart_message_from_outside_costs_the_daemon_nothing(daemons):
    """Written frame by frame on a bare socket (a libzmq client would keep an unfinished message to itself):
    another user and a process without the token are refused at the handshake, before any frame."""
    ipc, tcp = daemons
    with OpenedForOthers(ipc.endpoint):
        other = while_running(ipc.proc.pid, ipc.endpoint,
                              lambda: run_as_other_user(unfinished_multipart, ipc.endpoint))
    untokened = while_running(tcp.proc.pid, tcp.endpoint, lambda: unfinished_multipart(tcp.endpoint))
    print("unfinished messages of 3 x 20 x 7 MiB: daemon +%.0f MB (another user), +%.0f MB (no token)"
          % (other["peak_mb"], untokened["peak_mb"]))
    for seen in (other, untokened):
        assert seen["result"] == {"sent_mb": 0}
        assert seen["peak_mb"] < 64 and seen["latency_ms"][0] < 1000


def test_a_message_of_many_frames_is_dropped_as_it_is_read(daemons):
    ipc, _ = daemons
    seen = while_running(ipc.proc.pid, ipc.endpoint, lambda: many_frames(ipc.endpoint, 200_000))
    reply = seen["result"]
    print("200000 empty frames in one message: daemon +%.0f MB" % seen["peak_mb"])
    assert reply["type"] == "error" and reply["code"] == protocol.BAD_MESSAGE and "at most 9 frames" in reply["message"]
    assert seen["peak_mb"] < 64
    assert handshake_seconds(ipc.endpoint) < 1.0


def test_replies_a_client_never_reads_are_bounded(daemons):
    ipc, _ = daemons
    seen = while_running(ipc.proc.pid, ipc.endpoint, lambda: unread_handshakes(ipc.endpoint, 12_000))
    print("12000 unread handshakes: daemon +%.0f MB, handshakes <= %.0f ms" % (seen["peak_mb"], seen["latency_ms"][0]))
    assert seen["result"]["handshakes"] == 12_000 and seen["peak_mb"] < 64
    assert handshake_seconds(ipc.endpoint) < 1.0


def test_the_queue_is_bounded_by_bytes_and_the_handshake_says_so(daemons):
    with Client(timeout=30) as c:
        limits = c.handshake()["limits"]
        assert limits["max_queue_bytes"] == 64 * MB
        assert limits["max_peer_bytes"] > 0 and limits["max_header_bytes"] > 0 and limits["max_status_jobs"] > 0
        image = random_rgba(RNG, 2560, 2048)                       # 20 MiB of pixels
        jobs = [c.submit("echo", {"iterations": 200, "delay": 0.05}, {"content": image}) for _ in range(3)]
        with pytest.raises(DaemonError, match="MiB") as exc:
            c.submit("echo", {}, {"content": image})
        assert exc.value.code == protocol.QUEUE_FULL
        for job in jobs:
            c.cancel(job)
        deadline = time.monotonic() + 10
        while c.status(jobs[0])["state"] != "cancelled":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        c.run("echo", {}, {"content": image})                     # room again once they ended


# --- 6/7. operators: status pages, events after watch, one daemon per socket, stop -----------------------

def test_a_submitter_gets_events_only_after_it_watches(daemons):
    with Client(timeout=10) as c:
        job = c.submit("echo", {"iterations": 12, "delay": 0.1}, {"content": random_rgba(RNG, 8, 8)})
        assert not c._socket.poll(500)          # ~5 iterations ran meanwhile: nothing was sent unasked
        events = []
        c.wait(job, on_progress=events.append)
    assert events and events[-1].iteration == 12


def test_a_second_daemon_on_the_same_socket_is_refused(daemons, daemon_dir):
    ipc, _ = daemons
    second = subprocess.run([sys.executable, "-m", "painterly.cli", "daemon", "--device", "cpu",
                             "--results-dir", str(daemon_dir / "second")], capture_output=True, text=True, timeout=120)
    assert second.returncode == 2, second
    assert "already listens on %s" % ipc.endpoint in second.stderr and "Traceback" not in second.stderr
    assert handshake_seconds(ipc.endpoint) < 1.0


def test_thousands_of_jobs_page_through_status(daemons, capsys):
    from painterly.cli import main as cli
    with Client(timeout=10) as c:
        image = random_rgba(RNG, 1, 1)
        submitted = 0
        while submitted < 2100:
            try:
                c.submit("echo", {}, {"content": image})
                submitted += 1
            except DaemonError as exc:
                assert exc.code == protocol.QUEUE_FULL
                time.sleep(0.01)
        seen, offset, pages = set(), 0, 0
        while offset is not None:
            page = c.status(offset=offset)
            assert len(protocol.pack(page)) < protocol.DEFAULT_LIMITS["max_header_bytes"] // 2
            seen.update(job["id"] for job in page["jobs"])
            offset, pages = page["next"], pages + 1
        assert len(seen) == page["total"] >= 2100 and pages >= 21
    assert cli.main(["daemon", "status"]) == 0
    out = capsys.readouterr().out
    assert "jobs: %d (" % len(seen) in out


def test_stop_works_with_thousands_of_jobs(daemons, capsys):
    from painterly.cli import main as cli
    ipc, _ = daemons
    assert cli.main(["daemon", "stop"]) == 0
    assert "stopped (pid %d)" % ipc.proc.pid in capsys.readouterr().err
    assert ipc.proc.wait(20) == 0

"""A real daemon process on its default kind of endpoint (an ipc socket in a private folder), driven
through the client and through raw sockets."""
import random
import subprocess
import sys
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

from painterly.daemon import buffers
from painterly.wire import protocol
from painterly.wire.client import Client, DaemonError, ImageBuffer, JobCancelled

from daemon_process import DaemonProcess
from private_dirs import daemon_dir, own_dir  # noqa: F401 (fixtures)
from sample_jobs import SMALL_JOB, as_buffers, engine_layer, masked_inputs, random_rgba

# The daemon's own limits in these tests: small, so "too large" is cheap to provoke.
MAX_PIXELS = 1_000_000
MAX_MESSAGE_MB = 16


@pytest.fixture(scope="module")
def daemon(daemon_dir):
    proc = DaemonProcess(daemon_dir, "--preview-every", "1",
                         "--max-pixels", str(MAX_PIXELS), "--max-message-mb", str(MAX_MESSAGE_MB))
    yield proc
    proc.stop()
    assert proc.proc.returncode == 0, proc.output()
    assert "Traceback" not in proc.output(), proc.output()


@pytest.fixture
def client(daemon):
    with Client(daemon.endpoint, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def small_job(daemon):
    """One small masked job through the daemon, with every progress event it sent."""
    content, style, mask = masked_inputs()
    events = []
    with Client(daemon.endpoint, timeout=10) as c:
        result = c.run("masked", SMALL_JOB, as_buffers(content, style, mask), on_progress=events.append,
                       preview_every=1)
    return (content, style, mask), result, events


def test_handshake(client):
    info = client.handshake()
    assert info["protocol"] == protocol.PROTOCOL_VERSION and info["version"]
    methods = {m["name"]: m for m in info["methods"]}
    assert {"global", "masked", "echo"} <= set(methods)
    assert {p["name"] for p in methods["masked"]["params"]} >= {"size", "iterations", "network"}
    assert [i["name"] for i in methods["masked"]["inputs"]] == ["content", "style", "style2", "style3", "mask"]
    assert info["devices"] == ["cpu"]
    assert info["limits"]["max_pixels"] == MAX_PIXELS
    assert info["limits"]["max_message_bytes"] == MAX_MESSAGE_MB * 1024 * 1024


def test_small_job_equals_in_process_engine(small_job):
    (content, style, mask), result, _ = small_job
    want_arr = engine_layer("masked", as_buffers(content, style, mask), SMALL_JOB)
    got = result.image
    assert (got.width, got.height, got.channels, got.depth) == (40, 40, 4, 8)
    got_arr = buffers.as_uint_array(got)
    assert np.array_equal(got_arr, want_arr), np.abs(got_arr.astype(int) - want_arr).max()
    # The job changed something inside the mask and nothing far outside it.
    assert got_arr[..., 3].max() == 255 and got_arr[0, 0, 3] == 0
    assert result.meta["method"] == "masked" and result.meta["params"]["iterations"] == 3


def test_progress_events_arrive_in_order(small_job):
    _, result, events = small_job
    assert [e.iteration for e in events] == [1, 2, 3]
    assert all(e.total == 3 and e.job_id == result.job_id for e in events)
    assert all("total" in e.losses for e in events)
    for event in events:  # --preview-every 1: a preview with every event
        p = event.preview
        assert p is not None and p.channels == 3 and p.depth == 8 and max(p.width, p.height) <= 256
        assert len(bytes(p.data)) == p.width * p.height * 3


def test_cancel_stops_a_running_job_quickly_and_the_next_job_runs(client):
    content, style, mask = masked_inputs(size=64)
    cancel = threading.Event()
    seen = []

    def on_progress(event):
        seen.append((time.monotonic(), event.iteration))
        if event.iteration >= 2:
            cancel.set()

    job_id = client.submit("masked", dict(SMALL_JOB, iterations=500), as_buffers(content, style, mask))
    with pytest.raises(JobCancelled):
        client.wait(job_id, on_progress=on_progress, cancel_event=cancel)
    cancelled_at = time.monotonic()
    while client.status(job_id)["state"] != "cancelled":
        assert time.monotonic() - cancelled_at < 5, client.status(job_id)
        time.sleep(0.02)
    stopped_after = time.monotonic() - cancelled_at
    status = client.status(job_id)
    assert status["iteration"] < 20, status
    per_iteration = (seen[-1][0] - seen[0][0]) / max(1, len(seen) - 1)
    print(f"cancel honoured {stopped_after * 1000:.0f} ms after the request (iteration ~{per_iteration * 1000:.0f} ms)")
    assert stopped_after < 2.0
    # The next job runs normally.
    image = random_rgba(np.random.default_rng(3), 16, 8)
    result = client.run("echo", {}, {"content": image})
    assert bytes(result.image.data) == bytes(image.data)


def test_cancel_of_a_queued_job(client):
    image = random_rgba(np.random.default_rng(4), 8, 8)
    running = client.submit("echo", {"iterations": 20, "delay": 0.05}, {"content": image})
    queued = client.submit("echo", {}, {"content": image})
    assert client.status(queued)["state"] == "queued"
    client.cancel(queued)
    assert client.status(queued)["state"] == "cancelled"
    with pytest.raises(JobCancelled):
        client.wait(queued)
    assert bytes(client.wait(running).image.data) == bytes(image.data)


def test_two_clients_with_several_jobs_each_get_their_own_results(daemon):
    results, errors = {}, []

    def one_client(seed):
        try:
            rng = np.random.default_rng(seed)
            with Client(daemon.endpoint, timeout=10) as c:
                sent = {}
                for i in range(6):
                    image = random_rgba(rng, int(rng.integers(4, 40)), int(rng.integers(4, 40)), depth=8 + 8 * (i % 2))
                    sent[c.submit("echo", {"iterations": 2, "delay": 0.01}, {"content": image})] = image
                for job_id, image in sent.items():
                    result = c.wait(job_id)
                    results[job_id] = (image, result)
        except Exception as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=one_client, args=(seed,)) for seed in (11, 12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == 12
    for image, result in results.values():
        got = result.image
        assert (got.width, got.height, got.depth, got.x, got.y) == (image.width, image.height, image.depth,
                                                                     image.x, image.y)
        assert bytes(got.data) == bytes(image.data)


def test_client_disconnect_mid_job_then_another_client_fetches_the_result(daemon):
    content, style, mask = masked_inputs(seed=5)
    first = Client(daemon.endpoint, timeout=10)
    job_id = first.submit("masked", dict(SMALL_JOB, iterations=4), as_buffers(content, style, mask))
    first._request({"type": "watch", "job": job_id})  # now a watcher that will vanish
    while first.status(job_id)["state"] == "queued":
        time.sleep(0.02)
    first.close()
    with Client(daemon.endpoint, timeout=10) as second:
        result = second.wait(job_id)
        assert (result.image.width, result.image.height) == (40, 40)
        assert second.status(job_id)["state"] == "done"
        assert second.handshake()["protocol"] == 1


def test_unknown_method_and_bad_params_get_readable_errors(client):
    image = random_rgba(np.random.default_rng(6), 8, 8)
    with pytest.raises(DaemonError) as err:
        client.submit("nonexistent", {}, {"content": image})
    assert err.value.code == protocol.UNKNOWN_METHOD and "masked" in str(err.value)
    with pytest.raises(DaemonError) as err:
        client.submit("masked", {"iterations": -3}, as_buffers(*masked_inputs()))
    assert err.value.code == protocol.BAD_PARAMS and "iterations" in str(err.value)
    with pytest.raises(DaemonError) as err:
        client.submit("masked", {}, {"content": image})
    assert err.value.code == protocol.BAD_PARAMS and "style" in str(err.value)
    with pytest.raises(DaemonError) as err:
        client.wait("0123abcd")
    assert err.value.code == protocol.NOT_FOUND


def raw_socket(endpoint):
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.connect(endpoint)
    return sock


def test_oversize_job_is_refused_before_allocation(daemon, client):
    rss_before = daemon.rss_mb()
    sock = raw_socket(daemon.endpoint)
    # Claims of 60000x60000 RGBA16 (28.8 GB) with a tiny frame: refused from the header alone.
    for width in (60000, 30000, 1001):
        header = {"v": 1, "type": "submit", "rid": width, "method": "echo", "params": {},
                  "images": {"content": {"width": width, "height": 1000, "channels": 4, "depth": 16, "frame": 0}}}
        sock.send_multipart([msgpack.packb(header), b"tiny"])
        reply = msgpack.unpackb(sock.recv_multipart()[0])
        assert reply["type"] == "error" and reply["code"] == protocol.TOO_LARGE and reply["rid"] == width
        assert "limit" in reply["message"]
    assert daemon.rss_mb() - rss_before < 50
    # A real buffer over the pixel limit, through the client.
    big = buffers.from_uint(np.zeros((1001, 1000, 1), np.uint8))
    with pytest.raises(DaemonError) as err:
        client.submit("echo", {}, {"content": big})
    assert err.value.code == protocol.TOO_LARGE and "megapixels" in str(err.value)
    with Client(daemon.endpoint, timeout=10) as informed:  # after a handshake: refused without sending
        informed.handshake()
        with pytest.raises(DaemonError, match="daemon's limit") as err:
            informed.submit("echo", {}, {"content": big})
        assert err.value.code == protocol.TOO_LARGE
    # A frame over the message size limit: libzmq drops the connection before allocating it.
    sock.send_multipart([msgpack.packb({"v": 1, "type": "handshake", "rid": 1}), bytes((MAX_MESSAGE_MB + 1) << 20)])
    assert not sock.poll(500)
    sock.close()
    assert daemon.rss_mb() - rss_before < 50
    assert client.handshake()["protocol"] == 1


def random_message(rng, valid_header):
    """One malformed or random request."""
    kind = rng.randrange(8)
    if kind == 0:
        return [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))]
    if kind == 1:
        return [msgpack.packb(rng.choice([None, 1, -5, 3.5, "x", b"bin", [1, 2], {"a": 1}, {1: 2}, True]))]
    if kind == 2:
        return []  # DEALER sends nothing for an empty message: replaced below by an empty frame
    header = dict(valid_header, images={k: dict(v) for k, v in valid_header["images"].items()})
    image = header["images"]["content"]
    junk = [None, -1, 0, 2 ** 40, 2 ** 64 - 1, -2 ** 63, 1.5, float("nan"), "8", b"\x00", [], {}, True, "echo"]
    for _ in range(rng.randrange(1, 4)):
        where = rng.randrange(4)
        if where == 0:
            header[rng.choice(["v", "type", "rid", "method", "params", "images", "token", "extra"])] = rng.choice(junk)
        elif where == 1:
            image[rng.choice(list(protocol.IMAGE_FIELDS) + ["junk"])] = rng.choice(junk)
        elif where == 2:
            header["params"] = {rng.choice(["iterations", "delay", "x", ""]): rng.choice(junk)}
        else:
            header["type"] = rng.choice(list(protocol.REQUEST_TYPES) + ["nope"])
            header["job"] = rng.choice(junk + ["deadbeef", "../../etc/passwd"])
    frames = [msgpack.packb(header, use_bin_type=True)]
    extra = rng.randrange(4)
    if extra == 0:
        frames.append(bytes(rng.randrange(0, 300)))
    elif extra == 1:
        frames += [b"", b"x"]
    elif extra == 2:
        frames.append(bytes(4 * 4 * 3))
    return frames


def test_ten_thousand_malformed_messages_then_a_valid_handshake(daemon, client):
    rng = random.Random(1234)
    valid = msgpack.unpackb(protocol.encode({"type": "submit", "rid": 1, "method": "echo",
                                             "params": {"iterations": 0}, "images": {}},
                                            {"images/content": ImageBuffer(4, 4, 3, 8, bytes(48))})[0])
    sock = raw_socket(daemon.endpoint)
    count, replies, codes = 10_000, 0, {}
    start = time.monotonic()
    for i in range(count):
        frames = random_message(rng, valid) or [b""]
        sock.send_multipart(frames)
        while sock.poll(0):  # read replies as they come, without waiting for each
            header = msgpack.unpackb(sock.recv_multipart()[0])
            replies += 1
            codes[header.get("code", header["type"])] = codes.get(header.get("code", header["type"]), 0) + 1
    while replies < count and sock.poll(5000):
        header = msgpack.unpackb(sock.recv_multipart()[0])
        replies += 1
        codes[header.get("code", header["type"])] = codes.get(header.get("code", header["type"]), 0) + 1
    elapsed = time.monotonic() - start
    print(f"{count} malformed messages in {elapsed:.1f} s: {replies} replies {codes}")
    sock.close()
    assert replies == count  # every message answered, none crashed the daemon
    assert codes.get(protocol.BAD_MESSAGE, 0) > count // 2
    assert protocol.INTERNAL not in codes, codes
    assert daemon.proc.poll() is None
    assert client.handshake()["protocol"] == 1
    # Jobs that were accepted by chance are echo jobs of at most a few pixels; let them drain.
    status = client.status()
    deadline = time.monotonic() + 20
    while status["queue"] and time.monotonic() < deadline:
        time.sleep(0.2)
        status = client.status()


def test_a_valid_header_with_too_many_frames_gets_a_protocol_error(daemon, client):
    """More frames than any request has, after a header that is fine on its own: a protocol error that
    names the limit and echoes the request id, never an internal error."""
    sock = raw_socket(daemon.endpoint)
    try:
        for request in ({"type": "status"}, {"type": "handshake"},
                        {"type": "submit", "method": "echo", "params": {}, "images": {}}):
            sock.send_multipart([msgpack.packb(dict(request, v=1, rid=77))] + [b"x"] * 11)
            assert sock.poll(5000), request
            header = msgpack.unpackb(sock.recv_multipart()[0])
            assert header["type"] == "error" and header["code"] == protocol.BAD_MESSAGE, header
            assert header["rid"] == 77 and "at most 9 frames" in header["message"], header
    finally:
        sock.close()
    assert client.handshake()["protocol"] == 1
    assert "internal daemon error" not in daemon.output() and "Traceback" not in daemon.output()


def test_cli_status_and_submit(daemon, own_dir, capsys):
    tmp_path = own_dir
    from PIL import Image
    from painterly.cli import main as cli
    status = subprocess.run([sys.executable, "-m", "painterly.cli", "daemon", "status", "--endpoint",
                             daemon.endpoint], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "methods:" in status.stdout and "echo" in status.stdout
    content, style, mask = masked_inputs(seed=8)
    Image.fromarray(buffers.quantize(content, 8)).save(tmp_path / "content.png")
    Image.fromarray(buffers.quantize(style, 8)).save(tmp_path / "style.png")
    Image.fromarray(buffers.quantize(mask, 8)).save(tmp_path / "mask.png")
    out = tmp_path / "out.png"
    args = ["submit", "stylize", str(tmp_path / "content.png"), str(tmp_path / "style.png"),
            f"mask={tmp_path / 'mask.png'}", "-p", "iterations=2", "-p", "size=32", "-p", "network=vgg16",
            "-o", str(out), "--endpoint", daemon.endpoint, "--quiet"]
    assert cli.main(args) == 0
    result = np.asarray(Image.open(out))
    assert result.shape == (40, 40, 4) and result[..., 3].max() == 255 and result[0, 0, 3] == 0
    # Engine commands gain --daemon: the same visible result as in-process.
    remote, local = tmp_path / "remote.png", tmp_path / "local.png"
    common = ["stylize", str(tmp_path / "content.png"), str(tmp_path / "style.png"), "--mask",
              str(tmp_path / "mask.png"), "--iterations", "2", "--size", "32", "--network", "vgg16", "--quiet"]
    assert cli.main(common + ["-o", str(remote), "--daemon", daemon.endpoint]) == 0
    import torch
    torch.set_num_threads(1)
    assert cli.main(common + ["-o", str(local), "--device", "cpu"]) == 0
    a = np.asarray(Image.open(remote)).astype(int)
    b = np.asarray(Image.open(local)).astype(int)
    assert a.shape == b.shape and np.array_equal(a, b), np.abs(a - b).max()      # bit for bit
    # A soft (feathered) mask: the result layer's alpha is fractional, composited over the content.
    yy, xx = np.mgrid[:40, :40]
    soft = np.clip(1.2 - np.hypot(yy - 20, xx - 20) / 12, 0, 1)
    Image.fromarray(buffers.quantize(soft, 8)).save(tmp_path / "soft.png")
    common[common.index(str(tmp_path / "mask.png"))] = str(tmp_path / "soft.png")
    assert cli.main(common + ["--soft-mask", "-o", str(remote), "--daemon", daemon.endpoint]) == 0
    assert cli.main(common + ["--soft-mask", "-o", str(local), "--device", "cpu"]) == 0
    a = np.asarray(Image.open(remote)).astype(int)
    b = np.asarray(Image.open(local)).astype(int)
    assert np.array_equal(a, b), (np.abs(a - b).max(), (a != b).mean())
    assert cli.main(["submit", "masked", str(tmp_path / "content.png"), "-o", str(out), "--endpoint",
                     daemon.endpoint]) == 2
    assert "needs the input(s) style, mask" in capsys.readouterr().err
    assert cli.main(["submit", "nonexistent", str(tmp_path / "content.png"), "-o", str(out),
                     "--endpoint", daemon.endpoint]) == 2
    assert "no method 'nonexistent'" in capsys.readouterr().err


def test_no_path_is_both_an_input_and_an_output_through_the_daemon(daemon, own_dir, capsys):
    """With ``--daemon`` too, a ``--style`` image is an input: refused before anything is sent; an existing
    owner-only output stays owner-only when a daemon's result replaces it."""
    import os
    import stat
    from PIL import Image
    from painterly.cli import main as cli
    content, style, mask = masked_inputs(seed=9)
    for name, arr in (("content", content), ("style", style), ("mask", mask)):
        Image.fromarray(buffers.quantize(arr, 8)).save(own_dir / f"{name}.png")
    before = {p.name: p.read_bytes() for p in own_dir.iterdir()}
    with Client(daemon.endpoint, timeout=10) as c:
        total = c.status(limit=0)["total"]
    for argv in (["stylize", "content.png", "--style", "style.png", "-o", "style.png"],
                 ["stylize", "content.png", "--style", "style.png", "--mask", "mask.png", "-o", "mask.png"],
                 ["submit", "masked", "content.png", "style.png", "mask=mask.png", "-o", "mask.png"]):
        argv = [str(own_dir / a) if a.endswith(".png") and "=" not in a else a for a in argv]
        argv = [a.replace("mask=", f"mask={own_dir}/") for a in argv]
        flag = "--daemon" if argv[0] == "stylize" else "--endpoint"
        assert cli.main(argv + [flag, daemon.endpoint, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "over the input" in err and "Traceback" not in err, err
    assert {p.name: p.read_bytes() for p in own_dir.iterdir()} == before
    with Client(daemon.endpoint, timeout=10) as c:
        assert c.status(limit=0)["total"] == total           # nothing was sent
    private = own_dir / "private.png"
    private.write_bytes(b"an earlier result")
    os.chmod(private, 0o600)
    assert cli.main(["submit", "echo", str(own_dir / "content.png"), "-o", str(private), "--endpoint",
                     daemon.endpoint, "--quiet"]) == 0
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert Image.open(private).size == (40, 40)

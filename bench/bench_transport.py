"""Transport cost of the daemon path, in one run, as one table.

1. 8- and 16-bit 4096x4096 RGBA round trips through real daemons with no compute (the ``echo`` test method):
   over shared memory (a local ``ipc://`` daemon; wire/shm.py), over the same ``ipc://`` socket with the
   pixels as frames, and over token + CURVE TCP, each as a ``live`` job (neither journaled nor stored) and
   as a kept one (journaled before "queued", result written to disk), beside bare ZeroMQ DEALER -> ROUTER
   echoes of the same bytes (loopback TCP, CURVE TCP, ipc). Goal: <= 50 ms over shared memory, CURVE TCP
   <= 1.5x bare ZeroMQ.
2. The daemon overhead of a live instant job: submit -> result (through shared memory) against the same
   job computed in this process with the function the daemon uses (``compute_layer``), both warmed up, one
   torch thread each, interleaved. Goal: <= 10 %.

The mappings live in the daemon socket's folder: a new 0700 folder in $XDG_RUNTIME_DIR (a tmpfs on desktop
Linux), else in /dev/shm, else in the temporary folder (``--folder`` chooses).

Usage: python bench/bench_transport.py [--repeat 7] [--live-size 512] [--folder DIR]
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SIDE = 4096


def start_daemon(endpoint: str, workdir: Path, name: str, token_file: Path | None = None, threads: int = 1):
    log_path = workdir / f"{name}.log"
    log = open(log_path, "wb")
    cmd = [sys.executable, "-m", "painterly.cli", "daemon", "--endpoint", endpoint, "--device", "cpu",
           "--threads", str(threads), "--allow-test-methods", "--results-dir", str(workdir / f"{name}-results"),
           "--results-disk-mb", "2048"]
    if token_file is not None:
        cmd += ["--token-file", str(token_file)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        match = re.search(r"listening on (\S+)", log_path.read_text())
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            raise SystemExit(log_path.read_text())
        time.sleep(0.1)
    raise SystemExit(f"daemon {name} did not start")


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def bare_zmq(kind: str, data, repeat: int, folder: Path):
    """The same bytes through a bare DEALER -> ROUTER echo: ``tcp`` (loopback), ``curve`` or ``ipc``."""
    import zmq
    ctx = zmq.Context()
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    if kind == "curve":
        server_public, server_secret = zmq.curve_keypair()
        router.curve_server, router.curve_publickey, router.curve_secretkey = True, server_public, server_secret
        dealer.curve_serverkey = server_public
        dealer.curve_publickey, dealer.curve_secretkey = zmq.curve_keypair()
    if kind == "ipc":
        address = f"ipc://{folder}/bare.sock"
        router.bind(address)
    else:
        address = f"tcp://127.0.0.1:{router.bind_to_random_port('tcp://127.0.0.1')}"

    def echo():
        while True:
            frames = router.recv_multipart(copy=False)
            if frames[1].bytes == b"stop":
                return
            router.send_multipart(frames, copy=False)

    thread = threading.Thread(target=echo)
    thread.start()
    dealer.connect(address)
    trip = lambda: (dealer.send_multipart([b"h", data], copy=False), dealer.recv_multipart(copy=False))  # noqa: E731
    trip()
    times = timed(trip, repeat)
    dealer.send_multipart([b"stop"])
    thread.join()
    dealer.close(0)
    router.close(0)
    ctx.term()
    return times


def private_folder(choice: str | None) -> Path:
    if choice:
        base = choice
    elif os.environ.get("XDG_RUNTIME_DIR"):
        base = os.environ["XDG_RUNTIME_DIR"]
    elif os.path.isdir("/dev/shm"):
        base = "/dev/shm"
    else:
        base = None
    return Path(tempfile.mkdtemp(prefix="painterly-bench-", dir=base))   # mode 0700, made new


def filesystem(path: Path) -> str:
    best, kind = "", "?"
    with open("/proc/mounts") as mounts:
        for line in mounts:
            _, point, fstype = line.split()[:3]
            if str(path).startswith(point) and len(point) > len(best):
                best, kind = point, fstype
    return kind


def round_trips(client, image, repeat, live):
    result = client.run("echo", {}, {"content": image}, live=live)    # warm-up, and a correctness check
    assert bytes(result.image.data) == bytes(image.data)
    del result
    return timed(lambda: client.run("echo", {}, {"content": image}, live=live), repeat)


def live_job(client, size, repeat):
    """The live instant job in this process and through the daemon: (in-process times, daemon times)."""
    from painterly.daemon import buffers
    from painterly.daemon.workers import compute_layer
    from painterly.engine.methods import get_method
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:size, :size] / size
    painting = np.stack([0.5 + 0.4 * np.sin(9 * xx), 0.4 + 0.3 * np.cos(7 * yy), 0.3 + 0.2 * xx * yy], 2)
    painting += 0.05 * rng.standard_normal(painting.shape)
    composite = painting.copy()
    composite[size // 4: 3 * size // 4, size // 3: 2 * size // 3] = (0.9, 0.8, 0.2)
    mask = np.zeros((size, size), np.float32)
    mask[size // 4: 3 * size // 4, size // 3: 2 * size // 3] = 1
    images = {"composite": buffers.from_uint(np.dstack([buffers.quantize(composite, 8),
                                                        np.full((size, size, 1), 255, np.uint8)])),
              "mask": buffers.from_uint(buffers.quantize(mask, 8))}
    params = {"quality": "instant"}
    method = get_method("harmonize")
    resolved = method.resolve_params(params)
    local = lambda: compute_layer(method, images, resolved, "cpu")  # noqa: E731
    remote = lambda: client.run("harmonize", params, images, live=True)  # noqa: E731
    first, reference = remote(), local()          # warm-up (and the decoder loaded on both sides)
    assert (first.image.width, first.image.height) == (reference.width, reference.height)
    same = bytes(first.image.data) == bytes(reference.data)
    del first
    local_times, remote_times = [], []
    for _ in range(repeat):                       # interleaved, so background load affects both alike
        local_times += timed(local, 1)
        remote_times += timed(remote, 1)
    return local_times, remote_times, same


def ms(times):
    return f"{statistics.median(times) * 1000:7.1f} ({min(times) * 1000:6.1f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--live-size", type=int, default=512, help="side of the live instant job's canvas")
    parser.add_argument("--folder", help="where the ipc socket and the mappings go (a new 0700 folder in it)")
    parser.add_argument("--skip-kept", action="store_true", help="only live jobs (kept ones write to disk)")
    args = parser.parse_args()

    import torch
    torch.set_num_threads(1)
    from painterly.daemon import buffers
    from painterly.wire.client import Client

    folder = private_folder(args.folder)
    workdir = Path(tempfile.mkdtemp(prefix="painterly-bench-transport-"))
    token_file = workdir / "token"
    token_file.write_text(secrets.token_urlsafe(32))
    token_file.chmod(0o600)
    procs = []
    try:
        ipc_proc, ipc = start_daemon(f"ipc://{folder}/daemon.sock", workdir, "ipc")
        procs.append(ipc_proc)
        tcp_proc, tcp = start_daemon("tcp://127.0.0.1:*", workdir, "tcp", token_file)
        procs.append(tcp_proc)
        token = token_file.read_text().strip()
        print(f"daemons at {ipc} (mappings in {folder}, {filesystem(folder)}) and {tcp} (token + CURVE); "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        rng = np.random.default_rng(0)
        images = {depth: buffers.from_uint(rng.integers(0, 256 if depth == 8 else 65536, (SIDE, SIDE, 4),
                                                        dtype=np.uint8 if depth == 8 else np.uint16))
                  for depth in (8, 16)}
        rows = []
        for kind, label in (("tcp", "bare ZeroMQ, loopback TCP"), ("curve", "bare ZeroMQ, CURVE TCP"),
                            ("ipc", "bare ZeroMQ, ipc")):
            rows.append((label, {d: bare_zmq(kind, images[d].data, args.repeat, folder) for d in (8, 16)}))
        paths = [("daemon, shared memory", ipc, {}), ("daemon, ipc frames", ipc, {"shared_memory": False}),
                 ("daemon, token + CURVE TCP", tcp, {"token": token})]
        for live in (True, False) if not args.skip_kept else (True,):
            for label, endpoint, kwargs in paths:
                with Client(endpoint, timeout=120, **kwargs) as client:
                    rows.append((f"{label}, {'live' if live else 'kept'}",
                                 {d: round_trips(client, images[d], args.repeat, live) for d in (8, 16)}))
        floor = {d: statistics.median(rows[0][1][d]) for d in (8, 16)}
        print(f"\n4096x4096 RGBA round trip, ms: median (min) of {args.repeat}; x = median / bare loopback TCP")
        print(f"{'path':40s} {'8-bit (64 MiB)':>17s} {'x':>5s} {'16-bit (128 MiB)':>17s} {'x':>5s}")
        for label, times in rows:
            print(f"{label:40s} {ms(times[8]):>17s} {statistics.median(times[8]) / floor[8]:5.2f} "
                  f"{ms(times[16]):>17s} {statistics.median(times[16]) / floor[16]:5.2f}")
        del images, rows

        with Client(ipc, timeout=120) as client:
            local_times, remote_times, same = live_job(client, args.live_size, args.repeat)
        overhead = statistics.median(remote_times) - statistics.median(local_times)
        print(f"\nlive instant job (harmonize, quality instant, {args.live_size}x{args.live_size}, 1 torch thread), "
              f"ms: median (min) of {args.repeat}")
        print(f"{'in this process (compute_layer)':40s} {ms(local_times):>17s}")
        print(f"{'through the daemon (shared memory, live)':40s} {ms(remote_times):>17s}  "
              f"(the same pixels: {'yes' if same else 'no'})")
        print(f"{'daemon overhead':40s} {overhead * 1000:+10.1f} ms "
              f"({overhead / statistics.median(local_times) * 100:+.1f} %, goal <= 10 %)")
        for endpoint, proc in ((ipc, ipc_proc), (tcp, tcp_proc)):
            with Client(endpoint, timeout=30, token=token if endpoint == tcp else None) as client:
                client.shutdown()
            proc.wait(30)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)   # the kept jobs' results: ~200 MB per 16-bit echo
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

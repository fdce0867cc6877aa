"""Transport cost of the daemon path.

1. A 4096x4096 RGBA round trip through a real daemon with no compute (the ``echo`` test method):
   client encode -> ZeroMQ (loopback TCP) -> daemon validation + queue + worker -> result back to the client.
   Goal: < 250 ms for 8-bit.
2. The overhead of the daemon path over the in-process engine for a small job (same method, inputs and
   parameters, both warmed up, one torch thread each).

Usage: python bench/bench_transport.py [--repeat 5] [--endpoint ipc:///tmp/p.sock] [--small-size 64]
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def start_daemon(endpoint: str, workdir: Path):
    log = open(workdir / "daemon.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "painterly.cli", "daemon", "--endpoint", endpoint,
                             "--device", "cpu", "--threads", "1", "--allow-test-methods",
                             "--results-dir", str(workdir / "results")],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        match = re.search(r"listening on (\S+)", (workdir / "daemon.log").read_text())
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            raise SystemExit((workdir / "daemon.log").read_text())
        time.sleep(0.1)
    raise SystemExit("daemon did not start")


def raw_zmq_round_trip(nbytes: int, repeat: int):
    """The floor on this machine now: the same bytes through a bare DEALER -> ROUTER echo over loopback TCP."""
    import threading
    import zmq
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")

    def echo():
        while True:
            frames = router.recv_multipart(copy=False)
            if frames[1].bytes == b"stop":
                return
            router.send_multipart(frames, copy=False)

    thread = threading.Thread(target=echo)
    thread.start()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    data = np.random.default_rng(1).integers(0, 255, nbytes, dtype=np.uint8)
    dealer.send_multipart([b"h", data], copy=False)
    dealer.recv_multipart(copy=False)
    times = timed(lambda: (dealer.send_multipart([b"h", data], copy=False), dealer.recv_multipart(copy=False)),
                  repeat)
    dealer.send_multipart([b"stop"])
    thread.join()
    dealer.close(0)
    router.close(0)
    ctx.term()
    return times


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def fmt(times):
    return f"median {statistics.median(times) * 1000:7.1f} ms  min {min(times) * 1000:7.1f} ms  (n={len(times)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:*")
    parser.add_argument("--small-size", type=int, default=64, help="side of the small job's images")
    parser.add_argument("--small-iterations", type=int, default=5)
    args = parser.parse_args()

    import torch
    torch.set_num_threads(1)
    from painterly import engine
    from painterly.daemon import buffers
    from painterly.wire.client import Client

    workdir = Path(tempfile.mkdtemp(prefix="painterly-bench-transport-"))
    proc, endpoint = start_daemon(args.endpoint, workdir)
    try:
        with Client(endpoint, timeout=60) as client:
            print(f"daemon at {endpoint}")
            print(f"handshake                     {fmt(timed(client.handshake, 20))}")
            rng = np.random.default_rng(0)
            for depth in (8, 16):
                dtype = np.uint8 if depth == 8 else np.uint16
                image = buffers.from_uint(rng.integers(0, np.iinfo(dtype).max, (4096, 4096, 4), dtype=dtype))
                result = client.run("echo", {}, {"content": image})  # warm-up, and a correctness check
                assert bytes(result.image.data) == bytes(image.data)
                times = timed(lambda: client.run("echo", {}, {"content": image}), args.repeat)
                mb = image.width * image.height * 4 * depth / 8 / 2**20
                goal = "  (goal < 250 ms)" if depth == 8 else ""
                print(f"4096x4096 RGBA {depth:2d}-bit echo    {fmt(times)}  {mb:.0f} MiB each way, "
                      f"{2 * mb / statistics.median(times):.0f} MiB/s{goal}")
                floor = raw_zmq_round_trip(image.width * image.height * 4 * depth // 8, args.repeat)
                print(f"  bare ZeroMQ echo, same bytes {fmt(floor)}  (loopback TCP: this machine's floor now)")

            side = args.small_size
            yy, xx = np.mgrid[:side, :side] / side
            content = np.stack([xx, yy, 0.5 * (xx + yy)], axis=2).astype(np.float32)
            style = rng.random((side, side, 3)).astype(np.float32)
            mask = np.zeros((side, side), np.float32)
            mask[side // 4: 3 * side // 4, side // 4: 3 * side // 4] = 1
            params = {"iterations": args.small_iterations, "size": max(32, side - 8), "network": "vgg16"}
            images = {"content": buffers.from_uint(buffers.quantize(content, 8)),
                      "style": buffers.from_uint(buffers.quantize(style, 8)),
                      "mask": buffers.from_uint(buffers.quantize(mask, 8))}
            inputs = {k: buffers.to_input(b, "mask" if k == "mask" else "rgb") for k, b in images.items()}
            local = lambda: engine.run_output("masked", inputs, params, device="cpu")  # noqa: E731
            remote = lambda: client.run("masked", params, images)  # noqa: E731
            cold = timed(remote, 1)  # the daemon builds VGG and loads its weights once, then keeps them
            local()  # the same warm-up in this process
            # Interleaved so background load affects both alike.
            local_times, remote_times = [], []
            for _ in range(args.repeat):
                local_times += timed(local, 1)
                remote_times += timed(remote, 1)
            print(f"small job in-process          {fmt(local_times)}  (masked {side}x{side}, "
                  f"{args.small_iterations} iterations, vgg16, 1 thread)")
            print(f"small job through the daemon  {fmt(remote_times)}  (first job, weights not yet cached: "
                  f"{cold[0] * 1000:.0f} ms)")
            overhead = statistics.median(remote_times) - statistics.median(local_times)
            print(f"daemon overhead               {overhead * 1000:+7.1f} ms median "
                  f"({overhead / statistics.median(local_times) * 100:+.0f} %)")
            client.shutdown()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)  # the daemon's stored results: ~100 MB per echo job


if __name__ == "__main__":
    main()

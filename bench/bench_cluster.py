"""Cost of running jobs on a Dask cluster through the daemon (``painterly daemon --cluster``).

1. Per-job overhead: one ~10 s job (masked style transfer, one torch thread) in this process against the
   same job through a daemon and a one-worker cluster, both warm, interleaved. Goal: <= 3 %.
2. Throughput: a batch of jobs through the daemon on 1 worker x 2 job slots against 2 workers x 1 slot
   (one torch thread per job): the same work should take the same time (within 10 %) if nothing in the
   path (scheduler, daemon, serialisation, one worker process's GIL) is a bottleneck.

Every process (scheduler, workers, daemon) is started here and stopped by its PID at the end.
Usage: python bench/bench_cluster.py [--repeat 3] [--size 160] [--iterations 60] [--jobs 12]
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


class Service:
    """``painterly ARGS`` in the background, ready once its log has a line matching ``pattern``."""

    def __init__(self, workdir: Path, pattern: str, *args: str):
        self.log = workdir / f"{args[0]}-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "painterly.cli", *args], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.pattern = pattern

    def ready(self, timeout=300) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(self.pattern, self.log.read_text(errors="replace"))
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                raise SystemExit(self.log.read_text())
            time.sleep(0.1)
        raise SystemExit(f"did not start: {self.log.read_text()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_cluster(workdir: Path, layout: list[int]) -> tuple[list[Service], str]:
    """A scheduler, one worker per entry of ``layout`` (its job slots) and a daemon sending jobs there."""
    scheduler = Service(workdir, r"listening on (\S+)", "scheduler", "--port", "0", "--dashboard-port", "0")
    address = scheduler.ready()
    workers = [Service(workdir, r"painterly worker (\S+) joined", "worker", "--scheduler", address, "--gpus", "0",
                       "--cpu-jobs", str(slots), "--threads", "1") for slots in layout]
    for worker in workers:
        worker.ready()
    daemon = Service(workdir, r"listening on (\S+)", "daemon", "--endpoint", "tcp://127.0.0.1:*", "--cluster",
                     address, "--results-dir", str(workdir / f"results-{time.monotonic_ns()}"))
    return [daemon, *workers, scheduler], daemon.ready()


def stop_all(services):
    for service in services:
        service.stop()


def job_images(side: int, seed: int):
    from painterly.daemon import buffers
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side] / side
    content = np.stack([xx, yy, 0.5 * (xx + yy)], axis=2).astype(np.float32)
    mask = np.zeros((side, side), np.float32)
    mask[side // 4: 3 * side // 4, side // 4: 3 * side // 4] = 1
    return {"content": buffers.from_uint(buffers.quantize(content, 8)),
            "style": buffers.from_uint(buffers.quantize(rng.random((side, side, 3)).astype(np.float32), 8)),
            "mask": buffers.from_uint(buffers.quantize(mask, 8))}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def overhead(workdir, params, images, repeat):
    """(in-process seconds, through daemon + cluster seconds), best of ``repeat`` interleaved runs each."""
    import torch

    from painterly import engine
    from painterly.daemon import buffers
    from painterly.wire.client import Client
    torch.set_num_threads(1)
    inputs = {k: buffers.to_input(b, "mask" if k == "mask" else "rgb") for k, b in images.items()}
    services, endpoint = start_cluster(workdir, [1])
    try:
        with Client(endpoint, timeout=60) as client:
            local = lambda: engine.run_output("masked", inputs, params, device="cpu")  # noqa: E731
            remote = lambda: client.run("masked", params, images)  # noqa: E731
            remote()  # both warm: the worker builds VGG and loads its weights once, so does this process
            local()
            local_times, remote_times = [], []
            for _ in range(repeat):
                local_times.append(timed(local))
                remote_times.append(timed(remote))
    finally:
        stop_all(services)
    return local_times, remote_times


def throughput(workdir, layout, params, jobs, side) -> float:
    """Seconds for ``jobs`` jobs submitted at once by two clients through the daemon."""
    from painterly.wire.client import Client
    services, endpoint = start_cluster(workdir, layout)
    try:
        with Client(endpoint, timeout=60) as client:  # warm every slot first
            warm = [client.submit("masked", params, job_images(side, seed)) for seed in range(sum(layout))]
            for job_id in warm:
                client.wait(job_id)
        errors = []

        def one_client(seeds):
            try:
                with Client(endpoint, timeout=60) as c:
                    for job_id in [c.submit("masked", params, job_images(side, seed)) for seed in seeds]:
                        c.wait(job_id)
            except Exception as exc:
                errors.append(exc)

        halves = [range(0, jobs // 2), range(jobs // 2, jobs)]
        start = time.perf_counter()
        threads = [threading.Thread(target=one_client, args=(half,)) for half in halves]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        if errors:
            raise SystemExit(f"jobs failed: {errors}")
        return elapsed
    finally:
        stop_all(services)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, default=160, help="side of the ~10 s job's images")
    parser.add_argument("--iterations", type=int, default=60, help="iterations of the ~10 s job")
    parser.add_argument("--jobs", type=int, default=12, help="jobs of the throughput runs")
    parser.add_argument("--job-size", type=int, default=96, help="side of the throughput jobs' images")
    parser.add_argument("--job-iterations", type=int, default=30)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="painterly-bench-cluster-"))
    try:
        params = {"iterations": args.iterations, "size": args.size, "network": "vgg16"}
        local, remote = overhead(workdir, params, job_images(args.size, 1), args.repeat)
        small = {"iterations": args.job_iterations, "size": args.job_size, "network": "vgg16"}
        one_by_two = throughput(workdir, [2], small, args.jobs, args.job_size)
        two_by_one = throughput(workdir, [1, 1], small, args.jobs, args.job_size)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    best_local, best_remote = min(local), min(remote)
    added = best_remote - best_local
    print(f"\nper-job overhead: masked {args.size}x{args.size}, {args.iterations} iterations, vgg16, 1 torch thread; "
          f"best of {args.repeat} interleaved runs")
    print("| path | best s | median s | overhead |")
    print("|---|---|---|---|")
    print(f"| in-process engine | {best_local:.2f} | {statistics.median(local):.2f} | |")
    print(f"| client → daemon → Dask scheduler → worker | {best_remote:.2f} | {statistics.median(remote):.2f} | "
          f"{added * 1000:+.0f} ms ({added / best_local * 100:+.1f} %, goal <= 3 %) |")
    print(f"\nthroughput: {args.jobs} jobs (masked {args.job_size}x{args.job_size}, {args.job_iterations} "
          "iterations), two clients, through the daemon")
    print("| cluster | s | jobs/min |")
    print("|---|---|---|")
    for name, seconds in (("1 worker x 2 job slots", one_by_two), ("2 workers x 1 job slot", two_by_one)):
        print(f"| {name} | {seconds:.1f} | {args.jobs / seconds * 60:.1f} |")
    print(f"\n1x2 against 2x1: {(one_by_two / two_by_one - 1) * 100:+.1f} % time (goal: within 10 %)")


if __name__ == "__main__":
    main()

"""Memory and responsiveness of a real daemon while abusive clients flood it (the memory probes of its
threat model, docs/daemon.md).

For each probe and kind of peer: the daemon's RSS before, its largest growth during the flood and the growth
left after it, and the handshake time of another (well-behaved) client of the user's, sampled all through
the flood (max / median). Goal: growth <= 64 MB per abusive peer, handshake <= 100 ms.

Peers:  other user  uid 65534 through the socket's folder opened to everyone (needs root; else skipped)
        no token    a process without the token, over loopback TCP
        owner       a process of the user's own (what the daemon still bounds for its own user)

Usage: python bench/bench_abuse.py [--frames 1000000] [--result-mb 16]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "daemon"))

import numpy as np  # noqa: E402

from abuse import many_frames, unfinished_multipart, unread_handshakes, unread_watches, while_running  # noqa: E402
from daemon_process import DaemonProcess, rss_mb  # noqa: E402
from other_user import OpenedForOthers, other_user_unavailable, run_as_other_user  # noqa: E402

GOAL_MB, GOAL_MS = 64, 100


def private_user_files():
    """This run's own default socket folder and token file: the user's real daemon is left alone."""
    home = Path(tempfile.mkdtemp(prefix="painterly-bench-abuse-"))
    (home / "run").mkdir(mode=0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(home / "run")
    os.environ["PAINTERLY_TOKEN_FILE"] = str(home / "daemon.token")
    os.environ.pop("PAINTERLY_ENDPOINT", None)
    os.environ.pop("PAINTERLY_TOKEN", None)
    return home


def stored_result(daemon, megabytes):
    """A finished echo job of ``megabytes`` MiB, written to disk and dropped from memory."""
    from painterly.daemon import buffers
    from painterly.wire.client import Client
    side = int((megabytes * (1 << 20) / 4) ** 0.5)
    image = buffers.from_uint(np.zeros((side, side, 4), np.uint8))
    with Client(daemon.endpoint, timeout=60) as client:
        job = client.run("echo", {}, {"content": image}).job_id
    path = daemon.log_path.parent / "results" / f"{job}.result"
    while not path.is_file():
        time.sleep(0.05)
    time.sleep(1.0)
    return job


def queue_until_full(endpoint, megabytes):
    """Jobs of ``megabytes`` MiB each (slow echo jobs) until the queue refuses one; then cancel them."""
    from painterly.daemon import buffers
    from painterly.wire.client import Client, DaemonError
    side = int((megabytes * (1 << 20) / 4) ** 0.5)
    image = buffers.from_uint(np.zeros((side, side, 4), np.uint8))
    jobs = []
    with Client(endpoint, timeout=60) as client:
        try:
            while len(jobs) < 1000:
                jobs.append(client.submit("echo", {"iterations": 100, "delay": 0.1}, {"content": image}))
        except DaemonError as exc:
            refused = exc.code
        time.sleep(1.0)
        for job in jobs:
            client.cancel(job)
    return f"{len(jobs)} x {megabytes} MiB queued, then {refused}"


def goal(goal_mb):
    return f"growth <= {goal_mb:.0f} MB, handshake <= {GOAL_MS} ms"


def row(probe, peer, daemon, work, outcome=None, goal_mb=GOAL_MB, skipped=None):
    """One row of the table, always printed with its goal (a probe that cannot run here says why)."""
    if skipped:
        print(f"| {probe} | {peer} | - | - | - | - | not run: {skipped} | {goal(goal_mb)} | - |", flush=True)
        return
    before = rss_mb(daemon.proc.pid)
    seen = while_running(daemon.proc.pid, daemon.endpoint, work)
    worst, median = seen["latency_ms"]
    result = outcome(seen["result"]) if outcome else seen["result"]
    ok = seen["peak_mb"] <= goal_mb and worst <= GOAL_MS
    print(f"| {probe} | {peer} | {before:.0f} | {seen['peak_mb']:+.0f} | {seen['after_mb']:+.0f} | "
          f"{worst:.0f} / {median:.0f} | {result} | {goal(goal_mb)} | {'yes' if ok else 'NO'} |", flush=True)


def as_other(daemon, fn, *args):
    def work():
        with OpenedForOthers(daemon.endpoint):
            return run_as_other_user(fn, *args)
    return work


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000, help="empty frames in the many-frames probe")
    parser.add_argument("--result-mb", type=float, default=16, help="size of the stored result watched 40 times")
    parser.add_argument("--queue-mb", type=float, default=256, help="the bench daemon's --max-queue-mb")
    args = parser.parse_args()
    home = private_user_files()
    (home / "ipc").mkdir()
    (home / "tcp").mkdir()
    ipc = DaemonProcess(home / "ipc", "--results-memory-mb", "1", "--max-queue-mb", str(args.queue_mb),
                        endpoint="default", wait=False)
    tcp = DaemonProcess(home / "tcp", endpoint="tcp://127.0.0.1:*", wait=False)
    other = other_user_unavailable()
    try:
        ipc.wait_ready(300)
        tcp.wait_ready(300)
        print(f"daemons: {ipc.endpoint} (default) and {tcp.endpoint} (token + CURVE); other user: "
              f"{other or 'uid 65534'}\n")
        print("| probe | abusive peer | RSS before MB | peak growth MB | growth after MB | another client's "
              "handshake max / median ms | outcome | goal | within goal |")
        print("|---|---|---|---|---|---|---|---|---|")
        job = stored_result(ipc, args.result_mb)
        watches = f"40 unread watches of a stored {args.result_mb:.0f} MiB result"
        row(watches, "other user", ipc, as_other(ipc, unread_watches, ipc.endpoint, job), lambda r: "refused",
            skipped=other)
        row(watches, "owner", ipc, lambda: unread_watches(ipc.endpoint, job), lambda r: "one shared buffer")
        partial = "3 x 20 x 7 MiB frames, messages never finished (bare ZMTP)"
        row(partial, "other user", ipc, as_other(ipc, unfinished_multipart, ipc.endpoint),
            lambda r: f"refused at the handshake, {r['sent_mb']} MiB taken", skipped=other)
        row(partial, "no token", tcp, lambda: unfinished_multipart(tcp.endpoint),
            lambda r: f"refused at the handshake, {r['sent_mb']} MiB taken")
        row(partial, "owner", ipc, lambda: unfinished_multipart(ipc.endpoint),
            lambda r: f"{r['sent_mb']} MiB held by libzmq until the last frame or the disconnect")
        row("12,000 handshakes whose replies are never read", "owner", ipc, lambda: unread_handshakes(ipc.endpoint),
            lambda r: f"{r['handshakes']} sent; replies beyond the send high-water mark dropped")
        frames = f"{args.frames:,} empty frames in one message"
        row(frames, "other user", ipc, as_other(ipc, many_frames, ipc.endpoint, args.frames, 5.0),
            lambda r: "refused" if r is None else r, skipped=other)
        row(frames, "no token", tcp, lambda: many_frames(tcp.endpoint, args.frames, 5.0),
            lambda r: "refused" if r is None else r)
        row(frames, "owner", ipc, lambda: many_frames(ipc.endpoint, args.frames),
            lambda r: f"dropped as read: {r and r.get('code')}")
        row(f"jobs of 64 MiB until the queue is full (--max-queue-mb {args.queue_mb:.0f}; goal: growth within "
            "it plus the refused message)", "owner", ipc, lambda: queue_until_full(ipc.endpoint, 64),
            goal_mb=args.queue_mb + 64 * 1.1)
    finally:
        ipc.stop()
        tcp.stop()


if __name__ == "__main__":
    main()

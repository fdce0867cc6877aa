"""``painterly scheduler``, ``painterly worker`` and ``painterly cluster-certs``: a Dask distributed cluster
that runs painterly jobs for ``painterly daemon --cluster`` and ``painterly batch --cluster``."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from .errors import UserError


def cluster_security(tls_dir, role):
    if tls_dir is None:
        return None
    from painterly.daemon.certs import security
    try:
        return security(tls_dir, role)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None


def check_address(address: str, tls_dir) -> None:
    if address.startswith("tls://") and tls_dir is None:
        raise UserError(f"{address} is a TLS address: give the certificates with --tls DIR "
                        "(made by 'painterly cluster-certs DIR')")
    if tls_dir is not None and not address.startswith("tls://"):
        raise UserError(f"with --tls the address must start with tls:// (got {address})")


async def serve(make_server, ready_line: str, rejoin: bool = False):
    """Run the Dask server ``make_server()`` makes until SIGTERM/SIGINT. With ``rejoin`` (a worker), a server
    that closed by itself (its scheduler went away) is replaced by a new one that waits for the scheduler."""
    loop = asyncio.get_running_loop()
    stopping, current = False, None

    def stop():
        nonlocal stopping
        stopping = True
        if current is not None:
            asyncio.ensure_future(current.close())

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    while not stopping:
        current = make_server()
        async with current:
            print(ready_line.format(address=current.address), file=sys.stderr, flush=True)
            await current.finished()
        if not rejoin:
            return
        if not stopping:
            print("painterly worker: the scheduler went away; joining it again when it is back", file=sys.stderr,
                  flush=True)
            await asyncio.sleep(1)


def cmd_scheduler(args) -> int:
    from distributed import Scheduler
    logging.basicConfig(level=logging.INFO, format="%(asctime)s painterly-scheduler %(levelname)s %(message)s")
    if args.host not in ("127.0.0.1", "localhost", "::1") and args.tls is None:
        print("painterly scheduler: warning: listening beyond this machine without --tls: anyone who reaches "
              f"{args.host}:{args.port} can run code on every worker", file=sys.stderr)
    security = cluster_security(args.tls, "scheduler")
    asyncio.run(serve(lambda: Scheduler(host=args.host, port=args.port, security=security,
                                        protocol="tls" if args.tls else "tcp",
                                        dashboard_address=f"{args.host}:{args.dashboard_port}"),
                      "painterly scheduler listening on {address}"))
    return 0


def worker_layout(gpus: int | None, cpu_jobs: int | None) -> tuple[int, int]:
    """(GPUs, CPU job slots): every GPU by default, and one CPU slot only on a machine without one."""
    if gpus is None:
        import torch
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if cpu_jobs is None:
        cpu_jobs = 0 if gpus else 1
    if gpus + cpu_jobs < 1:
        raise UserError("a worker needs at least one GPU or one CPU job slot (--gpus / --cpu-jobs)")
    return gpus, cpu_jobs


def make_worker_plugin(gpus, cpu_jobs, threads, half=False):
    from painterly.daemon.cluster_worker import PainterlyWorker
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, cpu_jobs))
    return PainterlyWorker(gpus=gpus, threads=threads, half=half)


def worker_resources(gpus, cpu_jobs) -> dict:
    return {name: amount for name, amount in (("GPU", gpus), ("CPU", cpu_jobs)) if amount}


def cmd_worker(args) -> int:
    from distributed import Worker
    logging.basicConfig(level=logging.INFO, format="%(asctime)s painterly-worker %(levelname)s %(message)s")
    check_address(args.scheduler, args.tls)
    gpus, cpu_jobs = worker_layout(args.gpus, args.cpu_jobs)
    resources = worker_resources(gpus, cpu_jobs)
    security = cluster_security(args.tls, "worker")
    plugin = make_worker_plugin(gpus, cpu_jobs, args.threads, args.half)
    summary = ", ".join(f"{k} {v}" for k, v in resources.items())
    try:
        asyncio.run(serve(lambda: Worker(args.scheduler, nthreads=gpus + cpu_jobs, resources=resources,
                                         name=args.name, host=args.host, security=security, dashboard=False,
                                         plugins=(plugin,)),
                          f"painterly worker {{address}} joined {args.scheduler} ({summary})", rejoin=True))
    except (OSError, TimeoutError) as exc:
        raise UserError(f"cannot join the scheduler at {args.scheduler}: {exc}") from None
    return 0


def cmd_cluster_certs(args) -> int:
    from painterly.daemon.certs import make_certs
    written = make_certs(args.folder, days=args.days, renew=args.renew)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    if not written:
        print(f"{args.folder} already has every certificate (--renew makes new role certificates)", file=sys.stderr)
    print(f"copy {args.folder} without ca-key.pem to each cluster machine; keep ca-key.pem apart", file=sys.stderr)
    return 0


def register(sub) -> None:
    s = sub.add_parser("scheduler", help="run the Dask scheduler of a painterly cluster",
                       description="The Dask scheduler that places painterly jobs on the workers. Daemons "
                                   "(--cluster) and workers (--scheduler) connect to it.")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for "
                                                       "every interface, with --tls)")
    s.add_argument("--port", type=int, default=8786, help="port (default 8786)")
    s.add_argument("--dashboard-port", type=int, default=8787,
                   help="port of Dask's status pages on --host (default 8787; 0 = any free port)")
    s.add_argument("--tls", type=Path, metavar="DIR", help="require TLS with the certificates in DIR")
    s.set_defaults(func=cmd_scheduler)

    w = sub.add_parser("worker", help="run a painterly worker of a Dask cluster (one per machine)",
                       description="A Dask worker that loads the engine and its weights once and runs painterly "
                                   "jobs: one at a time per GPU (resource GPU), plus --cpu-jobs on the CPU "
                                   "(resource CPU).")
    w.add_argument("--scheduler", required=True, metavar="ADDR", help="the scheduler, e.g. tcp://10.0.0.5:8786")
    w.add_argument("--gpus", type=int, help="GPUs to use (default: every CUDA device)")
    w.add_argument("--cpu-jobs", type=int, help="jobs at once on the CPU (default 1 without a GPU, else 0)")
    w.add_argument("--threads", type=int, default=0, help="torch threads per CPU job (default: cores / jobs)")
    w.add_argument("--half", action="store_true", help="half precision on the GPUs")
    w.add_argument("--name", help="worker name shown in the daemon's status (default its address)")
    w.add_argument("--host", help="address to listen on for the scheduler (default: the one facing it)")
    w.add_argument("--tls", type=Path, metavar="DIR", help="certificates made by 'painterly cluster-certs'")
    w.set_defaults(func=cmd_worker)

    c = sub.add_parser("cluster-certs", help="make the TLS certificates of a painterly cluster",
                       description="Create a certificate authority and certificates for the scheduler, the "
                                   "workers and the clients (daemon, batch) in DIR; keeps what exists.")
    c.add_argument("folder", type=Path, metavar="DIR")
    c.add_argument("--days", type=int, default=825, help="validity in days (default 825)")
    c.add_argument("--renew", action="store_true", help="make new role certificates with the same CA")
    c.set_defaults(func=cmd_cluster_certs)

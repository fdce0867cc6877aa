"""``painterly jobs`` (the daemon's jobs, with their state) and ``painterly fetch ID -o OUT`` (a job's
result, waiting for it if it is not done): the way back to a job whose ``submit`` ended, or whose daemon
was restarted (it runs the unfinished jobs of its journal again and keeps finished results for a while)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from painterly.wire.client import Client, DaemonError

from .daemon import add_connection_options, client_token
from .errors import UserError


def fetch_hint(job_id: str, output, endpoint: str) -> str:
    """The command that gets a job's result later."""
    from painterly.wire.endpoints import default_endpoint
    where = "" if endpoint == default_endpoint() else f" --endpoint {endpoint}"
    return f"painterly fetch {job_id} -o {output}{where}"


def describe(job: dict, now: float) -> str:
    state = job["state"]
    if state == "running" and job.get("total"):
        state = f"running {job['iteration']}/{job['total']}"
    elif state == "queued" and job.get("position") is not None:
        state = f"queued (#{job['position'] + 1})"
    age = now - (job.get("finished") or job.get("created") or now)
    detail = f"  {job['message']}" if job.get("message") and job["state"] == "failed" else ""
    return f"{job['id']}  {state:<18} {job['method']:<12} {age / 60:6.1f} min ago{detail}"


def cmd_jobs(args) -> int:
    try:
        with Client(args.endpoint, timeout=args.timeout, token=client_token(args)) as client:
            jobs, offset = [], 0
            while offset is not None:
                page = client.status(offset=offset)
                jobs += page["jobs"]
                offset = page["next"]
    except DaemonError as exc:
        raise UserError(str(exc)) from None
    wanted = [j for j in jobs if args.state is None or j["state"] == args.state]
    now = time.time()
    for job in wanted:
        print(describe(job, now))
    if not args.quiet:
        print(f"{len(wanted)} job(s) on {args.endpoint}; 'painterly fetch ID -o OUT' writes one's result",
              file=sys.stderr)
    return 0


def cmd_fetch(args) -> int:
    from . import remote
    from .output import check_output
    from .progress import ProgressBar
    check_output(args.output)
    try:
        with Client(args.endpoint, timeout=args.timeout, token=client_token(args)) as client:
            result = client.wait(args.job, on_progress=None if args.quiet else ProgressBar())
    except DaemonError as exc:
        raise UserError(str(exc)) from None
    out = remote.save_result(args.output, result.image)
    if not args.quiet:
        print(f"wrote {out} (job {args.job}, {result.meta.get('method', '?')})", file=sys.stderr)
    return 0


def register(sub) -> None:
    j = sub.add_parser("jobs", help="list the daemon's jobs and their state",
                       description="List the jobs of your daemon (queued, running, and finished ones until their "
                                   "results expire), oldest first: ID, state, method, age.")
    j.add_argument("--state", choices=("queued", "running", "done", "failed", "cancelled"), help="only these")
    j.add_argument("--quiet", action="store_true", help="no summary line")
    add_connection_options(j)
    j.set_defaults(func=cmd_jobs)
    f = sub.add_parser("fetch", help="write the result of a job (waiting for it if needed)",
                       description="Write the result of job ID (from 'painterly submit' or 'painterly jobs') to "
                                   "OUT, waiting with a progress bar if it is still queued or running.")
    f.add_argument("job", metavar="ID", help="the job's id")
    f.add_argument("-o", "--output", required=True, type=Path, help="result image (PNG keeps 16-bit depth)")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    add_connection_options(f)
    f.set_defaults(func=cmd_fetch)

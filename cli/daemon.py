"""``painterly daemon`` (run / stop / status the local daemon) and ``painterly submit`` (send a job to it)."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from painterly.wire.client import Client, DaemonError, DaemonUnavailable
from painterly.wire.endpoints import default_endpoint, default_token_file, endpoint_is_local, private_folder, \
    read_token

from .errors import UserError


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "painterly"


# --- painterly daemon ------------------------------------------------------------------------------

def cmd_daemon(args) -> int:
    if args.action == "stop":
        return daemon_stop(args)
    if args.action == "status":
        return daemon_status(args)
    if args.detach:
        return daemon_detach(args)
    return daemon_run(args)


def needs_token(args) -> bool:
    """--auth token, or any TCP endpoint: over TCP any local user could connect without one."""
    return args.auth == "token" or not args.endpoint.startswith("ipc://")


def daemon_token(args):
    from painterly.daemon.tokens import write_token_file
    if not needs_token(args):
        return None
    try:
        return write_token_file(args.token_file or default_token_file())
    except PermissionError as exc:
        raise UserError(str(exc)) from None


def daemon_config(args):
    from painterly.daemon.config import DaemonConfig
    from painterly.wire import protocol
    token = None
    if args.auth == "token" or endpoint_is_local(args.endpoint):
        token = daemon_token(args)
    else:
        raise UserError(f"refusing to listen on {args.endpoint}: it is not a loopback address, and that needs "
                        f"authentication; add --auth token (the token is written to "
                        f"{args.token_file or default_token_file()}, "
                        "readable only by you; clients need it)")
    for spec in args.test_method or ():
        from painterly.daemon.jobs import import_method
        try:
            import_method(spec)
        except (ImportError, ValueError) as exc:
            raise UserError(f"--test-method {spec}: {exc}") from None
    limits = dict(protocol.DEFAULT_LIMITS)
    if args.max_pixels:
        limits["max_pixels"] = args.max_pixels
    if args.max_queue:
        limits["max_queue"] = args.max_queue
    if args.max_message_mb:
        limits["max_message_bytes"] = int(args.max_message_mb * 1024 * 1024)
    if args.max_queue_mb:
        limits["max_queue_bytes"] = int(args.max_queue_mb * 1024 * 1024)
    if args.cluster:
        from .cluster import check_address
        check_address(args.cluster, args.tls)
    return DaemonConfig(endpoint=args.endpoint, devices=tuple(d.strip() for d in args.device.split(",") if d.strip()),
                        threads=args.threads, half=args.half, token=token,
                        allow_test_methods=args.allow_test_methods or bool(args.test_method),
                        test_methods=tuple(args.test_method or ()), results_dir=args.results_dir,
                        keep_results=args.keep_results, preview_every=args.preview_every, limits=limits,
                        disk_results_bytes=int(args.results_disk_mb * 1024 * 1024),
                        memory_results_bytes=int(args.results_memory_mb * 1024 * 1024), cluster=args.cluster,
                        tls_dir=args.tls)


def daemon_run(args) -> int:
    from painterly.daemon.server import Daemon
    handlers = [logging.FileHandler(args.log)] if args.log else [logging.StreamHandler(sys.stderr)]
    logging.basicConfig(level=logging.INFO, handlers=handlers,
                        format="%(asctime)s painterly-daemon %(levelname)s %(message)s")

    def ready(endpoint):
        print(f"painterly daemon listening on {endpoint}", file=sys.stderr, flush=True)
        if needs_token(args):
            print(f"painterly daemon: clients need the token in {args.token_file or default_token_file()}",
                  file=sys.stderr, flush=True)

    from painterly.daemon.access import AlreadyRunning
    from painterly.daemon.cluster import ClusterUnavailable
    try:
        Daemon(daemon_config(args)).serve_forever(ready=ready)
    except zmq_error_types() as exc:
        raise UserError(f"cannot listen on {args.endpoint}: {exc}") from None
    except (PermissionError, AlreadyRunning, ClusterUnavailable) as exc:
        raise UserError(str(exc)) from None
    return 0


def zmq_error_types():
    import zmq
    return (zmq.ZMQError,)


def daemon_detach(args) -> int:
    """Start the daemon in the background (own session, output to a log file) and wait until it answers."""
    if args.log:
        log_path = Path(args.log)
        log_path.parent.mkdir(parents=True, exist_ok=True)
    else:
        log_path = Path(private_folder(str(cache_dir()), fix=True)) / "daemon.log"
    token = daemon_token(args)  # made here, not by the child, so this process can handshake with it
    argv = [sys.executable, "-m", "painterly.cli", "daemon", "--endpoint", args.endpoint,
            "--device", args.device, "--threads", str(args.threads), "--auth", args.auth,
            "--keep-results", str(args.keep_results), "--preview-every", str(args.preview_every),
            "--results-disk-mb", str(args.results_disk_mb), "--results-memory-mb", str(args.results_memory_mb)]
    for flag, value in (("--token-file", args.token_file), ("--results-dir", args.results_dir),
                        ("--cluster", args.cluster), ("--tls", args.tls),
                        ("--max-pixels", args.max_pixels),
                        ("--max-queue", args.max_queue), ("--max-message-mb", args.max_message_mb),
                        ("--max-queue-mb", args.max_queue_mb)):
        if value:
            argv += [flag, str(value)]
    argv += ["--half"] * args.half + ["--allow-test-methods"] * args.allow_test_methods
    for spec in args.test_method or ():
        argv += ["--test-method", spec]
    with open_log(log_path) as log_file:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                                start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            last = log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            print(f"painterly: error: the daemon exited at start (code {proc.returncode}): {last[0]} (log: "
                  f"{log_path})", file=sys.stderr)
            return 1
        try:
            with Client(args.endpoint, timeout=1.0, token=token) as client:
                client.handshake()
            print(f"painterly daemon started (pid {proc.pid}) on {args.endpoint}; log: {log_path}", file=sys.stderr)
            return 0
        except DaemonUnavailable:
            time.sleep(0.5)
        except DaemonError as exc:
            proc.kill()
            raise UserError(str(exc)) from None
    proc.kill()
    print(f"painterly: error: the daemon did not answer within 120 s, stopped it; see {log_path}", file=sys.stderr)
    return 1


def open_log(path: Path):
    """The daemon's log, appended to and readable by the user only (also when it existed before)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def client_token(args):
    """The token of an explicit --token-file; else the client's default ($PAINTERLY_TOKEN, or the user's
    token file for a remote daemon)."""
    if getattr(args, "token_file", None):
        token = read_token(str(args.token_file))
        if token is None:
            raise ValueError(f"no token in {args.token_file}")
        return token
    return None


def daemon_stop(args) -> int:
    try:
        with Client(args.endpoint, timeout=args.timeout, token=client_token(args)) as client:
            pid = client.shutdown().get("pid")
    except DaemonUnavailable:
        print(f"no painterly daemon answering at {args.endpoint}", file=sys.stderr)
        return 1
    except DaemonError as exc:
        raise UserError(str(exc)) from None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with Client(args.endpoint, timeout=0.5, token=client_token(args)) as client:
                client.handshake()
            time.sleep(0.2)
        except DaemonError:
            print(f"painterly daemon at {args.endpoint} stopped (pid {pid})", file=sys.stderr)
            return 0
    print(f"painterly: error: the daemon at {args.endpoint} is still answering", file=sys.stderr)
    return 1


def daemon_status(args) -> int:
    try:
        with Client(args.endpoint, timeout=args.timeout, token=client_token(args)) as client:
            info = client.handshake()
            status = client.status(limit=0)
    except DaemonUnavailable:
        print(f"no painterly daemon answering at {args.endpoint}")
        return 1
    except DaemonError as exc:
        raise UserError(str(exc)) from None
    counts = status["counts"]
    print(f"painterly daemon {info['version']} (protocol {info['protocol']}) at {status['endpoint']}, "
          f"pid {status['pid']}, up {status['uptime']:.0f} s")
    print(f"devices: {', '.join(info['devices'])}")
    print(f"methods: {', '.join(m['name'] for m in info['methods'])}")
    print(f"jobs: {status['total']} ({', '.join(f'{n} {s}' for s, n in sorted(counts.items())) or 'none'}), "
          f"{status['queue']} waiting")
    return 0


def add_connection_options(parser) -> None:
    parser.add_argument("--endpoint", default=default_endpoint(),
                        help=f"daemon address, ipc://PATH or tcp://HOST:PORT (default $PAINTERLY_ENDPOINT, else "
                             f"your own socket {default_endpoint()})")
    parser.add_argument("--token-file", type=Path,
                        help=f"the access token of TCP daemons, made (mode 600) if missing (default "
                             f"$PAINTERLY_TOKEN_FILE, else {default_token_file()})")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds without an answer before giving up (default 10)")


def register(sub) -> None:
    d = sub.add_parser(
        "daemon", help="run, stop or query the local daemon that computes jobs for the plugins",
        description="Run the painterly daemon in the foreground (logs on stderr), in the background (--detach), "
                    "or stop / query a running one. By default it listens on a socket only your user can reach; "
                    "over TCP every client needs your token, and other machines only with --auth token.",
        epilog="The test method 'echo' (returns its input, no compute) exists only with --allow-test-methods.")
    d.add_argument("action", nargs="?", choices=("run", "stop", "status"), default="run")
    add_connection_options(d)
    d.add_argument("--device", default="auto",
                   help="auto (every GPU, else the CPU), cpu, cuda, cuda:N, mps, or a comma list: one worker each; "
                        "with --cluster: auto (a GPU when the cluster has one), cuda or cpu")
    d.add_argument("--cluster", metavar="ADDR",
                   help="send the jobs to the Dask cluster whose scheduler is ADDR (tcp://HOST:8786, or tls:// "
                        "with --tls) instead of computing here; see docs/studio.md")
    d.add_argument("--tls", type=Path, metavar="DIR",
                   help="the cluster's certificates (painterly cluster-certs DIR) for a tls:// --cluster")
    d.add_argument("--detach", action="store_true", help="run in the background")
    d.add_argument("--log", help="log file (default stderr; with --detach ~/.cache/painterly/daemon.log)")
    d.add_argument("--threads", type=int, default=0, help="torch CPU threads per process (default torch's)")
    d.add_argument("--half", action="store_true", help="half precision on GPUs")
    d.add_argument("--auth", choices=("auto", "token"), default="auto",
                   help="auto: only your user on ipc:// sockets, the token of --token-file on TCP; token: the "
                        "token on any endpoint (encrypted with CURVE over TCP); needed to listen on a "
                        "non-loopback address")
    d.add_argument("--allow-test-methods", action="store_true", help="offer the 'echo' method (tests, benchmarks)")
    d.add_argument("--test-method", action="append", metavar="MODULE:ATTR",
                   help="also offer the method declared at MODULE:ATTR (a painterly Method, e.g. a test's; "
                        "repeatable; implies --allow-test-methods)")
    d.add_argument("--results-dir", type=Path, help="where finished results are kept (default ~/.cache/painterly/"
                                                      "daemon/results)")
    d.add_argument("--keep-results", type=float, default=3600.0, help="seconds results are kept (default 3600)")
    d.add_argument("--results-disk-mb", type=float, default=4096.0,
                   help="most disk space for kept results, oldest deleted first; a larger result is not kept "
                        "(default 4096 MiB)")
    d.add_argument("--results-memory-mb", type=float, default=512.0,
                   help="most memory for kept results; beyond it they are read back from disk (default 512 MiB)")
    d.add_argument("--preview-every", type=int, default=5, help="iterations between preview images (default 5)")
    d.add_argument("--max-pixels", type=int, help="most pixels in one job's images together")
    d.add_argument("--max-queue", type=int, help="most jobs waiting")
    d.add_argument("--max-message-mb", type=float, help="largest message accepted, MiB")
    d.add_argument("--max-queue-mb", type=float, help="most MiB of images held by waiting and running jobs")
    d.set_defaults(func=cmd_daemon)

"""``painterly submit``: send image files to a running daemon as a job of any method it offers."""
from __future__ import annotations

import sys
from pathlib import Path

from painterly.wire.client import Client, DaemonUnavailable

from .daemon import add_connection_options, client_token
from .errors import UserError
from .jobs import fetch_hint


PARAM_TYPES = {"int": int, "float": float, "str": str}


def parse_param(spec: dict, text: str):
    kind = spec.get("type")
    if kind == "bool":
        lowered = text.lower()
        if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"parameter {spec['name']} takes true or false, got {text!r}")
        return lowered in ("1", "true", "yes", "on")
    try:
        return PARAM_TYPES.get(kind, str)(text)
    except ValueError:
        raise ValueError(f"parameter {spec['name']} takes a {kind}, got {text!r}") from None


def submit_inputs(spec: dict, items: list[str]) -> dict:
    """``name=path`` items, or plain paths given to the method's inputs in their declared order."""
    declared = [i["name"] for i in spec["inputs"]]
    assigned = {}
    for item in items:
        name, sep, path = item.partition("=")
        if sep and name in declared:
            assigned[name] = path
            continue
        free = [n for n in declared if n not in assigned]
        if not free:
            raise ValueError(f"too many inputs: method {spec['name']!r} takes {', '.join(declared)}")
        assigned[free[0]] = item
    missing = [i["name"] for i in spec["inputs"] if i["required"] and i["name"] not in assigned]
    if missing:
        raise ValueError(f"method {spec['name']!r} needs the input(s) {', '.join(missing)} "
                         f"(inputs in order: {', '.join(declared)}; or give NAME=PATH)")
    return assigned


def cmd_submit(args) -> int:
    from painterly.wire.client import DaemonError
    try:
        return submit(args)
    except DaemonError as exc:  # the daemon's sentence, as one line
        raise UserError(str(exc)) from None


def submit(args) -> int:
    from . import remote
    from .output import check_output
    from .progress import ProgressBar
    check_output(args.output, *args.inputs, *(item.partition("=")[2] for item in args.inputs if "=" in item))
    with Client(args.endpoint, timeout=args.timeout, token=client_token(args)) as client:
        info = client.handshake()
        methods = {m["name"]: m for m in info["methods"]}
        name = args.method
        if name == "stylize":  # the engine's stylize command: masked with a mask, else global
            name = "masked" if len(args.inputs) >= 3 or any(i.startswith("mask=") for i in args.inputs) else "global"
        spec = methods.get(name)
        if spec is None:
            raise ValueError(f"the daemon has no method {name!r}; it has {', '.join(methods)}")
        paths = submit_inputs(spec, args.inputs)
        kinds = {i["name"]: i["kind"] for i in spec["inputs"]}
        images = {n: remote.load_file(p, "mask" if kinds[n] == "mask" else "rgb") for n, p in paths.items()}
        params_spec = {p["name"]: p for p in spec["params"]}
        params = {}
        for item in args.param:
            key, sep, value = item.partition("=")
            key = key.replace("-", "_")
            if not sep or key not in params_spec:
                raise ValueError(f"bad -p {item!r}: give NAME=VALUE with NAME one of {', '.join(params_spec)}")
            params[key] = parse_param(params_spec[key], value)
        job_id = client.submit(name, params, images)
        if not args.quiet:
            print(f"job {job_id} ({name}) on {args.endpoint}; if this command ends before the job, "
                  f"'{fetch_hint(job_id, args.output, args.endpoint)}' writes its result", file=sys.stderr)
        try:
            result = client.wait(job_id, on_progress=None if args.quiet else ProgressBar())
        except KeyboardInterrupt:
            client.cancel(job_id)
            raise
        except DaemonUnavailable as exc:  # the job stays in the daemon's journal: say how to get it later
            raise UserError(f"{exc} Job {job_id} stays in the daemon's journal and runs again when it starts; "
                            f"then '{fetch_hint(job_id, args.output, args.endpoint)}' writes its result.") from None
    out = remote.save_result(args.output, result.image)
    if not args.quiet:
        meta = result.meta
        print(f"wrote {out} ({meta.get('compute_seconds', 0):.1f} s on {meta.get('device')})", file=sys.stderr)
    return 0




def register(sub) -> None:
    s = sub.add_parser(
        "submit", help="send a job to a running daemon and show its progress",
        description="Send image files to a running daemon, show progress, write the result (RGBA). METHOD is any "
                    "method the daemon offers (see 'painterly daemon status'), or 'stylize' (global or masked).",
        epilog="Example: painterly submit harmonize composite.png mask.png painting.png -p quality=preview -o out.png")
    s.add_argument("method", help="harmonize, stylize, photo, global, masked, ...")
    s.add_argument("inputs", nargs="+", help="input files in the method's order, or NAME=PATH")
    s.add_argument("-o", "--output", required=True, type=Path, help="result image (PNG keeps 16-bit depth)")
    s.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="method parameter")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    add_connection_options(s)
    s.set_defaults(func=cmd_submit)


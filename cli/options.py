"""Options shared by the engine sub-commands: a method's declared parameters as command-line options, the
run options (output, device, daemon), running a method in-process or on a daemon, and writing the result."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .progress import ProgressBar


MASK_HELP = "restyle only inside this mask (grey or alpha image)"


def add_mask_options(parser: argparse.ArgumentParser, required: bool = False, help: str = MASK_HELP) -> None:
    """``--mask`` and ``--soft-mask``, as every masked command takes them."""
    parser.add_argument("--mask", type=Path, required=required, help=help)
    parser.add_argument("--soft-mask", action="store_true", help="keep the mask's grey levels instead of thresholding")


def mask_threshold(soft: bool):
    """The threshold load_mask applies: none for a soft mask (--soft-mask), else one half."""
    return None if soft else 0.5


def method_command(sub, method_name: str, help: str, details: str = "") -> argparse.ArgumentParser:
    """The sub-command named after a method; its description is the method's declared summary (+ ``details``)."""
    from painterly.engine import get_method
    summary = get_method(method_name).summary
    return sub.add_parser(method_name, help=help, description=f"{summary[:1].upper()}{summary[1:]}. {details}".strip())


def add_method_params(parser: argparse.ArgumentParser, method_name: str, skip=(), loose=()) -> None:
    """``--style-weight``-style options for each declared parameter of a method (those in ``loose`` without
    their choices: the method that runs checks them)."""
    from painterly.engine import get_method
    groups = {"basic": parser.add_argument_group(f"{method_name} parameters"),
              "advanced": parser.add_argument_group(f"{method_name} advanced parameters")}
    for param in get_method(method_name).params:
        if param.name in skip:
            continue
        group = groups[param.group]
        flag = "--" + param.name.replace("_", "-")
        kwargs = {"dest": param.name, "default": None, "help": f"{param.help} (default {param.default})"}
        if param.type is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        else:
            group.add_argument(flag, type=param.type, choices=None if param.name in loose else param.choices,
                               **kwargs)


def method_params_from_args(args, method_name: str) -> dict:
    from painterly.engine import get_method
    return {p.name: getattr(args, p.name) for p in get_method(method_name).params
            if getattr(args, p.name, None) is not None}


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, help="output image (PNG keeps 16-bit depth)")
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu (default auto)")
    parser.add_argument("--half", action="store_true", help="half precision on the GPU")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--daemon", metavar="ENDPOINT",
                        help="run on the painterly daemon at ENDPOINT ('default' for your own daemon, or e.g. "
                             "tcp://HOST:PORT with your token) instead of in this process; --device/--half are "
                             "then the daemon's")


def run_method(args, method: str, inputs: dict, params: dict):
    """Run ``method`` in this process (or on a daemon with --daemon) with a progress bar; returns the result
    array, the same on both paths (:mod:`.remote`)."""
    from .remote import run_local, run_remote
    progress = None if args.quiet else ProgressBar()
    if getattr(args, "daemon", None):
        from painterly.wire.endpoints import default_endpoint
        endpoint = default_endpoint() if args.daemon == "default" else args.daemon
        return run_remote(endpoint, method, inputs, params, progress=progress)
    return run_local(method, inputs, params, device=args.device, progress=progress, half=args.half)


def write_result(args, result, content) -> None:
    """The result, with the content's alpha and depth, to -o (checked before the compute: output.check_output)."""
    from .output import write_image
    out = write_image(args.output, result, content.alpha, content.bit_depth)
    if not args.quiet:
        print(f"wrote {out}", file=sys.stderr)

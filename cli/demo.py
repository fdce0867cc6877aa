"""``painterly demo``: Harmonize Selection on the bundled example (a photo of a cup pasted into
The Starry Night), writing the result and a before/after sheet."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def cmd_demo(args) -> int:
    from painterly import engine
    from painterly.engine import load_image, load_mask

    from .output import check_folder, write_image
    from .progress import ProgressBar

    out_dir = check_folder(args.output)
    composite = load_image(EXAMPLES / "demo_composite.png")
    mask = load_mask(EXAMPLES / "demo_mask.png", size=composite.size, threshold=None)
    print(f"harmonizing the pasted cup in {EXAMPLES / 'demo_composite.png'} ({args.quality} quality)...",
          file=sys.stderr)
    result = engine.run("harmonize", {"composite": composite.rgb, "mask": mask},
                        {"quality": args.quality}, device=args.device,
                        progress=None if args.quiet else ProgressBar())
    write_image(out_dir / "demo_result.png", result)
    gap = np.ones((composite.rgb.shape[0], 8, 3), np.float32)
    write_image(out_dir / "demo_sheet.png", np.concatenate([composite.rgb, gap, result], axis=1))
    print(f"wrote {out_dir / 'demo_result.png'} and {out_dir / 'demo_sheet.png'} (before | after)", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="harmonize the bundled example (cup pasted into The Starry Night)")
    p.add_argument("-o", "--output", default="painterly-demo", help="output folder (default ./painterly-demo)")
    p.add_argument("--quality", choices=("preview", "final"), default="preview")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

"""``painterly demo``: Harmonize Selection on the bundled example (a photo of a cup pasted into
The Starry Night), as painted and with the cup's own colours kept, writing both results and a sheet."""
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
    engine.warm_up()    # as a running daemon has: the time budget goes to the iterations
    results = []
    for label, extra in (("as painted", {}), ("its own colours kept", {"keep_colors": "luminance"})):
        print(f"  {label}", file=sys.stderr)
        results.append(engine.run("harmonize", {"composite": composite.rgb, "mask": mask},
                                  {"quality": args.quality, **extra}, device=args.device,
                                  progress=None if args.quiet else ProgressBar()))
    write_image(out_dir / "demo_result.png", results[0])
    write_image(out_dir / "demo_result_colors_kept.png", results[1])
    gap = np.ones((composite.rgb.shape[0], 8, 3), np.float32)
    write_image(out_dir / "demo_sheet.png", np.concatenate([composite.rgb, gap, results[0], gap, results[1]], axis=1))
    print(f"wrote {out_dir / 'demo_result.png'}, {out_dir / 'demo_result_colors_kept.png'} (--keep-colors "
          f"luminance) and {out_dir / 'demo_sheet.png'} (before | harmonized | colours kept)", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="harmonize the bundled example (cup pasted into The Starry Night)")
    p.add_argument("-o", "--output", default="painterly-demo", help="output folder (default ./painterly-demo)")
    p.add_argument("--quality", choices=("instant", "preview", "final"), default="preview")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

"""``painterly harmonize``: make an object pasted into a painting look painted."""
from __future__ import annotations

import sys
from pathlib import Path

from .options import (add_mask_options, add_method_params, add_run_options, mask_threshold, method_command,
                      method_params_from_args, run_method, write_result)
from .output import check_folder, check_output, check_outputs_apart, write_image
from .progress import ProgressBar

PASS_NAMES = ("pass1", "pass2", "refine", "post")   # the passes --save-passes writes, as NAME.png


def cmd_harmonize(args) -> int:
    from painterly import engine
    from painterly.engine import load_image, load_mask
    sources = (args.composite, args.mask, args.style)
    check_output(args.output, *sources)
    if args.save_passes is not None:
        check_folder(args.save_passes)
        check_outputs_apart([args.output] + [Path(args.save_passes) / f"{name}.png" for name in PASS_NAMES], *sources)
    composite = load_image(args.composite)
    inputs = {"composite": composite.rgb,
              "mask": load_mask(args.mask, size=composite.size, threshold=mask_threshold(args.soft_mask))}
    if args.style is not None:
        style = load_image(args.style)
        if style.size != composite.size:
            raise ValueError(f"--style {args.style} is {style.size[0]}x{style.size[1]} but the composite is "
                             f"{composite.size[0]}x{composite.size[1]}")
        inputs["style"] = style.rgb
    params = method_params_from_args(args, "harmonize")
    if args.save_passes is None:
        result = run_method(args, "harmonize", inputs, params)
    else:
        if getattr(args, "daemon", None):
            raise ValueError("--save-passes works in this process only, not with --daemon")
        folder = Path(args.save_passes)

        def save(name, rgb):  # a pass the engine names beyond PASS_NAMES is checked here, before it is written
            path = check_outputs_apart([args.output, folder / f"{name}.png"], *sources)[1]
            out = write_image(path, rgb)
            if not args.quiet:
                print(f"\nwrote {out}", file=sys.stderr)

        result = engine.run("harmonize", inputs, params, device=args.device, half=args.half,
                            progress=None if args.quiet else ProgressBar(), save_passes=save)
    write_result(args, result, composite)
    return 0


def register(sub) -> None:
    p = method_command(sub, "harmonize", help="make an object pasted into a painting look painted")
    p.add_argument("composite", type=Path, help="the painting with the object pasted in")
    add_mask_options(p, required=True,
                     help="the object's mask: a grey image, or an image whose alpha is the object (e.g. its layer)")
    p.add_argument("--style", type=Path, help="the clean painting, same size (default: the composite outside "
                                              "the mask)")
    p.add_argument("--save-passes", metavar="DIR", help="also write pass1.png, pass2.png, refine.png (final) and "
                                                        "post.png (the working-resolution crop) into DIR")
    add_run_options(p)
    add_method_params(p, "harmonize")
    p.set_defaults(func=cmd_harmonize)

"""``painterly stylize``: Gatys neural style transfer of a whole image or inside a mask."""
from __future__ import annotations

from pathlib import Path

from .options import (add_mask_options, add_method_params, add_run_options, mask_threshold, method_params_from_args,
                      run_method, write_result)
from .output import check_output

METHOD_CHOICES_STYLIZE = ("global", "masked")


def style_inputs(args) -> dict:
    """The style images (the positional STYLE, then each --style) as the method's style inputs."""
    from painterly.engine import load_image
    from painterly.engine.methods.gatys import STYLE_INPUTS
    paths = ([args.style] if args.style else []) + (args.styles or [])
    if not paths:
        raise ValueError("give a style image (STYLE or --style)")
    if len(paths) > len(STYLE_INPUTS):
        raise ValueError(f"at most {len(STYLE_INPUTS)} style images, got {len(paths)}")
    return {name: load_image(path).rgb for name, path in zip(STYLE_INPUTS, paths)}


def cmd_stylize(args) -> int:
    from painterly.engine import load_image, load_mask
    check_output(args.output, args.content, args.style, *(args.styles or []), args.mask)
    content = load_image(args.content)
    method = args.method or ("masked" if args.mask else "global")
    inputs = dict({"content": content.rgb}, **style_inputs(args))
    if method == "masked":
        if not args.mask:
            raise ValueError("--method masked needs --mask MASK")
        inputs["mask"] = load_mask(args.mask, size=content.size, threshold=mask_threshold(args.soft_mask))
    elif args.mask:
        raise ValueError("--mask only applies to --method masked")
    result = run_method(args, method, inputs, method_params_from_args(args, method))
    write_result(args, result, content)
    return 0


def register(sub) -> None:
    p = sub.add_parser("stylize", help="neural style transfer of an image (whole or inside a mask)",
                       description="Restyle CONTENT with the style of STYLE (Gatys et al.); several styles are "
                                   "mixed with --style B.jpg [--style C.jpg] --style-blend 0.7,0.3.")
    p.add_argument("content", type=Path, help="image to restyle")
    p.add_argument("style", type=Path, nargs="?", help="style image, e.g. a painting")
    p.add_argument("--style", type=Path, action="append", dest="styles", metavar="STYLE",
                   help="a (further) style image; repeat for up to three, weighted by --style-blend")
    add_mask_options(p)
    p.add_argument("--method", choices=METHOD_CHOICES_STYLIZE, help="default: masked with --mask, else global")
    add_run_options(p)
    add_method_params(p, "masked")
    p.set_defaults(func=cmd_stylize)

"""``painterly stylize``: Gatys neural style transfer of a whole image or inside a mask."""
from __future__ import annotations

from pathlib import Path

from .options import add_method_params, add_run_options, method_params_from_args, run_method, write_result
from .output import check_output

METHOD_CHOICES_STYLIZE = ("global", "masked")


def cmd_stylize(args) -> int:
    from painterly.engine import load_image, load_mask
    check_output(args.output, args.content, args.style, args.mask)
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

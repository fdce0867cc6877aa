"""``painterly photo``: photorealistic style transfer (Deep Photo Style Transfer) from the command line."""
from __future__ import annotations

from pathlib import Path

from .options import (add_mask_options, add_method_params, add_run_options, mask_threshold, method_command,
                      method_params_from_args, run_method, write_result)
from .output import check_output


def cmd_photo(args) -> int:
    from painterly.engine import load_image, load_mask
    check_output(args.output, args.content, args.style, args.content_seg, args.style_seg, args.mask)
    content = load_image(args.content)
    inputs = {"content": content.rgb, "style": load_image(args.style).rgb}
    if bool(args.content_seg) != bool(args.style_seg):
        raise ValueError("give both --content-seg and --style-seg (or neither)")
    if args.content_seg:
        inputs["content_seg"] = load_image(args.content_seg).rgb
        inputs["style_seg"] = load_image(args.style_seg).rgb
    if args.mask:
        inputs["mask"] = load_mask(args.mask, size=content.size, threshold=mask_threshold(args.soft_mask))
    result = run_method(args, "photo", inputs, method_params_from_args(args, "photo"))
    write_result(args, result, content)
    return 0


def register(sub) -> None:
    p = method_command(sub, "photo", help="give a photo another photo's look without painterly distortion",
                       details="CONTENT takes the colours and tones of STYLE, region by region when label maps are "
                               "given, while a matting-Laplacian term keeps it a photo.")
    p.add_argument("content", type=Path, help="photo to recolour")
    p.add_argument("style", type=Path, help="reference photo whose look to take")
    p.add_argument("--content-seg", type=Path, help="colour-coded label map of CONTENT (blue, green, black, "
                                                    "white, red, yellow, grey, light blue, purple regions)")
    p.add_argument("--style-seg", type=Path, help="colour-coded label map of STYLE (same colours)")
    add_mask_options(p)
    add_run_options(p)
    add_method_params(p, "photo")
    p.set_defaults(func=cmd_photo)

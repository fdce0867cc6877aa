"""``painterly fast`` (restyle an image, a video or a folder of frames with a trained style network) and
``painterly train-style`` (train one)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .options import (add_mask_options, add_method_params, add_run_options, mask_threshold, method_params_from_args,
                      run_method, write_result)
from .progress import ProgressBar


def cmd_fast(args) -> int:
    from painterly.engine.fast.models import available_models, user_models_dir
    if args.list:
        for name, path in available_models().items():
            print(f"{name}\t{path}")
        print(f"(user models folder: {user_models_dir()})", file=sys.stderr)
        return 0
    if not args.model:
        raise ValueError("name a style model (painterly fast --list shows them) or a model file")
    if not args.output:
        raise ValueError("-o/--output is required")
    sources = [s for s in (args.input, args.video, args.frames) if s is not None]
    if len(sources) != 1:
        raise ValueError("give exactly one of: an INPUT image, --video FILE or --frames DIR")
    params = method_params_from_args(args, "fast")
    params["model"] = str(args.model)
    if args.tile is not None:
        params["tile"] = args.tile
    if args.input is not None:
        return _fast_image(args, params)
    return _fast_video(args, params)


def model_file(model) -> Path | None:
    """The style model when it is given as a file (an input like the images), else None."""
    path = Path(model)
    return path if path.is_file() else None


def _fast_image(args, params) -> int:
    from painterly.engine import load_image, load_mask

    from .output import check_output
    check_output(args.output, args.input, args.mask, model_file(args.model))
    content = load_image(args.input)
    inputs = {"content": content.rgb}
    if args.mask:
        inputs["mask"] = load_mask(args.mask, size=content.size, threshold=mask_threshold(args.soft_mask))
    result = run_method(args, "fast", inputs, params)
    write_result(args, result, content)
    return 0


def _fast_video(args, params) -> int:
    from painterly.engine.device import select_device
    from painterly.engine.fast.stylizer import stylizer
    from painterly.engine.fast.video import FrameWriter, read_frames, stylize_frames, video_info
    from painterly.engine.methods.fast import resolved

    from .output import check_folder, check_not_an_input
    if args.mask or args.daemon:
        raise ValueError("--mask and --daemon apply to images, not to --video/--frames")
    output = Path(args.output)
    check_not_an_input(output, args.video or args.frames, model_file(args.model))
    check_folder(output.parent if output.suffix else output)
    p = resolved(params)
    device = select_device(args.device)
    stylize = stylizer(p, device, half=bool(getattr(args, "half", False)))
    source = args.video or args.frames
    if args.video:
        fps, count, _ = video_info(args.video)
    else:
        fps, count = args.fps, len([f for f in Path(args.frames).iterdir()]) if Path(args.frames).is_dir() else 0
    fps = args.fps or fps
    count = min(count, args.max_frames) if args.max_frames else count

    start = time.monotonic()
    n = stylize_frames(read_frames(source, limit=args.max_frames or None), stylize, FrameWriter(args.output, fps),
                       args.consistency, count, progress=None if args.quiet else ProgressBar())
    seconds = time.monotonic() - start
    if not args.quiet:
        print(f"wrote {args.output}: {n} frames at {fps:g} fps in {seconds:.1f} s ({n / seconds:.2f} frames/s)",
              file=sys.stderr)
    return 0


def cmd_train_style(args) -> int:
    from painterly.engine.device import select_device
    from painterly.engine.fast.train import TrainSettings, train_style
    settings = TrainSettings(size=args.size, steps=args.steps, batch=args.batch, variant=args.variant,
                             output=args.activation, style_weight=args.style_weight,
                             content_weight=args.content_weight, tv_weight=args.tv_weight,
                             learning_rate=args.learning_rate, seed=args.seed, identity_steps=args.identity_steps,
                             architecture={"skips": True} if args.skips else {},
                             checkpoint_every=args.checkpoint_every, preview_every=args.preview_every)
    log = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr))
    start = time.monotonic()
    out = train_style(args.style, args.output, settings, photos=args.photos, resume=args.resume,
                      device=select_device(args.device), progress=None if args.quiet else ProgressBar(),
                      sheet_dir=args.previews, log=log)
    log(f"wrote {out} in {(time.monotonic() - start) / 60:.1f} min")
    return 0


def register(sub) -> None:
    p = sub.add_parser("fast", help="instant style transfer with a trained style network (image or video)",
                       description="Restyle an image, a video or a folder of frames with a trained style "
                                   "network: a bundled style (e.g. starry-night), a model in the user models "
                                   "folder, or a model file from painterly train-style.")
    p.add_argument("model", nargs="?", help="style model name or file (painterly fast --list)")
    p.add_argument("input", nargs="?", type=Path, help="image to restyle")
    p.add_argument("--list", action="store_true", help="list the installed style models")
    add_mask_options(p)
    p.add_argument("--tile", type=int, nargs="?", const=512, metavar="PX",
                   help="process in overlapping tiles of PX working pixels (default 512): for very large images")
    video = p.add_argument_group("video")
    video.add_argument("--video", type=Path, help="restyle this video file (-o: a video file, or a folder for PNGs)")
    video.add_argument("--frames", type=Path, help="restyle the images in this folder as a clip, in name order")
    video.add_argument("--consistency", type=float, default=0.8,
                       help="temporal consistency: weight of the previous output, warped by optical flow, where "
                            "the flow is reliable (0 = off; default 0.8)")
    video.add_argument("--fps", type=float, default=0.0, help="frame rate of the output (default: the input's; "
                                                               "25 for --frames)")
    video.add_argument("--max-frames", type=int, default=0, help="stop after this many frames")
    add_run_options(p)
    p.set_defaults(output=None)
    add_method_params(p, "fast", skip=("model", "tile"))
    p.set_defaults(func=cmd_fast)
    for action in p._actions:
        if action.dest == "output":
            action.required = False

    t = sub.add_parser("train-style", help="train a style network for painterly fast",
                       description="Train a fast style network for STYLE on photos (default: the sample photos "
                                   "scikit-image ships; --photos DIR or a video file). Checkpoints go to -o "
                                   "as it trains; --resume continues an interrupted run. On a CPU, "
                                   "--size 128 --steps 1000 gives a usable slim model in about half an hour.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("style", type=Path, help="style image (the painting)")
    t.add_argument("-o", "--output", type=Path, required=True, help="model file to write (.pt)")
    t.add_argument("--photos", type=Path, help="folder of training photos, or a video file whose frames are used")
    t.add_argument("--size", type=int, default=256, help="training crop size in pixels")
    t.add_argument("--steps", type=int, default=2000, help="training steps")
    t.add_argument("--batch", type=int, default=4, help="crops per step")
    t.add_argument("--variant", choices=("slim", "full"), default="slim", help="network width")
    t.add_argument("--activation", choices=("tanh", "sigmoid"), default="tanh", help="output activation")
    t.add_argument("--style-weight", type=float, default=10.0, help="weight of the Gram style loss")
    t.add_argument("--content-weight", type=float, default=1.0, help="weight of the content loss")
    t.add_argument("--tv-weight", type=float, default=10.0, help="weight of the total-variation loss")
    t.add_argument("--identity-steps", type=int, default=0,
                   help="first train the network to reproduce its input for this many steps (no VGG pass; "
                        "the content is there from the first style step)")
    t.add_argument("--skips", action="store_true",
                   help="add each down-sampling level's features to the up-sampling output of its size "
                        "(U-Net-like skips: finer content survives)")
    t.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    t.add_argument("--seed", type=int, default=0, help="random seed")
    t.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints")
    t.add_argument("--preview-every", type=int, default=100, help="steps between preview sheets (0 = none)")
    t.add_argument("--previews", type=Path, help="folder for preview sheets (default: MODEL-previews)")
    t.add_argument("--resume", action="store_true", help="continue training the checkpoint at -o")
    t.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train_style)

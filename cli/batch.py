"""``painterly batch``: run one method on every image of a folder (or every frame of a video), on a Dask
cluster (an in-process one by default) or through a daemon. Outputs already there are skipped, so a run
that was stopped picks up where it was; a file that fails is named in the summary while the others go on."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .options import mask_threshold
from .output import check_folder
from .progress import FolderProgress

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv")
ALIASES = {"stylize": ("masked", "global")}   # with masks, without


@dataclass
class Item:
    name: str
    base: Path
    output: Path
    mask: Path | None = None
    frame: int = 0       # of a video, counted from 1 (0: an image file)


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def find_mask(item_path: Path, args) -> Path | None:
    if args.mask_dir is not None:
        candidates = [args.mask_dir / (item_path.stem + suffix) for suffix in IMAGE_SUFFIXES]
        candidates.insert(0, args.mask_dir / item_path.name)
    else:
        candidates = [item_path.with_name(item_path.stem + args.mask_suffix + suffix) for suffix in IMAGE_SUFFIXES]
    return next((p for p in candidates if p.is_file()), None)


def is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def frame_items(args) -> list[Item]:
    """Every frame of the input video, written as OUT_DIR/frame_000001.png..."""
    from painterly.engine.fast.video import read_frames, video_info
    count = video_info(args.input_dir)[1] or sum(1 for _ in read_frames(args.input_dir))
    return [Item(f"frame {n}", args.input_dir, args.output / f"frame_{n:06d}.png", frame=n)
            for n in range(1, count + 1)]


def list_items(args, wants_mask: bool) -> list[Item]:
    """Every image of the input folder (not the masks beside them) with its output and mask."""
    if is_video(args.input_dir):
        return frame_items(args)
    files = images_in(args.input_dir)
    if args.mask_suffix:
        files = [p for p in files if not p.stem.endswith(args.mask_suffix)]
    stems = [p.stem for p in files]
    items = []
    for path in files:
        out_name = f"{path.stem}.png" if stems.count(path.stem) == 1 else f"{path.name}.png"
        items.append(Item(path.name, path, args.output / out_name,
                          find_mask(path, args) if wants_mask else None))
    return items


def resolve_method(args):
    from painterly.engine import get_method
    name = args.method
    if name in ALIASES:
        name = ALIASES[name][0 if (args.mask_dir or args.mask_suffix) else 1]
    try:
        method = get_method(name)
    except (KeyError, ValueError) as exc:
        raise UserError(str(exc).strip("'\"")) from None
    names = {spec.name: spec for spec in method.inputs}
    wants_mask = "mask" in names and not is_video(args.input_dir)
    if "mask" in names and names["mask"].required and is_video(args.input_dir):
        raise UserError(f"{name} needs a mask per image, and a video has none: use a method without one")
    if wants_mask and names["mask"].required and not (args.mask_dir or args.mask_suffix):
        raise UserError(f"{name} needs a mask per image: give --mask-dir DIR or --mask-suffix SUFFIX")
    if "style" in names and names["style"].required and not args.style:
        raise UserError(f"{name} needs --style IMAGE")
    style_names = style_inputs(method)
    if len(args.style or []) > len(style_names):
        raise UserError(f"{name} takes at most {len(style_names)} style image(s), got {len(args.style)}")
    unsupplied = [s.name for s in method.inputs if s.required and s.name not in (method.base_input, "mask", "style")]
    if unsupplied:
        raise UserError(f"batch cannot give {name} its input(s) {', '.join(unsupplied)}")
    return method, wants_mask


def check_items_apart(items: list[Item], styles) -> None:
    """No output is a file the batch reads (an image, a mask, a style image): UserError before any compute,
    so an output folder holding the masks, say, is refused rather than taken for finished work."""
    from .output import check_outputs_apart
    inputs = {item.base for item in items} | {item.mask for item in items if item.mask} | set(styles)
    check_outputs_apart([item.output for item in items], *sorted(inputs))


def style_inputs(method) -> list[str]:
    """The method's style inputs in their declared order (``style``, then further ones mixed with it)."""
    return [s.name for s in method.inputs if s.kind == "rgb" and s.name.startswith("style") and
            not s.name.endswith("_seg")]


def method_params(args, method) -> dict:
    from painterly.engine import ParameterError, get_method, method_names
    declared = {p.name for p in method.params}
    every = {p.name for m in method_names() for p in get_method(m).params}
    foreign = sorted(n for n in every - declared if getattr(args, n, None) is not None)
    if foreign:
        raise UserError(f"{method.name} has no parameter(s) {', '.join('--' + n.replace('_', '-') for n in foreign)}")
    params = {n: getattr(args, n) for n in declared if getattr(args, n, None) is not None}
    try:
        method.resolve_params(params)
    except ParameterError as exc:
        raise UserError(str(exc)) from None
    return params


def load_inputs(item: Item, method, styles: dict, soft_mask: bool, frames=None) -> dict:
    """The job's input buffers: the image file (or the video frame, from ``frames``), its mask, the styles."""
    from painterly.daemon.buffers import from_uint, quantize
    from painterly.engine import load_mask

    from .remote import load_file
    base = from_uint(quantize(frames.get(item.frame), 8)) if item.frame else load_file(item.base, "rgb")
    images = {method.base_input: base}
    if any(spec.name == "mask" for spec in method.inputs) and not item.frame:
        if item.mask is None:
            raise UserError("no mask found for it")
        mask = load_mask(item.mask, size=(base.width, base.height), threshold=mask_threshold(soft_mask))
        images["mask"] = from_uint(quantize(mask, 8))
    images.update(styles)
    return images


class Frames:
    """The frames of a video read once, in order, as the jobs ask for them."""

    def __init__(self, path: Path):
        from painterly.engine.fast.video import read_frames
        self.source, self.index = read_frames(path), 0

    def get(self, number: int):
        frame = None
        while self.index < number:
            frame = next(self.source, None)
            self.index += 1
            if frame is None:
                raise UserError(f"the video ends before frame {number}")
        return frame


def save_output(path: Path, result, base) -> None:
    """The visible result (composited over the base input, with its alpha and depth), written whole or not
    at all."""
    from painterly.daemon.buffers import to_float

    from .output import write_image
    from .remote import visible_result
    write_image(path, visible_result(result, base), to_float(base)[1], base.depth)


def cmd_batch(args) -> int:
    args.input_dir, args.output = Path(args.input_dir), Path(args.output)
    if not (args.input_dir.is_dir() or is_video(args.input_dir)):
        raise UserError(f"{args.input_dir} is neither a folder nor a video ({', '.join(VIDEO_SUFFIXES)})")
    if args.output.resolve() == args.input_dir.resolve():
        raise UserError("the output folder must not be the input folder (inputs are never overwritten)")
    method, wants_mask = resolve_method(args)
    params = method_params(args, method)
    items = list_items(args, wants_mask)
    if not items:
        raise UserError(f"no images in {args.input_dir} ({', '.join(IMAGE_SUFFIXES)})")
    check_items_apart(items, args.style or [])
    todo = [item for item in items if not item.output.is_file()]
    if not todo:
        print(f"all {len(items)} images of {args.input_dir} are already in {args.output}", file=sys.stderr)
        return 0
    check_folder(args.output)
    from .remote import load_file
    styles = {name: load_file(path, "rgb") for name, path in zip(style_inputs(method), args.style or [])}
    skipped = len(items) - len(todo)
    if not args.quiet:
        print(f"{method.name} on {len(todo)} of {len(items)} images in {args.input_dir}"
              + (f" ({skipped} already in {args.output})" if skipped else ""), file=sys.stderr)
    failures: dict[str, str] = {}
    bases: dict[str, object] = {}
    progress = None

    def failed(item, message):
        failures[item.name] = message
        if progress:
            progress.file_finished(failed=True)

    frames = Frames(args.input_dir) if is_video(args.input_dir) else None

    def jobs():
        for item in todo:
            try:
                images = load_inputs(item, method, styles, args.soft_mask, frames)
            except Exception as exc:  # corrupt or unreadable file, missing mask: named in the summary
                failed(item, str(exc))
                continue
            bases[item.name] = images[method.base_input]
            yield item, method.name, params, images

    computed = 0
    with make_runner(args) as runner:
        progress = None if args.quiet else FolderProgress(len(todo))
        for item, kind, payload in runner.run(jobs()):
            base = bases.pop(item.name)
            if kind == "done":
                try:
                    save_output(item.output, payload, base)
                    computed += 1
                except UserError as exc:
                    failed(item, str(exc))
                    continue
                if progress:
                    progress.file_finished()
            else:
                failed(item, payload)
    print(f"{computed} written, {skipped} already there, {len(failures)} failed (outputs in {args.output})",
          file=sys.stderr)
    for name, message in failures.items():
        print(f"  failed: {name}: {message}", file=sys.stderr)
    return 1 if failures else 0


def make_runner(args):
    from .batch_runners import DaemonRunner, DaskRunner
    from .cluster import check_address, cluster_security
    if args.daemon:
        from painterly.wire.endpoints import default_endpoint
        from .daemon import client_token
        return DaemonRunner(default_endpoint() if args.daemon == "default" else args.daemon, client_token(args))
    if args.cluster:
        check_address(args.cluster, args.tls)
        return DaskRunner(args.cluster, security=cluster_security(args.tls, "client"), device=args.device)
    return DaskRunner(workers=args.workers, device=args.device)


def add_every_method_param(parser) -> None:
    """Each parameter any method declares, once (choices that differ between methods are checked by the
    method chosen, not here)."""
    from painterly.engine import get_method, method_names

    from .options import add_method_params
    seen, choices = set(), {}
    for name in method_names():
        for param in get_method(name).params:
            choices.setdefault(param.name, set()).add(param.choices)
    loose = {n for n, c in choices.items() if len(c) > 1}
    for name in method_names():
        add_method_params(parser, name, skip=seen, loose=loose)
        seen |= {p.name for p in get_method(name).params}


def register(sub) -> None:
    p = sub.add_parser(
        "batch", help="run a method on every image of a folder (resumable)",
        description="Run METHOD on every image of INPUT_DIR (or every frame of a video file, written as "
                    "frame_000001.png...) and write OUT_DIR/<name>.png. Images whose output "
                    "exists are skipped, so running the command again finishes a stopped run. Jobs run on an "
                    "in-process Dask cluster sized to this machine, on a cluster (--cluster) or a daemon "
                    "(--daemon). Files that fail are listed at the end; the exit status is 1 if any did.",
        epilog="Example: painterly batch harmonize composites/ --mask-suffix _mask -o out/ --quality preview")
    p.add_argument("method", help="harmonize, stylize (masked with masks, else global), global, masked, photo, ...")
    p.add_argument("input_dir", type=Path, help="folder of images (the method's base input), or a video file")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder")
    masks = p.add_mutually_exclusive_group()
    masks.add_argument("--mask-dir", type=Path, help="masks in this folder, same names as the images")
    masks.add_argument("--mask-suffix", help="masks beside the images: NAME<SUFFIX>.png for NAME.jpg (e.g. _mask)")
    p.add_argument("--soft-mask", action="store_true", help="keep the masks' grey levels instead of thresholding")
    p.add_argument("--style", type=Path, action="append",
                   help="style image for every job (e.g. the painting); repeat to mix several (--style-blend)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--daemon", metavar="ENDPOINT", help="run through the painterly daemon at ENDPOINT")
    where.add_argument("--cluster", metavar="ADDR", help="run on the Dask cluster whose scheduler is ADDR")
    p.add_argument("--tls", type=Path, metavar="DIR", help="certificates for a tls:// --cluster")
    p.add_argument("--token-file", type=Path, help="access token of a --daemon started with --auth token")
    p.add_argument("--workers", type=int, help="worker processes of the in-process cluster (default: by cores)")
    p.add_argument("--device", default="auto", help="auto (a GPU when there is one), cuda or cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_every_method_param(p)
    p.set_defaults(func=cmd_batch)


#!/usr/bin/env python3
"""Temporal consistency of fast style networks on a clip: warping error and frames per second.

On the first N frames of a clip: the warping error (Lai et al. 2018; engine/fast/video.py) of the input
frames themselves, of the network's outputs frame by frame, and of the outputs with the consistency
option; the frames per second of each (decoding excluded, flow included); the stylised clips; and a
strip of consecutive frames (rows: input, without, with the option) to look at.

    python bench/video_fast.py MODEL [--clip ../shared/data/video/vtest.avi] [--frames 60] [--size 0]
        [--consistency 0.8] [--out results/video_fast]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

DEFAULT_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "vtest.avi"


def main(argv=None) -> int:
    from painterly.engine import save_image
    from painterly.engine.fast.apply import stylize_array
    from painterly.engine.fast.models import loaded_models
    from painterly.engine.fast.video import FrameWriter, TemporalBlender, read_frames, video_info, warping_error

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", type=int, default=0, help="working size (0 = the clip's own)")
    parser.add_argument("--consistency", type=float, default=0.8)
    parser.add_argument("--strip", type=int, nargs=2, default=[30, 5], metavar=("FIRST", "COUNT"))
    parser.add_argument("--out", type=Path, default=Path("results/video_fast"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    fps, _, (w, h) = video_info(args.clip)
    frames = list(read_frames(args.clip, limit=args.frames))
    device = torch.device("cpu")
    net, _ = loaded_models.get(args.model, device)
    stylize_array(net, frames[0], device, args.size)  # warm-up
    results, seconds = {}, {}
    for label, weight in (("without", 0.0), ("with", args.consistency)):
        blend = TemporalBlender(weight)
        writer = FrameWriter(args.out / f"{args.clip.stem}_{label}.mp4", fps)
        start, outs = time.perf_counter(), []
        for frame in frames:
            outs.append(blend(frame, stylize_array(net, frame, device, args.size)))
        seconds[label] = time.perf_counter() - start
        for out in outs:
            writer.write(out)
        writer.close()
        results[label] = outs

    errors = {"input frames": warping_error(frames, frames)}
    errors.update({f"output, {k} consistency": warping_error(frames, v) for k, v in results.items()})
    print(f"{args.clip.name}: {len(frames)} frames of {w}x{h} at {fps:g} fps, working size {args.size or max(w, h)}, "
          f"{torch.get_num_threads()} thread(s), consistency weight {args.consistency}\n")
    print(f"{'':<32} | {'warping error':>13} | {'frames/s':>8}")
    print("-" * 60)
    for name, value in errors.items():
        key = "with" if "with consistency" in name else "without" if "without" in name else None
        rate = f"{len(frames) / seconds[key]:8.2f}" if key else f"{'':>8}"
        print(f"{name:<32} | {value:13.5f} | {rate}")
    print(f"\nwarping error with the option: {errors['output, with consistency'] / errors['output, without consistency']:.2f}"
          f" of without")

    first, count = args.strip
    picks = range(first, min(first + count, len(frames)))
    rows = [np.concatenate([src[i] for i in picks], axis=1) for src in (frames, results["without"], results["with"])]
    strip = args.out / f"{args.clip.stem}_strip.png"
    save_image(strip, np.concatenate(rows, axis=0))
    print(f"strip: {strip} (frames {first}..{first + count - 1}; rows: input, without, with the option)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

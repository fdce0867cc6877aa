#!/usr/bin/env python3
"""Slim vs full network and tanh vs sigmoid output, trained the same way for the same number of steps.

Each configuration is trained from the same seed on the same crops (the packaged sample photos, or
--photos), then measured: training seconds, the mean losses of its last 20% of steps, and the Gram style
distance (bench/fast_quality.py's measure) and content distance (relative relu4_1 feature difference) of
its outputs on held-out photos. A sheet shows each configuration's outputs.

    python bench/fast_variants.py --style examples/starry_night.jpg --photos-eval P1 P2 [--steps 150]
        [--size 96] [--configs slim:tanh slim:sigmoid full:tanh] [--out results/fast_variants]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fast_quality import GramDistance, sheet, working  # noqa: E402


def content_distance(extractor, a: np.ndarray, b: np.ndarray) -> float:
    with torch.no_grad():
        fa = extractor(torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None])["relu4_1"]
        fb = extractor(torch.from_numpy(np.ascontiguousarray(b)).permute(2, 0, 1)[None])["relu4_1"]
    return float((fa - fb).norm() / fb.norm())


def main(argv=None) -> int:
    from painterly.engine import load_image
    from painterly.engine.fast.apply import stylize_array
    from painterly.engine.fast.models import build_network, read_model
    from painterly.engine.fast.train import TrainSettings, train_style

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", type=Path, required=True)
    parser.add_argument("--photos", type=Path, help="training photos (default: the packaged sample photos)")
    parser.add_argument("--photos-eval", type=Path, nargs="+", required=True)
    parser.add_argument("--configs", nargs="+", default=["slim:tanh", "slim:sigmoid", "full:tanh"])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--eval-size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("results/fast_variants"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    style = working(load_image(args.style).rgb, args.eval_size)
    gram = GramDistance(style)
    from painterly.engine.features import get_extractor
    content_net = get_extractor(("relu4_1",), "vgg19", "avg", "cpu")
    photos = [working(load_image(p).rgb, args.eval_size) for p in args.photos_eval]
    rows, sheet_rows = [], [photos]
    for config in args.configs:
        variant, activation = config.split(":")
        model = args.out / f"{variant}-{activation}-{args.size}-{args.steps}.pt"
        start = time.monotonic()
        if not model.is_file():
            train_style(args.style, model, TrainSettings(size=args.size, steps=args.steps, batch=args.batch,
                                                          variant=variant, output=activation, preview_every=0,
                                                          checkpoint_every=args.steps),
                        photos=args.photos, log=lambda m: None)
        seconds = time.monotonic() - start
        payload = read_model(model)
        history = np.array(payload["training"]["history"])
        tail = history[history[:, 0] > 0.8 * args.steps][:, 1:].mean(axis=0)
        net = build_network(payload, model)
        outs = [stylize_array(net, p, torch.device("cpu")) for p in photos]
        rows.append((config, seconds, *tail, np.mean([gram(o) for o in outs]),
                     np.mean([content_distance(content_net, o, p) for o, p in zip(outs, photos)])))
        sheet_rows.append(outs)
    print(f"{args.steps} steps of {args.batch} crops around {args.size} px; evaluation on {len(photos)} held-out "
          f"photos at {args.eval_size} px (input photos' Gram distance {np.mean([gram(p) for p in photos]):.3f})\n")
    print(f"{'config':<14} | {'train s':>7} | {'content':>7} | {'style':>7} | {'tv':>7} | {'Gram dist':>9} | "
          f"{'content dist':>12}")
    print("-" * 82)
    for r in rows:
        print(f"{r[0]:<14} | {r[1]:7.0f} | {r[2]:7.3f} | {r[3]:7.3f} | {r[4]:7.4f} | {r[5]:9.3f} | {r[6]:12.3f}")
    path = args.out / "sheet.png"
    sheet(sheet_rows, path, height=192)
    print(f"\nsheet: {path} (rows: photos, then " + ", ".join(args.configs) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())

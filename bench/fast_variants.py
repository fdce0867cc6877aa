#!/usr/bin/env python3
"""Training configurations side by side: variants, output activation, losses, initialisation, layout.

Each configuration is trained from the same seed on the same crops (the packaged sample photos, or
--photos) for the same number of steps, then measured: training seconds, the mean losses of its last 20%
of steps, and the Gram style distance (bench/fast_quality.py's measure) and content distance (relative
relu4_1 feature difference) of its outputs on held-out photos. A sheet shows each configuration's outputs.

A configuration is ``LABEL`` or ``LABEL:KEY=VALUE,KEY=VALUE``: KEY a training setting
(engine/fast/train.py's TrainSettings: variant, output, content_layer, style_weight, identity_steps, ...)
or ``arch.FIELD`` for the network's layout (engine/fast/network.py's Architecture: blocks, skips, ...);
tuple values are joined by ``+`` (style_layers=relu1_1+relu2_1). A configuration already trained (its
model file in --out) is measured again without training.

    python bench/fast_variants.py --style examples/starry_night.jpg --photos-eval P1 P2 [--steps 150]
        [--size 96] [--configs slim slim-sigmoid:output=sigmoid full:variant=full] [--out results/fast_variants]
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


def parse_config(text: str) -> tuple[str, dict]:
    """``LABEL:KEY=VALUE,...`` → (label, TrainSettings keyword arguments)."""
    label, _, rest = text.partition(":")
    settings: dict = {}
    for item in filter(None, rest.split(",")):
        key, _, raw = item.partition("=")
        value = tuple(raw.split("+")) if "+" in raw else _scalar(raw)
        if key.startswith("arch."):
            value = tuple(_scalar(v) for v in value) if isinstance(value, tuple) else value
            settings.setdefault("architecture", {})[key[5:]] = value
        else:
            settings[key] = value
    return label, settings


def _scalar(raw: str):
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(raw.lower(), raw)


def main(argv=None) -> int:
    from painterly.engine import load_image
    from painterly.engine.fast.apply import stylize_array
    from painterly.engine.fast.models import build_network, read_model
    from painterly.engine.fast.train import TrainSettings, train_style

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", type=Path, required=True)
    parser.add_argument("--photos", type=Path, help="training photos (default: the packaged sample photos)")
    parser.add_argument("--photos-eval", type=Path, nargs="+", required=True)
    parser.add_argument("--configs", nargs="+", default=["slim", "slim-sigmoid:output=sigmoid", "full:variant=full"])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--eval-size", type=int, default=256)
    parser.add_argument("--train-only", action="store_true", help="train the configurations, measure nothing")
    parser.add_argument("--out", type=Path, default=Path("results/fast_variants"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    style = working(load_image(args.style).rgb, args.eval_size)
    gram = GramDistance(style)
    from painterly.engine.features import get_extractor
    content_net = get_extractor(("relu4_1",), "vgg19", "avg", "cpu")
    photos = [working(load_image(p).rgb, args.eval_size) for p in args.photos_eval]
    rows, sheet_rows = [], [photos]
    labels = []
    for config in args.configs:
        label, overrides = parse_config(config)
        labels.append(label)
        model = args.out / f"{label}-{args.size}-{args.batch}-{args.steps}.pt"
        timing = model.with_suffix(".seconds")
        if not model.is_file():
            start = time.monotonic()
            settings = dict(size=args.size, steps=args.steps, batch=args.batch, preview_every=0,
                            checkpoint_every=args.steps)
            train_style(args.style, model, TrainSettings(**dict(settings, **overrides)),
                        photos=args.photos, log=lambda m: None)
            timing.write_text(f"{time.monotonic() - start:.1f}\n")
        if args.train_only:
            continue
        seconds = float(timing.read_text()) if timing.is_file() else float("nan")
        payload = read_model(model)
        history = np.array(payload["training"]["history"])
        tail = history[history[:, 0] > 0.8 * args.steps][:, 1:].mean(axis=0)
        net = build_network(payload, model)
        outs = [stylize_array(net, p, torch.device("cpu")) for p in photos]
        rows.append((label, seconds, *tail, np.mean([gram(o) for o in outs]),
                     np.mean([content_distance(content_net, o, p) for o, p in zip(outs, photos)])))
        sheet_rows.append(outs)
    if args.train_only:
        return 0
    print(f"{args.steps} steps of {args.batch} crops around {args.size} px; evaluation on {len(photos)} held-out "
          f"photos at {args.eval_size} px (input photos' Gram distance {np.mean([gram(p) for p in photos]):.3f})\n")
    print(f"{'config':<24} | {'train s':>7} | {'content':>7} | {'style':>7} | {'tv':>7} | {'Gram dist':>9} | "
          f"{'content dist':>12}")
    print("-" * 92)
    for r in rows:
        print(f"{r[0]:<24} | {r[1]:7.0f} | {r[2]:7.3f} | {r[3]:7.3f} | {r[4]:7.4f} | {r[5]:9.3f} | {r[6]:12.3f}")
    path = args.out / "sheet.png"
    sheet(sheet_rows, path, height=192)
    print(f"\nsheet: {path} (rows: photos, then " + ", ".join(labels) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())

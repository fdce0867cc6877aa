#!/usr/bin/env python3
"""How much style a trained network puts into photos, next to the optimisation method on the same photos.

For each photo (photos the model was not trained on), at one working size: the Gram style distance to
the style image of (a) the photo itself, (b) the fast network's output, (c) ``painterly stylize``'s
output (the ``global`` method, default settings), and a sheet photo | fast | stylize per photo.

Gram style distance: for VGG19 relu2_1, relu3_1 and relu4_1, the Frobenius norm of (Gram of the image −
Gram of the style) divided by the norm of the style's Gram, averaged over the layers (the same measure
as bench/harmony_quality.py's global style distance, here over the whole image); the style is resized
to the same working size, as stylize does.

    python bench/fast_quality.py MODEL [MODEL ...] --style examples/starry_night.jpg --photos P1 P2 ...
        [--size 256] [--out results/fast_quality] [--stylize-iterations 300]

stylize outputs are kept in --out and reused by later runs with the same photo and size.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

LAYERS = ("relu2_1", "relu3_1", "relu4_1")


def working(rgb: np.ndarray, size: int) -> np.ndarray:
    from painterly.engine.crop import to_tensor
    from painterly.engine.fast.apply import working_hw
    from painterly.engine.pyramid import resize
    hw = working_hw(*rgb.shape[:2], size)
    return resize(to_tensor(rgb), hw)[0].permute(1, 2, 0).numpy()


class GramDistance:
    def __init__(self, style: np.ndarray):
        from painterly.engine.features import get_extractor
        from painterly.engine.losses import gram_matrix
        self.extractor = get_extractor(LAYERS, "vgg19", "avg", "cpu")
        self.gram = gram_matrix
        self.target = {k: gram_matrix(v) for k, v in self.features(style).items()}

    def features(self, rgb):
        with torch.no_grad():
            return self.extractor(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None])

    def __call__(self, rgb) -> float:
        feats = self.features(rgb)
        return float(np.mean([float((self.gram(feats[k]) - t).norm() / t.norm()) for k, t in self.target.items()]))


def sheet(rows: list[list[np.ndarray]], path: Path, height: int = 256) -> None:
    from painterly.engine import save_image
    from painterly.engine.crop import to_tensor
    from painterly.engine.pyramid import resize
    lines = []
    for row in rows:
        tiles = [resize(to_tensor(img), (height, max(1, round(img.shape[1] * height / img.shape[0]))))
                 for img in row]
        lines.append(torch.cat(tiles, dim=-1))
    width = max(t.shape[-1] for t in lines)
    lines = [torch.nn.functional.pad(t, (0, width - t.shape[-1]), value=1.0) for t in lines]
    save_image(path, torch.cat(lines, dim=-2)[0].permute(1, 2, 0).numpy())


def main(argv=None) -> int:
    from painterly import engine
    from painterly.engine import load_image
    from painterly.engine.fast.apply import stylize_array
    from painterly.engine.fast.models import build_network, read_model, resolve_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="style model files or names")
    parser.add_argument("--style", type=Path, required=True)
    parser.add_argument("--photos", type=Path, nargs="+", required=True)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--stylize-iterations", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("results/fast_quality"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    style = load_image(args.style).rgb
    measure = GramDistance(working(style, args.size))
    nets = {}
    for m in args.models:
        path = resolve_model(m)
        label = path.stem if path.stem not in nets else str(path)   # a bundled model and a file of its name
        nets[label] = build_network(read_model(path), path)
    header = ["photo", "input"] + [f"fast {n}" for n in nets] + ["stylize"]
    print(" | ".join(f"{h:>18}" for h in header))
    table, rows = [], []
    for photo_path in args.photos:
        name = f"{photo_path.parent.name}_{photo_path.stem}" if photo_path.stem == "content" else photo_path.stem
        photo = working(load_image(photo_path).rgb, args.size)
        cached = args.out / f"stylize_{name}_{args.size}_{args.stylize_iterations}.png"
        if cached.is_file():
            stylized = load_image(cached).rgb
        else:
            start = time.monotonic()
            stylized = engine.run("global", {"content": photo, "style": style},
                                  {"size": args.size, "iterations": args.stylize_iterations}, device="cpu")
            engine.save_image(cached, stylized)
            print(f"  (stylize {name}: {time.monotonic() - start:.0f} s)", file=sys.stderr)
        outputs = [stylize_array(net, photo, torch.device("cpu")) for net in nets.values()]
        values = [measure(photo)] + [measure(o) for o in outputs] + [measure(stylized)]
        table.append(values)
        rows.append([photo] + outputs + [stylized])
        print(" | ".join([f"{name:>18}"] + [f"{v:18.3f}" for v in values]))
    means = np.mean(table, axis=0)
    print(" | ".join([f"{'mean':>18}"] + [f"{v:18.3f}" for v in means]))
    for i, n in enumerate(nets):
        print(f"fast {n}: {means[1 + i] / means[0]:.2f} of the input photos' distance, "
              f"{means[1 + i] / means[-1]:.2f} of stylize's")
    sheet(rows, args.out / f"sheet_{args.size}.png")
    print(f"sheet: {args.out / f'sheet_{args.size}.png'} (columns: photo, " + ", ".join(f"fast {n}" for n in nets)
          + ", stylize)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

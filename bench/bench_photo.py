"""Cost of the photorealism regulariser: matting-Laplacian build time and the extra time per iteration.

Per iteration = one evaluation of the photo objective and its gradient (what L-BFGS does each step),
with and without the λ·Σ VᵀMV term; runs interleaved so that load from other processes hits both alike,
and the median is reported.

    nice -n 10 python bench/bench_photo.py --sizes 256 512 --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from painterly.engine.features import get_extractor
from painterly.engine.matting import laplacian_to_torch, matting_laplacian, matting_quadratic
from painterly.engine.methods import get_method
from painterly.engine.methods.photo import CONTENT_LAYER, NETWORK, STYLE_LAYERS, PhotoObjective
from painterly.engine.segmentation import label_pairs


def test_image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    smooth = np.stack([np.sin(6 * xx), np.cos(5 * yy), xx * yy], axis=2) * 0.4 + 0.5
    return np.clip(smooth + 0.05 * rng.standard_normal((h, w, 3)), 0, 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    print(f"torch threads {torch.get_num_threads()}, device {device}")
    for side in args.sizes:
        img = test_image(side, side, 0)
        builds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            lap = matting_laplacian(img)
            builds.append(time.perf_counter() - start)
        print(f"{side}x{side}: Laplacian build median {statistics.median(builds):.2f} s "
              f"(min {min(builds):.2f}, {lap.nnz} non-zeros)  [target <= 3 s at 512x512]", flush=True)

    extractor = get_extractor((CONTENT_LAYER,) + STYLE_LAYERS, NETWORK, "max", device)
    params = get_method("photo").resolve_params({})
    for side in args.sizes:
        content_np = test_image(side, side, 1)
        content = torch.from_numpy(content_np).float().permute(2, 0, 1)[None].contiguous().to(device)
        style = torch.from_numpy(test_image(side, side, 2)).float().permute(2, 0, 1)[None].contiguous().to(device)
        pairs = label_pairs(None, None, (side, side), (side, side))
        lap = laplacian_to_torch(matting_laplacian(content_np), device)
        plain = PhotoObjective(extractor, content, style, pairs, params)
        regularised = PhotoObjective(extractor, content, style, pairs, params, laplacian=lap)
        times = {"without": [], "with": [], "term only": []}
        image = content.clone().requires_grad_(True)

        def timed(fn):
            image.grad = None
            start = time.perf_counter()
            loss, _ = fn(image)
            loss.backward()
            return time.perf_counter() - start

        timed(plain)  # warm-up
        for _ in range(args.repeats):
            times["without"].append(timed(plain))
            times["with"].append(timed(regularised))
            times["term only"].append(timed(lambda x: (matting_quadratic(x, lap), {})))
        t_without, t_with = statistics.median(times["without"]), statistics.median(times["with"])
        t_term = statistics.median(times["term only"])
        print(f"{side}x{side}: per iteration without {t_without:.3f} s, with {t_with:.3f} s "
              f"(+{100 * (t_with - t_without) / t_without:.1f} %); the term alone {t_term * 1000:.1f} ms "
              f"= {100 * t_term / t_without:.1f} % of an iteration  [target <= 30 %]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Seconds and quality of every method's quality presets at 512 px, beside the previous defaults, in one run.

Images (redistributable, examples/ and /work/shared/data/demo): each brought to 512 px on its longest side.
  global    coffee.png (and chelsea.png) restyled with The Starry Night
  masked    the demo cup in The Starry Night, restyled inside its mask
  photo     coffee.png taking the look of rocket.jpg (dusk blue)
  harmonize the demo cup in The Starry Night
Rows: ``preview`` and ``final`` as shipped, and ``previous``: the product's defaults before the presets existed,
run by the code of that time (commit FILED, in a child process: bench/render_at_commit.py; global and masked:
512 px, 300 iterations; photo: 512 px, 300 + 300 iterations, two stages and smoothing; harmonize had its
presets already). ``--previous-here`` runs those parameters on this commit's engine instead. Seconds: wall
clock of ``engine.run`` after a warm-up that loads the networks (a running daemon keeps them loaded; a cold
command line adds about 1-2 s).
Quality:
  style dist  mean over relu1_1..relu5_1 (VGG19) of |G(result) − G(style)|² / |G(style)|², inside the mask for
              masked/harmonize (lower = closer to the style);
  content chg |F(result) − F(content)|² / |F(content)|² at relu4_2 (lower = more of the content kept);
  @prev chg   style distance at the previous default's content change, interpolated (log-log) from ``final``
              run at style weights ×0.5, ×1, ×2 and further halvings or doublings until the previous change lies
              between two of them (``--sweep``, ×1/8 to ×8; else extrapolated along the nearest two by at most
              15 %): the comparison at equal content change;
  photo: structure (SSIM of gradient magnitudes vs the content, higher = better) and colour (Lab mean + std
         distance to the style, lower = better), as bench/photo_quality.py.

    python bench/bench_presets.py --threads 2 [--methods global masked photo harmonize] [--sweep] [--no-previous]
                                  [--previous-here]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from photo_quality import PREVIOUS as PHOTO_PREVIOUS  # bench/ is the script's folder
from photo_quality import colour_distance, structure_score
from render_at_commit import FILED, render

from painterly import engine
from painterly.engine.convert import to_tensor
from painterly.engine.features import get_extractor
from painterly.engine.losses import gram_matrix, masked_gram_matrix
from painterly.engine.segmentation import label_pairs

ROOT = Path(__file__).resolve().parents[1]

DEMO = Path("/work/shared/data/demo")
EXAMPLES = ROOT / "examples"
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# The same parameters on this commit's engine (--previous-here).
PREVIOUS = {
    "global": {"size": 512, "iterations": 300, "pyramid_levels": 2, "init": "content", "level_detail": False},
    "masked": {"size": 512, "iterations": 300, "pyramid_levels": 2, "init": "content", "level_detail": False},
    "photo": PHOTO_PREVIOUS,
}


def load(path: Path, longest: int = 512, grey: bool = False) -> np.ndarray:
    img = Image.open(path).convert("L" if grey else "RGB")
    scale = longest / max(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return (arr > 0.5).astype(np.float32) if grey else arr


def style_metrics(result, content, style, mask=None) -> dict:
    extractor = get_extractor(LAYERS + ("relu4_2",), "vgg19", "avg", "cpu")
    with torch.no_grad():
        r, c, s = extractor(to_tensor(result)), extractor(to_tensor(content)), extractor(to_tensor(style))
    m = None if mask is None else to_tensor(mask)
    dist = 0.0
    for layer in LAYERS:
        gram = gram_matrix(r[layer]) if m is None else masked_gram_matrix(r[layer], m)
        target = gram_matrix(s[layer])
        dist += float(((gram - target) ** 2).mean() / (target ** 2).mean()) / len(LAYERS)
    diff = (r["relu4_2"] - c["relu4_2"]) ** 2
    base = c["relu4_2"] ** 2
    if m is not None:
        w = torch.nn.functional.interpolate(m, size=diff.shape[-2:], mode="area")
        diff, base = diff * w, base * w
    return {"style": dist, "content": float(diff.sum() / base.sum())}


def cases(names):
    painting = np.asarray(Image.open(DEMO / "starry_night.jpg").convert("RGB"), dtype=np.float32) / 255.0
    composite, mask = load(EXAMPLES / "demo_composite.png"), load(EXAMPLES / "demo_mask.png", grey=True)
    table = {
        "global": [("coffee", {"content": load(DEMO / "coffee.png"), "style": painting}),
                   ("chelsea", {"content": load(DEMO / "chelsea.png"), "style": painting})],
        "masked": [("cup", {"content": composite, "style": painting, "mask": mask})],
        "photo": [("coffee←rocket", {"content": load(DEMO / "coffee.png"), "style": load(DEMO / "rocket.jpg")})],
        "harmonize": [("cup", {"composite": composite, "mask": mask})],
    }
    return {name: table[name] for name in names}


def measure(method: str, inputs: dict, params: dict) -> dict:
    start = time.perf_counter()
    result = engine.run(method, inputs, params, device="cpu")
    return dict(s=time.perf_counter() - start, **quality(method, inputs, result))


def quality(method: str, inputs: dict, result: np.ndarray) -> dict:
    if method == "photo":
        pairs = label_pairs(None, None, inputs["content"].shape[:2], inputs["style"].shape[:2])
        return {"structure": structure_score(result, inputs["content"]),
                "colour": colour_distance(result, inputs["style"], pairs)}
    content = inputs.get("content", inputs.get("composite"))
    style = inputs.get("style", inputs.get("composite"))
    style = np.asarray(Image.fromarray((style * 255).astype(np.uint8)).resize(
        (round(style.shape[1] * max(content.shape) / max(style.shape)),
         round(style.shape[0] * max(content.shape) / max(style.shape))), Image.LANCZOS), np.float32) / 255.0
    return style_metrics(result, content, style, inputs.get("mask"))


def previous_at_commit(todo: list, threads: int) -> dict:
    """{(method, name): row} of the FILED commit's defaults, rendered in one child process."""
    with tempfile.TemporaryDirectory(prefix="painterly-bench-") as tmp:
        jobs = []  # not ``cases``: that is the module's table of images
        for i, (method, name, inputs) in enumerate(todo):
            np.savez(f"{tmp}/{i}.npz", **inputs)
            jobs.append({"method": method, "inputs": f"{tmp}/{i}.npz", "params": {}, "out": f"{tmp}/{i}.npy"})
        timed = render(FILED, {"threads": threads, "cases": jobs})
        return {(method, name): dict(s=t["seconds"], **quality(method, inputs, np.load(job["out"])))
                for (method, name, inputs), job, t in zip(todo, jobs, timed)}


def at_content_change(sweep: list, target: float) -> tuple[float, bool] | None:
    """log(style distance) interpolated linearly in log(content change) at ``target``, and whether it was
    extrapolated: along the nearest two points' line when ``target`` is outside the sweep by at most 15 %."""
    points = sorted((np.log(r["content"]), np.log(r["style"])) for r in sweep)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x = np.log(target)
    if xs[0] <= x <= xs[-1]:
        return float(np.exp(np.interp(x, xs, ys))), False
    if abs(x - (xs[0] if x < xs[0] else xs[-1])) > np.log(1.15):
        return None
    (x0, y0), (x1, y1) = points[:2] if x < xs[0] else points[-2:]
    return float(np.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))), True


def sweep_factors(sweep: list, target: float, furthest: float = 8.0):
    """Style weight factors to run ``final`` at: ×0.5 and ×2, then further halvings (doublings) while every
    point so far has moved the content more (less) than ``target``, so that it is interpolated, not
    extrapolated. The final preset's time budget moves its content change with the machine's speed.
    ``sweep`` grows as the caller measures each factor's row."""
    yield 0.5
    yield 2.0
    low = 0.5
    while low > 1 / furthest and min(r["content"] for r in sweep) > target:
        low /= 2
        yield low
    high = 2.0
    while high < furthest and max(r["content"] for r in sweep) < target:
        high *= 2
        yield high


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=["global", "masked", "photo", "harmonize"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sweep", action="store_true", help="final at other style weights too (×0.5, ×2, ...)")
    parser.add_argument("--no-previous", action="store_true", help="skip the (slow) previous defaults")
    parser.add_argument("--previous-here", action="store_true",
                        help=f"the previous defaults' parameters on this engine (default: the code of {FILED})")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tiny = np.random.default_rng(0).uniform(0, 1, (96, 96, 3)).astype(np.float32)
    small = np.zeros((96, 96), np.float32)
    small[40:56, 40:56] = 1       # with painting enough around it to match against, once its footprint is left out
    for method, inputs in (("global", {"content": tiny, "style": tiny}), ("photo", {"content": tiny, "style": tiny}),
                           ("harmonize", {"composite": tiny, "mask": small})):   # warm-up: networks loaded
        engine.run(method, inputs, {"iterations": 1, "size": 40} if method != "harmonize" else {"iterations": 2})
    print(f"torch threads {torch.get_num_threads()}; seconds after warm-up, 512 px images", flush=True)
    rows = []
    todo = [(method, name, inputs) for method, examples in cases(args.methods).items() if method in PREVIOUS
            for name, inputs in examples]
    filed = {} if args.no_previous or args.previous_here else previous_at_commit(todo, args.threads)
    for (method, name), r in filed.items():
        print(method, name, f"previous ({FILED})", {k: round(v, 4) for k, v in r.items()}, flush=True)
    for method, examples in cases(args.methods).items():
        presets = ["preview", "final"] + ([] if args.no_previous or method not in PREVIOUS else ["previous"])
        for name, inputs in examples:
            results = {}
            for preset in presets:
                if preset == "previous" and not args.previous_here:
                    results[preset] = filed[(method, name)]
                    continue
                params = PREVIOUS[method] if preset == "previous" else {"quality": preset}
                results[preset] = measure(method, inputs, params)
                print(method, name, preset, {k: round(v, 4) for k, v in results[preset].items()}, flush=True)
            if args.sweep and method in ("global", "masked") and "previous" in results:
                weight = engine.get_method(method).resolve_params({})["style_weight"]
                sweep = [results["final"]]
                for factor in sweep_factors(sweep, results["previous"]["content"]):
                    sweep.append(measure(method, inputs, {"quality": "final", "style_weight": weight * factor}))
                    row = {k: round(v, 4) for k, v in sweep[-1].items()}
                    print(method, name, f"final, style weight x{factor}", row, flush=True)
                results["final"]["at_previous"] = at_content_change(sweep, results["previous"]["content"])
            rows += [(method, name, preset, r) for preset, r in results.items()]
    print(f"\n{'method':10} {'image':14} {'preset':9} {'seconds':>8}  quality")
    for method, name, preset, r in rows:
        if method == "photo":
            quality = f"structure {r['structure']:.3f}  colour {r['colour']:6.2f}"
        else:
            quality = f"style dist {r['style']:.4f}  content chg {r['content']:.4f}"
            if r.get("at_previous") is not None:
                value, extrapolated = r["at_previous"]
                quality += f"  style dist @previous content chg {value:.4f}" + (" (extrapolated)" * extrapolated)
        print(f"{method:10} {name:14} {preset:9} {r['s']:8.1f}  {quality}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

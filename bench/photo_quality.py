"""Photorealistic transfer quality on the Deep Photo Style Transfer examples (/work/shared/data/dpst).

For each example: stage 1 (no photorealism term) once, then both variants from it —
``optimize`` (stage 2 with the matting-Laplacian term, the paper's method) and ``fast`` (closed-form
matting smoothing of the stage-1 result) — each brought to full size by local-affine upsampling.
Metrics, all at the content's full size:

* structure: SSIM between the gradient-magnitude maps (Sobel, luminance) of the result and of the
  content (1 = every edge where it was, as strong as it was);
* colour: per label present in both maps, distance between the result's colour statistics in the
  content's region and the style's in its region (Lab mean + standard deviation, Euclidean),
  averaged with the labels' areas as weights; the content image itself gives the baseline;
* time in seconds (stage 1 is shared, so each variant is charged stage 1 plus its own step).

Writes sheets (content | style | ours | ours smoothed | ours fast | paper) and a table to results/photo_quality/
(git-ignored; the dpst images must never enter the repository). ``--preset`` runs keep their rows (numbers
only) in bench/figures/photo_<preset>.json, in the repository, and resume from them.

    nice -n 10 python bench/photo_quality.py --examples 1 2 9 --size 256 --iterations 40 --photo-iterations 40
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from painterly.engine.convert import to_image as to_numpy
from painterly.engine.convert import to_tensor
from painterly.engine.imageio import load_image, save_image
from painterly.engine.matting import affine_upsample, matting_smooth
from painterly import engine
from painterly.engine.methods import RunContext, get_method
from painterly.engine.methods.base import with_preset
from painterly.engine.features import get_extractor
from painterly.engine.methods.photo import CONTENT_LAYER, NETWORK, PRESETS, STYLE_LAYERS, stylize_photo
from painterly.engine.pyramid import resize, working_size
from painterly.engine.segmentation import label_pairs
from render_at_commit import FILED, render, timed  # bench/ is the script's folder

DATA = Path("/work/shared/data/dpst")
OUT = Path(__file__).resolve().parents[1] / "results" / "photo_quality"
# The --preset rows (numbers only, no images) are kept in the repository: the previous defaults take hours
# for all 47 examples, so the column is filled over several sittings and must outlive any one checkout.
FIGURES = Path(__file__).resolve().parent / "figures"


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    c = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def gradient_magnitude(rgb: np.ndarray) -> np.ndarray:
    lum = rgb @ np.array([0.299, 0.587, 0.114])
    return np.hypot(ndimage.sobel(lum, axis=0), ndimage.sobel(lum, axis=1))


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> float:
    """Mean SSIM (Wang et al. 2004, Gaussian window) of two single-channel maps of the same scale."""
    data_range = max(a.max(), b.max()) - min(a.min(), b.min()) + 1e-12
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    blur = lambda x: ndimage.gaussian_filter(x, sigma)
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    return float((((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))).mean())


def structure_score(result: np.ndarray, content: np.ndarray) -> float:
    return ssim(gradient_magnitude(result), gradient_magnitude(content))


def colour_distance(result: np.ndarray, style: np.ndarray, pairs) -> float:
    lab_r, lab_s = srgb_to_lab(result), srgb_to_lab(style)
    total, weight = 0.0, 0.0
    for pair in pairs:
        c_sel, s_sel = pair.content > 0.5, pair.style > 0.5
        if c_sel.sum() < 16 or s_sel.sum() < 16:
            continue
        r_px, s_px = lab_r[c_sel], lab_s[s_sel]
        d = np.sqrt(((r_px.mean(0) - s_px.mean(0)) ** 2).sum() + ((r_px.std(0) - s_px.std(0)) ** 2).sum())
        total += d * c_sel.sum()
        weight += c_sel.sum()
    return total / max(weight, 1.0)


def run_example(ex: str, params: dict, device: torch.device) -> dict:
    folder = DATA / ex
    load = lambda name: load_image(folder / f"{name}.png").rgb
    content_np, style_np = load("content"), load("style")
    content_seg, style_seg, paper = load("content_seg"), load("style_seg"), load("paper_result")
    full_pairs = label_pairs(content_seg, style_seg, content_np.shape[:2], style_np.shape[:2])

    size = working_size(*content_np.shape[:2], params["size"])
    style_size = working_size(*style_np.shape[:2], max(params["size"], max(size)))
    content = resize(to_tensor(content_np, device), size)
    style = resize(to_tensor(style_np, device), style_size)
    pairs = label_pairs(content_seg, style_seg, size, style_size)
    ctx = RunContext(device=device)
    content_small = to_numpy(content)

    start = time.perf_counter()
    stage1, laplacian = stylize_photo(content, style, pairs, dict(params, mode="fast"), ctx)
    t_stage1 = time.perf_counter() - start

    start = time.perf_counter()
    fast_small = matting_smooth(to_numpy(stage1), laplacian=laplacian, smoothness=params["smoothness"])
    fast = affine_upsample(content_small, fast_small, content_np)
    t_fast = time.perf_counter() - start

    start = time.perf_counter()
    optimised, _ = stylize_photo(content, style, pairs, dict(params, mode="optimize"), ctx, stage1_result=stage1)
    ours = affine_upsample(content_small, to_numpy(optimised), content_np)
    t_opt = time.perf_counter() - start

    start = time.perf_counter()
    ours_smooth = affine_upsample(content_small, matting_smooth(to_numpy(optimised), laplacian=laplacian,
                                                                smoothness=params["smoothness"]), content_np)
    t_smooth = time.perf_counter() - start
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / f"{ex}_working.npz", content=content_small, stage1=to_numpy(stage1),
                        optimised=to_numpy(optimised))
    stage1_up = affine_upsample(content_small, to_numpy(stage1), content_np)
    # Plain interpolation instead of the affine upsampling shows what the photorealism term does alone.
    bicubic = lambda small: to_numpy(resize(small.contiguous(), content_np.shape[:2]))
    variants = {"content": content_np, "stage1": stage1_up, "ours": ours, "ours_smooth": ours_smooth,
                "ours_fast": fast, "paper": paper,
                "stage1_bicubic": bicubic(stage1), "ours_bicubic": bicubic(optimised)}
    row = {"example": ex, "size": f"{size[1]}x{size[0]}",
           "time_ours": t_stage1 + t_opt, "time_fast": t_stage1 + t_fast, "time_stage1": t_stage1,
           "time_smooth_step": t_smooth,
           "s_per_iter_stage1": t_stage1 / max(1, params["iterations"]),
           "s_per_iter_stage2": t_opt / max(1, params["photo_iterations"])}
    for name, img in variants.items():
        row[f"structure_{name}"] = structure_score(img, content_np)
        row[f"colour_{name}"] = colour_distance(img, style_np, full_pairs)
    OUT.mkdir(parents=True, exist_ok=True)
    save_image(OUT / f"{ex}_ours.png", ours)
    save_image(OUT / f"{ex}_fast.png", fast)
    sheet_h = 200
    tiles = [content_np, style_np, ours, ours_smooth, fast, paper]
    scaled = [Image.fromarray((np.clip(t, 0, 1) * 255).astype(np.uint8)).resize(
        (max(1, round(t.shape[1] * sheet_h / t.shape[0])), sheet_h), Image.LANCZOS) for t in tiles]
    sheet = Image.new("RGB", (sum(s.width for s in scaled) + 4 * (len(scaled) - 1), sheet_h), "white")
    x = 0
    for s in scaled:
        sheet.paste(s, (x, 0))
        x += s.width + 4
    sheet.save(OUT / f"{ex}_sheet.png")
    return row


def print_table(rows: list[dict]) -> None:
    names = [n for n in ("content", "stage1_bicubic", "ours_bicubic", "stage1", "ours", "ours_smooth", "ours_fast",
                         "paper") if all(f"structure_{n}" in r for r in rows)]
    print("\nstructure = SSIM of gradient magnitudes vs the content (higher = better, 1 = identical edges)")
    print("colour    = Lab mean+std distance to the style per label, area-weighted (lower = closer to the style)")
    print("stage1 = no photorealism term; ours = paper's two stages (+ closed-form smoothing: ours_smooth);")
    print("ours_fast = stage 1 + closed-form smoothing;")
    print("*_bicubic = working-size result interpolated (no affine upsampling); times in s (stage 1 shared)")
    mean = lambda key: float(np.mean([r[key] for r in rows]))
    if rows and "params" in rows[0]:
        print("params:", json.dumps(rows[0]["params"]))
    for title, prefix, fmt in (("structure (higher = better)", "structure_", "{:6.3f}"),
                               ("colour distance (lower = closer to the style)", "colour_", "{:6.2f}")):
        print(f"\n{title}")
        print(f"{'ex':>4} {'size':>8} " + " ".join(f"{n:>14}" for n in names))
        for r in rows:
            print(f"{r['example']:>4} {r['size']:>8} " + " ".join(f"{fmt.format(r[prefix + n]):>14}" for n in names))
        if rows:
            print(f"{'avg':>4} {'':>8} " + " ".join(f"{fmt.format(mean(prefix + n)):>14}" for n in names))
    print("\ntime (s)")
    print(f"{'ex':>4} {'ours':>8} {'fast':>8} {'stage1':>8} {'s/it st1':>9} {'s/it st2':>9}")
    for r in rows:
        print(f"{r['example']:>4} {r['time_ours']:8.1f} {r['time_fast']:8.1f} {r['time_stage1']:8.1f} "
              f"{r['s_per_iter_stage1']:9.2f} {r['s_per_iter_stage2']:9.2f}")
    if rows:
        print(f"{'avg':>4} {mean('time_ours'):8.1f} {mean('time_fast'):8.1f} {mean('time_stage1'):8.1f} "
              f"{mean('s_per_iter_stage1'):9.2f} {mean('s_per_iter_stage2'):9.2f}")


# The photo method's defaults before it had quality presets, pinned for this engine (--previous-here); the
# previous rows are otherwise the code of that time (FILED) with its own defaults.
PREVIOUS = {"size": 512, "iterations": 300, "photo_iterations": 300, "pyramid_levels": 2, "mode": "optimize",
            "smooth": True, "smoothness": 100.0, "colour_match": False}


def machine() -> dict:
    """What the seconds of a row were measured on: the code's commit, the CPU and torch's threads."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=FIGURES.parent, capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except OSError:
        commit = ""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    return {"commit": commit, "cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads()}


def run_presets(args, examples) -> int:
    """The method as a user runs it (label maps, result at full size), one quality preset, timed per example
    (wall clock, and the process's CPU seconds, which another job on the machine does not inflate)."""
    here = args.preset != "previous" or args.previous_here
    preset = (PREVIOUS if args.previous_here else {}) if args.preset == "previous" else {"quality": args.preset}
    params = dict(preset, **json.loads(args.params))
    name = args.preset + (f"_{args.label}" if args.label else "")
    where = machine()
    code = where["commit"] if here else FILED  # whose engine renders
    print("params:", json.dumps(params), "engine of", code, flush=True)
    tiny = np.full((40, 40, 3), 0.5, np.float32)
    engine.run("photo", {"content": tiny, "style": tiny}, {"size": 40, "iterations": 1})  # networks loaded
    path = FIGURES / f"photo_{name}.json"
    # Resumable: a run adds to the rows already there; rows of other parameters or code are dropped.
    rows = json.loads(path.read_text()) if path.exists() else []
    rows = [r for r in rows if r["params"] == params and (here or r.get("code") == FILED)]
    done = {r["example"] for r in rows}
    if done:
        print(f"{len(done)} examples already in {path.name}, skipped", flush=True)
    for ex in (e for e in examples if e not in done):
        folder = DATA / ex
        load = lambda name: load_image(folder / f"{name}.png").rgb  # noqa: E731
        inputs = {name: load(name) for name in ("content", "style", "content_seg", "style_seg")}
        if here:
            result, seconds, cpu_seconds = timed(lambda: engine.run("photo", inputs, params, device=args.device))
        else:
            with tempfile.TemporaryDirectory(prefix="painterly-photo-") as tmp:
                np.savez(f"{tmp}/in.npz", **inputs)
                took, = render(FILED, {"threads": args.threads, "cases": [
                    {"method": "photo", "inputs": f"{tmp}/in.npz", "params": params, "out": f"{tmp}/out.npy"}]})
                result = np.load(f"{tmp}/out.npy")
            seconds, cpu_seconds = took["seconds"], took["cpu_seconds"]
        pairs = label_pairs(inputs["content_seg"], inputs["style_seg"], inputs["content"].shape[:2],
                            inputs["style"].shape[:2])
        row = {"example": ex, "seconds": seconds, "cpu_seconds": cpu_seconds, "preset": name, "params": params,
               **where, "code": code}
        for key, img in (("content", inputs["content"]), ("ours", result), ("paper", load("paper_result"))):
            row[f"structure_{key}"] = structure_score(img, inputs["content"])
            row[f"colour_{key}"] = colour_distance(img, inputs["style"], pairs)
        OUT.mkdir(parents=True, exist_ok=True)
        save_image(OUT / f"{ex}_{name}.png", result)
        rows.append(row)
        print(json.dumps(row), flush=True)
        FIGURES.mkdir(exist_ok=True)
        path.write_text(json.dumps(sorted(rows, key=lambda r: int(r["example"])), indent=1) + "\n")
    print_presets_table({name: [r for r in rows if r["example"] in examples]})
    return 0


def print_presets_table(batches: dict) -> None:
    """Per example: structure and colour of each preset's result beside the content and the paper's, and
    seconds; means over the examples every batch has (and over each batch's own examples)."""
    names = list(batches)
    by_ex = {name: {r["example"]: r for r in rows} for name, rows in batches.items()}
    examples = sorted(set.union(*(set(b) for b in by_ex.values())), key=int)
    first = lambda ex: next(by_ex[n][ex] for n in names if ex in by_ex[n])  # noqa: E731
    cell = lambda name, ex, key, fmt: fmt.format(by_ex[name][ex][key]) if ex in by_ex[name] else "-"  # noqa: E731
    print("\nstructure: SSIM of gradient magnitudes vs the content (higher = better); colour: Lab mean+std "
          "distance to the style per label, area-weighted (lower = closer); seconds: wall clock per example")
    head = ["ex", "struct content", "struct paper"] + [f"struct {n}" for n in names] + ["colour content",
                                                                                        "colour paper"]
    head += [f"colour {n}" for n in names] + [f"s {n}" for n in names]
    print(" ".join(f"{h:>15}" for h in head))
    for ex in examples:
        r = first(ex)
        cells = [ex, f"{r['structure_content']:.3f}", f"{r['structure_paper']:.3f}"]
        cells += [cell(n, ex, "structure_ours", "{:.3f}") for n in names]
        cells += [f"{r['colour_content']:.2f}", f"{r['colour_paper']:.2f}"]
        cells += [cell(n, ex, "colour_ours", "{:.2f}") for n in names] + [cell(n, ex, "seconds", "{:.1f}")
                                                                          for n in names]
        print(" ".join(f"{c:>15}" for c in cells))
    common = [ex for ex in examples if all(ex in by_ex[n] for n in names)]
    for label, subset in (("mean, examples all have", common),) + tuple(
            (f"mean, all of {n} ({len(by_ex[n])})", list(by_ex[n])) for n in names):
        if not subset:
            continue
        mean = lambda key, n=None: float(np.mean([(by_ex[n][ex] if n else first(ex))[key] for ex in subset  # noqa
                                                  if n is None or ex in by_ex[n]]))
        cells = [f"{len(subset)}", f"{mean('structure_content'):.3f}", f"{mean('structure_paper'):.3f}"]
        cells += [f"{mean('structure_ours', n):.3f}" if all(e in by_ex[n] for e in subset) else "-" for n in names]
        cells += [f"{mean('colour_content'):.2f}", f"{mean('colour_paper'):.2f}"]
        cells += [f"{mean('colour_ours', n):.2f}" if all(e in by_ex[n] for e in subset) else "-" for n in names]
        cells += [f"{mean('seconds', n):.1f}" if all(e in by_ex[n] for e in subset) else "-" for n in names]
        print(f"{label}:")
        print(" ".join(f"{c:>15}" for c in cells))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", nargs="*", help="example numbers (default: all)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=40, help="stage 1 iterations")
    parser.add_argument("--photo-iterations", type=int, default=40, help="stage 2 iterations")
    parser.add_argument("--photo-weight", type=float, default=None)
    parser.add_argument("--smoothness", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--table-only", action="store_true", help="print the table of all batches' rows*.json")
    parser.add_argument("--rows", default="rows.json", help="file name of this batch's rows (rows*.json)")
    parser.add_argument("--preset", choices=("preview", "final", "previous"),
                        help="run the whole method as a user does (label maps, full size) with this quality "
                             "preset, or the defaults before the presets ('previous'); rows to bench/figures/photo_<name>.json")
    parser.add_argument("--params", default="{}", help="with --preset: explicit parameters (JSON) on top")
    parser.add_argument("--previous-here", action="store_true",
                        help=f"--preset previous: the pinned parameters on this engine (default: the code of {FILED} "
                             "with its own defaults)")
    parser.add_argument("--label", default="", help="with --preset: suffix of the rows' name (photo_NAME_LABEL)")
    parser.add_argument("--presets-table", nargs="*", metavar="NAME",
                        help="print the table of these presets' rows side by side (bench/figures/photo_NAME.json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.presets_table:
        print_presets_table({name: json.loads((FIGURES / f"photo_{name}.json").read_text())
                             for name in args.presets_table})
        return 0
    if not DATA.is_dir():
        print(f"no benchmark data at {DATA}", file=sys.stderr)
        return 1
    examples = args.examples or sorted((p.name for p in DATA.iterdir() if p.is_dir()), key=int)
    overrides = {"size": args.size, "iterations": args.iterations, "photo_iterations": args.photo_iterations}
    if args.photo_weight is not None:
        overrides["photo_weight"] = args.photo_weight
    if args.smoothness is not None:
        overrides["smoothness"] = args.smoothness
    if args.preset:
        return run_presets(args, examples)
    params = with_preset(get_method("photo").resolve_params(overrides), PRESETS)
    print("params:", json.dumps(params), flush=True)
    rows = []
    get_extractor((CONTENT_LAYER,) + STYLE_LAYERS, NETWORK, params["pool"], torch.device(args.device))  # not timed
    if args.table_only:  # one table per batch (rows*.json): batches may differ in parameters
        for path in sorted(OUT.glob("rows*.json")):
            print(f"\n=== {path.name}")
            print_table(json.loads(path.read_text()))
        return 0
    for ex in examples:
        row = run_example(ex, params, torch.device(args.device))
        row["params"] = {k: params[k] for k in ("size", "iterations", "photo_iterations", "photo_weight",
                                                "smoothness")}
        rows.append(row)
        print(json.dumps(row), flush=True)
        (OUT / args.rows).write_text(json.dumps(rows, indent=1))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

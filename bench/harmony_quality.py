"""Harmonization quality and speed on the Deep Painterly Harmonization examples.

For each example (painting.jpg, naive.jpg, mask.jpg, mask_dilated.jpg, paper_final2.png) this runs
``harmonize`` on the naive composite at each requested quality (default: preview and final, in the same
process, one after the other) and writes, under OUT (default results/harmony/, git-ignored):
``<n>_<quality>.png``, ``<n>_sheet.png`` (naive | preview | final | paper: full images above, zoom on the
object below), ``rows.json`` and ``table.md``. The measures (bench/harmony_metrics.py) are global and
local style distance, content change, shape retention, seam, background change and seconds, for the naive
paste, each quality and the published result (paper_final2); with both qualities, also the preview's
agreement with the final. Beside them, the independent judge (bench/judge.py: VGG16 relu4_3 and relu3_3
texture, stroke scale, crispness, grid check), with the per-example wins against the published result on
its relu4_3 texture. The table ends with the checks against the published results and the time
limits (final: median <= 60 s and max <= 90 s; preview: max <= 10 s), and the timing summary.

Run: ``python bench/harmony_quality.py [OUT] [--examples 0,5,9] [--quality preview,final] [--threads 2]``.
``--judge-only`` runs no harmonize: it scores the naive paste, the published result and the
``<n>_<quality>.png`` files already in OUT (seconds carried over from OUT/rows.json when there), so the
table is rebuilt in a few seconds per example.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harmony_metrics import Metrics, to_u8  # noqa: E402
from judge import Judge  # noqa: E402

DATA = Path("/work/shared/data/dph")


def load_rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def load_binary(path) -> np.ndarray:
    return (np.asarray(Image.open(path).convert("L")) > 127).astype(np.float32)


def sheet(images, mask, path, labels=("naive", "ours", "paper")):
    """Full images (top) and a zoom on the object (bottom), side by side."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask > 0.5)
    pad = 24
    box = (max(0, xs.min() - pad), max(0, ys.min() - pad), min(w, xs.max() + pad), min(h, ys.max() + pad))
    tile_w = 400
    top = [Image.fromarray(to_u8(im)).resize((tile_w, round(h * tile_w / w))) for im in images]
    zoom_h = round((box[3] - box[1]) * tile_w / (box[2] - box[0]))
    bottom = [Image.fromarray(to_u8(im)).crop(box).resize((tile_w, zoom_h)) for im in images]
    canvas = Image.new("RGB", (tile_w * len(images), top[0].height + zoom_h), "white")
    for i, (a, b) in enumerate(zip(top, bottom)):
        canvas.paste(a, (i * tile_w, 0))
        canvas.paste(b, (i * tile_w, a.height))
    from PIL import ImageDraw
    draw = ImageDraw.Draw(canvas)
    for i, label in enumerate(labels):
        draw.text((i * tile_w + 6, 4), label, fill="white", stroke_width=2, stroke_fill="black")
    canvas.save(path)


def run_ours(naive, painting, mask, quality, params):
    """Harmonize once; returns (visible result, alpha, wall s, CPU s, iterations run)."""
    from painterly import engine
    done = []
    start, cpu = time.monotonic(), time.process_time()
    output = engine.run_output("harmonize", {"composite": naive, "mask": mask, "style": painting},
                               dict(quality=quality, **params), device="cpu",
                               progress=lambda p: done.append(p.iteration))
    return (output.composite_over(naive), output.alpha, time.monotonic() - start, time.process_time() - cpu,
            max(done, default=0))


def run_gatys(naive, painting, mask, iterations):
    """A plain masked Gatys loop over the whole image (no crop, no matching) with the same iterations."""
    from painterly import engine
    start, cpu = time.monotonic(), time.process_time()
    result = engine.run("masked", {"content": naive, "style": painting, "mask": mask},
                        {"size": max(naive.shape[:2]), "iterations": iterations, "pyramid_levels": 1},
                        device="cpu")
    return result, time.monotonic() - start, time.process_time() - cpu


def fmt(v):
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def quality_params(quality, params, budget_scale):
    if not budget_scale or "budget" in params:
        return params
    from painterly.engine.methods.harmonize import BUDGETS
    if quality not in BUDGETS:      # instant has no budget: it is one pass
        return params
    return dict(params, budget=BUDGETS[quality] * budget_scale)


def run_example(name, args, params, qualities, with_gatys):
    d = args.data / name
    painting, naive = load_rgb(d / "painting.jpg"), load_rgb(d / "naive.jpg")
    mask, mask_dilated = load_binary(d / "mask.jpg"), load_binary(d / "mask_dilated.jpg")
    paper = load_rgb(d / "paper_final2.png")
    results, row, support = {}, {"example": name, "changed_outside_alpha": 0}, mask_dilated
    for quality in qualities:
        ours, alpha, seconds, cpu, iterations = run_ours(naive, painting, mask, quality,
                                                         quality_params(quality, params, args.budget_scale))
        Image.fromarray(to_u8(ours)).save(args.out / f"{name}_{quality}.png")
        reread = np.asarray(Image.open(args.out / f"{name}_{quality}.png"))
        untouched = alpha <= 0
        row["changed_outside_alpha"] += int((reread[untouched] != to_u8(naive)[untouched]).any(axis=1).sum())
        support = np.maximum(support, (alpha > 0).astype(np.float32))
        results[quality] = ours
        row[f"{quality}_time"] = {"seconds": seconds, "cpu_seconds": cpu, "iterations": iterations}
    # "Outside the dilated mask": outside both the dataset's dilated mask and our blend supports.
    score = scorer(painting, naive, mask, mask_dilated, support)
    row["naive"] = score(naive)
    for quality, ours in results.items():
        row[quality] = score(ours)
    row["paper"] = score(paper)
    if "preview" in results and "final" in results:
        row["agreement"] = score.metrics.agreement(results["preview"], results["final"])
        row["agreement_coarse"] = score.metrics.agreement(results["preview"], results["final"], coarse=True)
    images = [naive] + list(results.values()) + [paper]
    labels = ["naive"] + list(results) + ["paper (final2)"]
    if with_gatys:
        iterations = row[f"{qualities[-1]}_time"]["iterations"]
        gatys, gatys_seconds, gatys_cpu = run_gatys(naive, painting, mask, iterations)
        row["gatys"] = score(gatys)
        row["gatys_time"] = {"seconds": gatys_seconds, "cpu_seconds": gatys_cpu, "iterations": iterations}
        images.append(gatys)
        labels.append("gatys (whole image)")
    sheet(images, mask, args.out / f"{name}_sheet.png", labels)
    return row


def scorer(painting, naive, mask, mask_dilated, support):
    """A function scoring one result with the bench's measures and the independent judge's (its painting
    reference: the clean painting outside the dataset's dilated mask)."""
    metrics, judge = Metrics(painting, naive, mask, support), Judge(painting, mask, mask_dilated)

    def score(rgb):
        start = time.monotonic()
        out = {**metrics.all(rgb), **judge.all(rgb)}
        out["judge_seconds"] = time.monotonic() - start
        return out
    score.metrics, score.judge = metrics, judge
    return score


def judge_example(name, args, qualities, prior):
    """--judge-only: score naive, published and the results already in OUT; no harmonize runs."""
    d = args.data / name
    painting, naive = load_rgb(d / "painting.jpg"), load_rgb(d / "naive.jpg")
    mask, mask_dilated = load_binary(d / "mask.jpg"), load_binary(d / "mask_dilated.jpg")
    results = {q: load_rgb(args.out / f"{name}_{q}.png") for q in qualities if (args.out / f"{name}_{q}.png").exists()}
    # No alpha here: the support is the dilated mask and every pixel a result changed (bg is then 0 by
    # construction; the run's own count of pixels changed outside its alpha is carried over).
    support = mask_dilated.copy()
    for ours in results.values():
        support[(to_u8(ours) != to_u8(naive)).any(axis=2)] = 1
    score = scorer(painting, naive, mask, mask_dilated, support)
    row = {"example": name, "naive": score(naive), **{q: score(im) for q, im in results.items()},
           "paper": score(load_rgb(d / "paper_final2.png"))}
    for key in [f"{q}_time" for q in results] + ["changed_outside_alpha", "agreement", "agreement_coarse"]:
        if key in prior:
            row[key] = prior[key]
    row.setdefault("changed_outside_alpha", 0)
    return row


def result_qualities(out: Path, names, requested):
    """The requested qualities, then any other ``<n>_<quality>.png`` found in OUT, in name order."""
    found = {p.stem.split("_", 1)[1] for n in names for p in out.glob(f"{n}_*.png")} - {"sheet"}
    return [q for q in requested if q in found] + sorted(found - set(requested))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="results/harmony", type=Path)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--examples", default="", help="comma-separated example numbers (default: all)")
    ap.add_argument("--quality", default="preview,final", help="comma-separated qualities, run in this order")
    ap.add_argument("--params", default="{}", help="extra harmonize parameters as JSON")
    ap.add_argument("--gatys", type=int, default=0, help="also time a plain Gatys loop on the first N examples")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--budget-scale", type=float, default=0.0,
                    help="run each quality with its default time budget times this (e.g. 1.85 on one thread to "
                         "do what two threads do in the default time)")
    ap.add_argument("--judge-only", action="store_true",
                    help="run no harmonize: score naive, published and the <n>_<quality>.png already in OUT")
    ap.add_argument("--compare-weights", action="store_true",
                    help="only compare our automatic style level with the paper's classifier weights")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.compare_weights:
        return compare_weights(args.data)
    params = json.loads(args.params)
    qualities = [q for q in args.quality.split(",") if q]
    names = args.examples.split(",") if args.examples else sorted(
        (p.name for p in args.data.iterdir() if p.is_dir()), key=int)
    args.out.mkdir(parents=True, exist_ok=True)
    prior = {}
    if args.judge_only:
        qualities = result_qualities(args.out, names, qualities)
        if (args.out / "rows.json").exists():
            prior = {r["example"]: r for r in json.loads((args.out / "rows.json").read_text())}
    else:
        from painterly import engine
        engine.warm_up()    # as the daemon does at start: the first example's clock is not spent on an import
    rows = []
    for index, name in enumerate(names):
        if args.judge_only:
            row = judge_example(name, args, qualities, prior.get(name, {}))
        else:
            row = run_example(name, args, params, qualities, index < args.gatys)
        rows.append(row)
        print(f"{name}: " + "  ".join(f"{q} {row[f'{q}_time']['seconds']:.1f}s" for q in qualities
                                      if f"{q}_time" in row) + "  " +
              "  ".join(f"{k}: " + " ".join(f"{m}={fmt(v)}" for m, v in row[k].items())
                        for k in ["naive", *qualities, "paper", "gatys"] if k in row)
              + (f"  agreement={row['agreement']:.3f} coarse={row['agreement_coarse']:.3f}"
                 if "agreement" in row else "")
              + f"  changed_outside_alpha={row['changed_outside_alpha']}", flush=True)
        (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
        write_table(rows, args.out / "table.md", qualities,
                    dict(params, budget_scale=args.budget_scale) if args.budget_scale else params, args.judge_only)
    print((args.out / "table.md").read_text())


def compare_weights(data: Path):
    """Our painting-statistics style level vs the weight the paper's (unreleased) classifier produced."""
    from scipy.stats import spearmanr
    from painterly.engine.methods.harmonize import auto_weights
    manifest = json.loads((data / "manifest.json").read_text())["painting_style_weights"]
    ours, theirs = [], []
    print("| example | label | paper weight | our level | noise | texture | tv |\n|---|---|---|---|---|---|---|")
    for name, entry in sorted(manifest.items(), key=lambda kv: int(kv[0])):
        w = auto_weights(load_rgb(data / name / "painting.jpg"), 0.5)
        ours.append(w["style_level"])
        theirs.append(entry["weight"])
        print(f"| {name} | {entry['label']} | {entry['weight']:.2f} | {w['style_level']:.2f} | {w['noise']:.4f} | "
              f"{w['texture']:.4f} | {w['tv']:.2f} |")
    rho = spearmanr(ours, theirs)
    print(f"\nSpearman rank correlation: {rho.statistic:.2f} (p={rho.pvalue:.3f}); "
          f"mean |difference| {np.mean(np.abs(np.array(ours) - np.array(theirs))):.2f}")
    return 0


MEASURES = ("global", "local", "content", "shape", "seam")
JUDGED = ("tex4_3", "tex3_3", "stroke", "crisp", "grid")    # bench/judge.py
LIMITS = {"final": (60.0, 90.0), "preview": (None, 10.0)}   # median, max wall seconds per example


def _time_text(row, who):
    t = row.get(f"{who}_time")
    return "" if t is None else f"{t['seconds']:.1f} / {t['cpu_seconds']:.1f}"


def _cells(m):
    judged = [f"{m[k]:.3f}" if k in m else "–" for k in JUDGED]
    if m.get("grid_flag"):
        judged[-1] += " !"
    return " | ".join([f"{m[k]:.3f}" for k in MEASURES] + [str(m["bg"])] + judged)


def _wins(rows, who, key="tex4_3"):
    """Examples where ``who`` is strictly closer to the painting than the published result on ``key``."""
    sel = [r for r in rows if who in r and "paper" in r and key in r[who] and key in r["paper"]]
    return sum(r[who][key] < r["paper"][key] for r in sel), len(sel)


def write_table(rows, path, qualities, params, judge_only=False):
    whos = ["naive", *qualities, "paper"] + (["gatys"] if any("gatys" in r for r in rows) else [])
    head = ("| global | local | content | shape | seam | bg | tex4_3 | tex3_3 | stroke | crisp | grid |")
    lines = [f"# harmonize ({', '.join(qualities) or 'no results: naive paste and published only'}) on "
             f"{len(rows)} dph examples", "",
             f"Seconds: wall clock / CPU time of the process ({torch.get_num_threads()} torch threads)."
             + (f" Parameters: {json.dumps(params)}." if params else "")
             + (" Scored with --judge-only: no harmonize ran, seconds are those of the run that wrote the "
                "results (when its rows.json was there); bg outside the dilated mask and the changed pixels."
                if judge_only else ""), "",
             "global, local (VGG19 relu3_1/relu4_1: the engine's own features), content, shape, seam, bg: "
             "bench/harmony_metrics.py. The independent judge (bench/judge.py, at the canvas's full "
             "resolution): tex4_3 / tex3_3 = mean 1 − best cosine of the object's VGG16 relu4_3 / relu3_3 "
             "features against the painting's (lower = closer); stroke = distance of the object's octave-band "
             "spectrum shape from the painting's (decades, 0 = same); crisp = share of detail finer than "
             "8 px over the painting's (1 = as crisp); grid = 8/16-px stride peaks (log10; ! = flagged, "
             "above 0.5).", "",
             "| example | who " + head + " s wall / cpu |", "|---|---" + "|---" * 12 + "|"]
    for row in rows:
        for who in whos:
            if who in row:
                lines.append(f"| {row['example']} | {who} | {_cells(row[who])} | {_time_text(row, who)} |")
        if "agreement" in row:
            lines.append(f"| {row['example']} | preview agreement with final: {row['agreement']:.3f} "
                         f"(blurred 2 px: {row['agreement_coarse']:.3f}) |" + " |" * 12)
    lines += ["", "Medians (bg: maximum; grid: median, and how many flagged; wins: examples closer to the "
                  "painting than the published result on tex4_3 (on tex3_3); seconds: median / max wall):", "",
              "| who | n " + head + " grid flags | wins tex4_3 (tex3_3) | s median / max |",
              "|---|---" + "|---" * 14 + "|"]
    medians = {}
    for who in whos:
        sel = [r for r in rows if who in r]
        if not sel:
            continue
        med = medians[who] = {k: float(np.nanmedian([r[who].get(k, np.nan) for r in sel]))
                              for k in MEASURES + JUDGED}
        med["bg"] = max(r[who]["bg"] for r in sel)
        secs = [r[f"{who}_time"]["seconds"] for r in sel if f"{who}_time" in r]
        sec_text = f"{statistics.median(secs):.1f} / {max(secs):.1f}" if secs else ""
        flags = sum(bool(r[who].get("grid_flag")) for r in sel)
        wins = "" if who == "paper" else "{}/{} ({}/{})".format(*_wins(rows, who), *_wins(rows, who, "tex3_3"))
        lines.append(f"| {who} | {len(sel)} | {_cells(med)} | {flags} | {wins} | {sec_text} |")
    agreement = [r["agreement"] for r in rows if "agreement" in r]
    coarse = [r["agreement_coarse"] for r in rows if "agreement" in r]
    if agreement:
        lines += ["", f"Preview agreement with final (1 = same relu3_1/relu4_1 features inside the object, "
                      f"0 = no closer than the naive paste): median {statistics.median(agreement):.3f}, "
                      f"min {min(agreement):.3f}; all three blurred by 2 px first (the final's finer detail "
                      f"not counted): median {statistics.median(coarse):.3f}, min {min(coarse):.3f}"]
    checks = []
    if "final" in medians:
        ours, paper = medians["final"], medians["paper"]
        won, n = _wins(rows, "final")
        checks += [("final: median local style distance ≤ paper's", ours["local"] <= paper["local"]),
                   ("final: median global style distance ≤ paper's", ours["global"] <= paper["global"]),
                   ("final: median shape retention ≥ paper's", ours["shape"] >= paper["shape"]),
                   ("final: median seam ≤ paper's", ours["seam"] <= paper["seam"]),
                   ("final: median independent texture (tex4_3) ≤ paper's", ours["tex4_3"] <= paper["tex4_3"]),
                   (f"final: closer than the paper on tex4_3 on most examples ({won}/{n})", won > n / 2)]
    for quality in qualities:
        sel = [r for r in rows if quality in r]
        checks.append((f"{quality}: no grid flag", not any(r[quality].get("grid_flag") for r in sel)))
        if not judge_only:
            checks.append((f"{quality}: background unchanged on every example", all(r[quality]["bg"] == 0 for r in sel)))
        secs = [r[f"{quality}_time"]["seconds"] for r in sel if f"{quality}_time" in r]
        median_limit, max_limit = LIMITS.get(quality, (None, None))
        if median_limit and secs:
            checks.append((f"{quality}: median {statistics.median(secs):.1f} s ≤ {median_limit:.0f} s",
                           statistics.median(secs) <= median_limit))
        if max_limit and secs:
            checks.append((f"{quality}: max {max(secs):.1f} s ≤ {max_limit:.0f} s", max(secs) <= max_limit))
    lines += ["", f"Checks ({len(rows)} examples):", ""] + [f"- {'yes' if ok else 'NO '}: {name}" for name, ok in checks]
    gat = [r for r in rows if "gatys_time" in r]
    if gat:
        last = qualities[-1]
        wall = statistics.median(r["gatys_time"]["seconds"] / r[f"{last}_time"]["seconds"] for r in gat)
        cpu = statistics.median(r["gatys_time"]["cpu_seconds"] / r[f"{last}_time"]["cpu_seconds"] for r in gat)
        lines += ["", f"Plain Gatys loop over the whole image / ours ({last}), same iterations, {len(gat)} examples: "
                      f"median {wall:.1f}x slower (wall), {cpu:.1f}x (CPU time)"]
    judge_s = [r[w]["judge_seconds"] for r in rows for w in whos if w in r and "judge_seconds" in r[w]]
    if judge_s:
        lines += ["", f"Scoring one image (both measure sets): median {statistics.median(judge_s):.1f} s"]
    lines += ["", f"Pixels changed where our alpha is 0 (must be 0): {sum(r['changed_outside_alpha'] for r in rows)}"]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())

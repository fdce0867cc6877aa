"""Harmonization quality and speed on the Deep Painterly Harmonization examples.

For each example (painting.jpg, naive.jpg, mask.jpg, mask_dilated.jpg, paper_final2.png) this runs
``harmonize`` on the naive composite and writes, under OUT (default results/harmony/, git-ignored):
``<n>_ours.png``, ``<n>_sheet.png`` (naive | ours | paper: full images above, zoom on the object below)
and ``table.md`` with, for naive, ours and the paper (and optionally a plain Gatys loop):

- global: masked Gram distance of VGG19 relu2_1..relu4_1 features, object region vs the painting
  (relative Frobenius norm, lower = closer to the painting's overall statistics);
- local: each relu3_1/relu4_1 feature vector of the region vs its nearest neighbour among the
  painting's feature vectors (relative distance; lower = every part looks like some part of the painting);
- content: relu4_1 change inside the object relative to erasing it (0 = unchanged, 1 = as different as
  the bare painting), and preservation = 1 − content;
- bg: largest change in 8-bit levels outside the dataset's dilated mask (ours must be 0) and, for ours,
  the number of pixels that changed where our compositing alpha is 0 (must be 0);
- seam: gradient magnitude in a ±3 px band along the object's boundary relative to the painting's in
  a ±16 px band (1 ≈ no more edge than the painting has there);
- seconds per example.

Run: ``python bench/harmony_quality.py [OUT] [--examples 0,5,9] [--quality final] [--gatys 3]``.
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
from scipy import ndimage

DATA = Path("/work/shared/data/dph")


def load_rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def load_binary(path) -> np.ndarray:
    return (np.asarray(Image.open(path).convert("L")) > 127).astype(np.float32)


def to_u8(rgb) -> np.ndarray:
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


class Metrics:
    GRAM_LAYERS = ("relu2_1", "relu3_1", "relu4_1")
    LOCAL_LAYERS = ("relu3_1", "relu4_1")

    def __init__(self, painting, naive, mask, mask_dilated):
        from painterly.engine.features import get_extractor
        self.extractor = get_extractor(("relu2_1", "relu3_1", "relu4_1"), "vgg19", "avg", "cpu")
        self.mask, self.mask_dilated = mask, mask_dilated
        self.painting_u8, self.naive_u8 = to_u8(painting), to_u8(naive)
        self.painting_f = self.features(painting)
        self.naive_f = self.features(naive)
        self.erase_change = self.content_change_raw(self.painting_f)
        self.painting_grad = self.gradient(painting)

    def features(self, rgb):
        with torch.no_grad():
            return self.extractor(torch.from_numpy(rgb).permute(2, 0, 1)[None])

    def layer_mask(self, feats, threshold=0.5):
        m = torch.from_numpy(self.mask)[None, None]
        return torch.nn.functional.adaptive_avg_pool2d(m, feats.shape[-2:])[0, 0] > threshold

    def global_style(self, feats):
        from painterly.engine.losses import gram_matrix, masked_gram_matrix
        out = []
        for layer in self.GRAM_LAYERS:
            region = masked_gram_matrix(feats[layer], torch.from_numpy(self.mask)[None, None])
            target = gram_matrix(self.painting_f[layer])
            out.append(float((region - target).norm() / target.norm()))
        return float(np.mean(out))

    def local_style(self, feats):
        out = []
        for layer in self.LOCAL_LAYERS:
            f, p = feats[layer][0], self.painting_f[layer][0]
            c = f.shape[0]
            region = f.reshape(c, -1)[:, self.layer_mask(feats[layer]).reshape(-1)].T
            bank = p.reshape(c, -1).T
            best = torch.cat([torch.cdist(region[i:i + 2048], bank).min(dim=1).values
                              for i in range(0, region.shape[0], 2048)])
            out.append(float(best.mean() / bank.norm(dim=1).mean()))
        return float(np.mean(out))

    def content_change_raw(self, feats):
        inside = self.layer_mask(feats["relu4_1"])
        diff = (feats["relu4_1"] - self.naive_f["relu4_1"])[0][:, inside]
        return float(diff.pow(2).mean())

    @staticmethod
    def gradient(rgb):
        from painterly.engine.postprocess import rgb_to_ycc
        ycc = ndimage.gaussian_filter(rgb_to_ycc(rgb), (1, 1, 0))
        mag = 0
        for c in range(3):
            mag = mag + ndimage.sobel(ycc[..., c], 0) ** 2 + ndimage.sobel(ycc[..., c], 1) ** 2
        return np.sqrt(mag)

    def seam(self, rgb):
        inside = self.mask > 0.5
        band = ndimage.binary_dilation(inside, iterations=3) & ~ndimage.binary_erosion(inside, iterations=3)
        wide = ndimage.binary_dilation(inside, iterations=16) & ~ndimage.binary_erosion(inside, iterations=16)
        return float(self.gradient(rgb)[band].mean() / (self.painting_grad[wide].mean() + 1e-8))

    def background(self, rgb):
        outside = self.mask_dilated < 0.5
        diff = np.abs(to_u8(rgb).astype(int) - self.naive_u8.astype(int)).max(axis=2)
        return int(diff[outside].max()) if outside.any() else 0

    def all(self, rgb):
        feats = self.features(rgb)
        content = self.content_change_raw(feats) / max(self.erase_change, 1e-12)
        return {"global": self.global_style(feats), "local": self.local_style(feats), "content": content,
                "preserve": 1.0 - content, "seam": self.seam(rgb), "bg": self.background(rgb)}


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
    from painterly import engine
    start, cpu = time.monotonic(), time.process_time()
    output = engine.run_output("harmonize", {"composite": naive, "mask": mask, "style": painting},
                               dict(quality=quality, **params), device="cpu")
    return output.composite_over(naive), output.alpha, time.monotonic() - start, time.process_time() - cpu


def run_gatys(naive, painting, mask, iterations):
    """A plain masked Gatys loop over the whole image (no crop, no matching) with the same iterations."""
    from painterly import engine
    start, cpu = time.monotonic(), time.process_time()
    result = engine.run("masked", {"content": naive, "style": painting, "mask": mask},
                        {"size": max(naive.shape[:2]), "iterations": iterations, "pyramid_levels": 1},
                        device="cpu")
    return result, time.monotonic() - start, time.process_time() - cpu


def iterations_of(quality, params):
    from painterly.engine.methods.harmonize import PRESETS
    if params.get("iterations"):
        return params["iterations"]
    return PRESETS[quality]["pass1"] + PRESETS[quality]["pass2"]


def fmt(v):
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="results/harmony", type=Path)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--examples", default="", help="comma-separated example numbers (default: all)")
    ap.add_argument("--quality", default="final", choices=("preview", "final"))
    ap.add_argument("--params", default="{}", help="extra harmonize parameters as JSON")
    ap.add_argument("--gatys", type=int, default=0, help="also time a plain Gatys loop on the first N examples")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compare-weights", action="store_true",
                    help="only compare our automatic style level with the paper's classifier weights")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.compare_weights:
        return compare_weights(args.data)
    params = json.loads(args.params)
    names = args.examples.split(",") if args.examples else sorted(
        (p.name for p in args.data.iterdir() if p.is_dir()), key=int)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, name in enumerate(names):
        d = args.data / name
        painting, naive = load_rgb(d / "painting.jpg"), load_rgb(d / "naive.jpg")
        mask, mask_dilated = load_binary(d / "mask.jpg"), load_binary(d / "mask_dilated.jpg")
        paper = load_rgb(d / "paper_final2.png")
        ours, alpha, seconds, cpu = run_ours(naive, painting, mask, args.quality, params)
        Image.fromarray(to_u8(ours)).save(args.out / f"{name}_ours.png")
        reread = np.asarray(Image.open(args.out / f"{name}_ours.png"))
        untouched = alpha <= 0
        changed_outside_alpha = int((reread[untouched] != to_u8(naive)[untouched]).any(axis=1).sum())
        # "Outside the dilated mask": outside both the dataset's dilated mask and our blend support.
        metrics = Metrics(painting, naive, mask, np.maximum(mask_dilated, (alpha > 0).astype(np.float32)))
        row = {"example": name, "seconds": seconds, "cpu_seconds": cpu, "changed_outside_alpha": changed_outside_alpha,
               "naive": metrics.all(naive), "ours": metrics.all(ours), "paper": metrics.all(paper)}
        images, labels = [naive, ours, paper], ["naive", "ours", "paper (final2)"]
        if index < args.gatys:
            gatys, gatys_seconds, gatys_cpu = run_gatys(naive, painting, mask, iterations_of(args.quality, params))
            row["gatys"] = metrics.all(gatys)
            row["gatys_seconds"], row["gatys_cpu_seconds"] = gatys_seconds, gatys_cpu
            images.append(gatys)
            labels.append("gatys (whole image)")
        sheet(images, mask, args.out / f"{name}_sheet.png", labels)
        rows.append(row)
        print(f"{name}: {seconds:.1f}s wall {cpu:.1f}s cpu  " + "  ".join(
            f"{k}: " + " ".join(f"{m}={fmt(v)}" for m, v in row[k].items())
            for k in ("naive", "ours", "paper", "gatys") if k in row)
            + (f" gatys={row['gatys_seconds']:.1f}s wall {row['gatys_cpu_seconds']:.1f}s cpu"
               if "gatys_seconds" in row else "")
            + f" changed_outside_alpha={changed_outside_alpha}", flush=True)
        (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
        write_table(rows, args.out / "table.md", args.quality)
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


def _seconds(row, who):
    if who == "ours":
        return row["seconds"], row["cpu_seconds"]
    if who == "gatys":
        return row["gatys_seconds"], row["gatys_cpu_seconds"]
    return None


def write_table(rows, path, quality):
    lines = [f"# harmonize ({quality}) on {len(rows)} dph examples", "",
             f"Seconds: wall clock / CPU time of the process ({torch.get_num_threads()} torch threads).", "",
             "| example | who | global | local | content | seam | bg | s wall / cpu |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for who in ("naive", "ours", "paper", "gatys"):
            if who not in row:
                continue
            m = row[who]
            sec = _seconds(row, who)
            lines.append(f"| {row['example']} | {who} | {m['global']:.3f} | {m['local']:.3f} | {m['content']:.3f} | "
                         f"{m['seam']:.3f} | {m['bg']} | {'' if sec is None else f'{sec[0]:.1f} / {sec[1]:.1f}'} |")
    lines += ["", "Medians (bg: maximum):", "", "| who | n | global | local | content | seam | bg | s wall / cpu |",
              "|---|---|---|---|---|---|---|---|"]
    medians = {}
    for who in ("naive", "ours", "paper", "gatys"):
        sel = [r for r in rows if who in r]
        if not sel:
            continue
        med = medians[who] = {k: statistics.median(r[who][k] for r in sel)
                              for k in ("global", "local", "content", "seam")}
        secs = [_seconds(r, who) for r in sel] if who in ("ours", "gatys") else []
        sec_text = f"{statistics.median(s[0] for s in secs):.1f} / {statistics.median(s[1] for s in secs):.1f}" \
            if secs else ""
        lines.append(f"| {who} | {len(sel)} | {med['global']:.3f} | {med['local']:.3f} | {med['content']:.3f} | "
                     f"{med['seam']:.3f} | {max(r[who]['bg'] for r in sel)} | {sec_text} |")
    if rows:  # every row has ours and paper
        ours, paper = medians["ours"], medians["paper"]
        budget = {"final": 120, "preview": 15}[quality]
        median_seconds = statistics.median(r["seconds"] for r in rows)
        checks = [("local style distance ≤ paper's", ours["local"] <= paper["local"]),
                  ("seam ≤ paper's", ours["seam"] <= paper["seam"]),
                  ("global style distance ≤ paper's", ours["global"] <= paper["global"]),
                  ("content change ≤ 1.1 × paper's", ours["content"] <= 1.1 * paper["content"]),
                  ("background unchanged on every example", all(r["ours"]["bg"] == 0 for r in rows)),
                  (f"median {median_seconds:.0f} s wall per example ≤ {budget} s", median_seconds <= budget)]
        lines += ["", f"Against the published results (medians over {len(rows)} examples):", ""]
        lines += [f"- {'yes' if ok else 'NO '}: {name}" for name, ok in checks]
    gat = [r for r in rows if "gatys_seconds" in r]
    if gat:
        wall = statistics.median(r["gatys_seconds"] / r["seconds"] for r in gat)
        cpu = statistics.median(r["gatys_cpu_seconds"] / r["cpu_seconds"] for r in gat)
        lines += ["", f"Plain Gatys loop over the whole image / ours, same iterations, {len(gat)} examples: "
                      f"median {wall:.1f}x slower (wall), {cpu:.1f}x (CPU time)"]
    lines += ["", f"Pixels changed where our alpha is 0 (must be 0): "
                  f"{sum(r['changed_outside_alpha'] for r in rows)}"]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())

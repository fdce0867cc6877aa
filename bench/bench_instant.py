"""The instant quality beside preview and final: seconds, style, content and speed, in one run.

Parts (``--parts``, default all):

* ``stylize``: unseen photos (the dpst contents) × paintings (the dph paintings), the ``global`` method at
  instant / preview / final (final on the diagonal pairs only: it costs a minute each). Style distance:
  Gram distance at VGG16 relu1_2, relu2_2, relu3_3 and relu4_3 (the network neither instant nor the
  optimisation uses; lower = closer to the painting); content distance: the relu3_3 and relu4_3 feature
  change relative to the photo's features (0 = the photo; lower = more of it kept). Writes a sheet per
  photo: photo | painting | instant | preview | final.
* ``photo``: the dpst examples with their label maps, ``photo`` instant vs preview: seconds, structure
  (SSIM of gradient maps against the content) and colour distance (bench/photo_quality.py's measures).
* ``decoder``: reconstruction by the shipped decoder of images it never saw (the dpst photos and the dph
  paintings, Starry Night excluded: it is in the training set), at 512 px: PSNR, SSIM of the luminance,
  and the relative change of the relu4_1 features when the reconstruction is encoded again.
* ``speed``: warm timings of instant stylize at 512² and 1024², instant harmonize of the demo (its 512-px
  context) and ``fast`` with the bundled painting on 512-px video frames (frames/s, no consistency).

Run: ``python bench/bench_instant.py [OUT] [--parts decoder,speed,stylize,photo] [--pairs 4] [--no-final]``;
OUT (default results/instant/) gets the sheets; the dph and dpst images never enter the repository.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PHOTOS = ("1", "11", "12", "13")           # dpst contents (never used in training)
PAINTINGS = ("2", "0", "16", "34")         # dph paintings (not Starry Night: the decoder trained on it)
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_LAYERS = ("relu3_3", "relu4_3")


def load(path, side=512) -> np.ndarray:
    from painterly.engine import load_image
    from painterly.engine.convert import to_image, to_tensor
    from painterly.engine.pyramid import fit_longest, resize
    rgb = load_image(path).rgb
    return to_image(resize(to_tensor(rgb), fit_longest(rgb.shape[:2], side), sharp=True)) if side else rgb


class Judge:
    """Style and content distances in VGG16 (max pooling), which no method optimises or decodes."""

    def __init__(self):
        from painterly.engine.features import get_extractor
        self.net = get_extractor(STYLE_LAYERS + CONTENT_LAYERS, "vgg16", "max", "cpu")

    def feats(self, rgb):
        with torch.no_grad():
            return self.net(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None])

    @staticmethod
    def gram(f):
        c = f.shape[1]
        flat = f[0].reshape(c, -1)
        return flat @ flat.T / flat.shape[1]

    def style(self, rgb, painting) -> float:
        a, b = self.feats(rgb), self.feats(painting)
        return float(np.mean([float((self.gram(a[k]) - self.gram(b[k])).norm() / self.gram(b[k]).norm())
                              for k in STYLE_LAYERS]))

    def content(self, rgb, photo) -> float:
        a, b = self.feats(rgb), self.feats(photo)
        return float(np.mean([float((a[k] - b[k]).norm() / b[k].norm()) for k in CONTENT_LAYERS]))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def part_stylize(args, out: Path):
    from fast_quality import sheet

    from painterly.engine import run
    judge = Judge()
    rows = []
    for i, pid in enumerate(PHOTOS[:args.pairs]):
        photo = load(DATA / "dpst" / pid / "content.png")
        line = [photo]
        for j, sid in enumerate(PAINTINGS[:args.pairs]):
            painting = load(DATA / "dph" / sid / "painting.jpg")
            inputs = {"content": photo, "style": painting}
            qualities = ["instant", "preview"] + (["final"] if i == j and not args.no_final else [])
            run("global", inputs, {"quality": "instant"}, device="cpu")          # warm: weights, decoder
            for q in qualities:
                result, seconds = timed(lambda: run("global", inputs, {"quality": q}, device="cpu"))
                rows.append({"photo": pid, "painting": sid, "quality": q, "s": seconds,
                             "style": judge.style(result, painting), "content": judge.content(result, photo)})
                line.append(result)
                print(f"stylize dpst {pid} × dph {sid} {q}: {seconds:.2f} s style {rows[-1]['style']:.3f} "
                      f"content {rows[-1]['content']:.3f}", flush=True)
            rows.append({"photo": pid, "painting": sid, "quality": "photo", "s": 0.0,
                         "style": judge.style(photo, painting), "content": 0.0})
        sheet([line], out / f"stylize_{pid}.png", height=192)
    print("\n| stylize (median) | s | style ↓ | content ↓ | pairs |\n|---|---|---|---|---|")
    for q in ("photo", "instant", "preview", "final"):
        sel = [r for r in rows if r["quality"] == q]
        if sel:
            print(f"| {q} | {statistics.median(r['s'] for r in sel):.2f} | "
                  f"{statistics.median(r['style'] for r in sel):.3f} | "
                  f"{statistics.median(r['content'] for r in sel):.3f} | {len(sel)} |")
    diag = [(r["photo"], r["painting"]) for r in rows if r["quality"] == "final"]
    if diag:
        print("\non the pairs final ran (ratio instant / final):")
        for key in ("style", "content", "s"):
            ratio = [next(r[key] for r in rows if (r["photo"], r["painting"]) == d and r["quality"] == "instant") /
                     next(r[key] for r in rows if (r["photo"], r["painting"]) == d and r["quality"] == "final")
                     for d in diag]
            print(f"  {key}: median {statistics.median(ratio):.2f} ({', '.join(f'{x:.2f}' for x in ratio)})")


def part_photo(args, out: Path):
    from photo_quality import colour_distance, structure_score

    from painterly.engine import load_image, run
    from painterly.engine.segmentation import label_pairs
    rows = []
    for ex in args.photo_examples.split(","):
        folder = DATA / "dpst" / ex
        content, style = load_image(folder / "content.png").rgb, load_image(folder / "style.png").rgb
        cseg, sseg = load_image(folder / "content_seg.png").rgb, load_image(folder / "style_seg.png").rgb
        inputs = {"content": content, "style": style, "content_seg": cseg, "style_seg": sseg}
        pairs = label_pairs(cseg, sseg, content.shape[:2], style.shape[:2])
        for q in ("instant", "preview"):
            result, seconds = timed(lambda: run("photo", inputs, {"quality": q}, device="cpu"))
            rows.append((ex, q, seconds, structure_score(result, content), colour_distance(result, style, pairs)))
            print(f"photo dpst {ex} {q}: {seconds:.1f} s structure {rows[-1][3]:.3f} colour {rows[-1][4]:.2f}",
                  flush=True)
    print("\n| photo (median) | s | structure ↑ | colour ↓ |\n|---|---|---|---|")
    for q in ("instant", "preview"):
        sel = [r for r in rows if r[1] == q]
        print(f"| {q} | {statistics.median(r[2] for r in sel):.1f} | {statistics.median(r[3] for r in sel):.3f} | "
              f"{statistics.median(r[4] for r in sel):.2f} |")


def part_decoder(args, out: Path):
    from photo_quality import ssim

    from painterly.engine.convert import to_image, to_tensor
    from painterly.engine.instant.codec import Codec
    codec = Codec(torch.device("cpu"))
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    rows, tiles = [], []
    paths = sorted((DATA / "dpst").glob("*/content.png"))[:12] + \
        [p for p in sorted((DATA / "dph").glob("*/painting.jpg")) if p.parent.name != "9"][:12]
    for path in paths:
        image = load(path, 512)
        feats, hw = codec.encode(to_tensor(image))
        back = to_image(codec.decode(feats, hw))
        again, _ = codec.encode(to_tensor(back))
        psnr = 10 * np.log10(1.0 / float(((back - image) ** 2).mean()))
        rows.append((path.parent.parent.name, psnr, ssim(back @ luma, image @ luma),
                     float((again - feats).norm() / feats.norm())))
        if len(tiles) < 6:
            tiles.append([image, back])
    from fast_quality import sheet
    sheet(tiles, out / "decoder_reconstruction.png", height=256)
    print("\n| unseen images (512 px) | n | PSNR dB | SSIM (luma) | relu4_1 change |\n|---|---|---|---|---|")
    for kind in ("dpst", "dph"):
        sel = [r for r in rows if r[0] == kind]
        print(f"| {'photos (dpst)' if kind == 'dpst' else 'paintings (dph)'} | {len(sel)} | "
              f"{statistics.median(r[1] for r in sel):.2f} | {statistics.median(r[2] for r in sel):.3f} | "
              f"{statistics.median(r[3] for r in sel):.3f} |")


def part_speed(args, out: Path):
    from painterly.engine import load_image, load_mask, run
    from painterly.engine.fast.video import read_frames
    painting = load(REPO / "examples" / "starry_night.jpg", 0)
    rows = []
    for side in (512, 1024):
        content = load(REPO / "examples" / "coffee.png", 0)
        content = torch.nn.functional.interpolate(torch.from_numpy(content).permute(2, 0, 1)[None], (side, side),
                                                  mode="bilinear")[0].permute(1, 2, 0).numpy()
        params = {"quality": "instant", "size": side}
        run("global", {"content": content, "style": painting}, params, device="cpu")
        times = [timed(lambda: run("global", {"content": content, "style": painting}, params, device="cpu"))[1]
                 for _ in range(3)]
        rows.append((f"instant stylize {side}²", min(times), statistics.median(times)))
    composite = load_image(REPO / "examples" / "demo_composite.png").rgb
    mask = load_mask(REPO / "examples" / "demo_mask.png")
    job = {"composite": composite, "mask": mask}
    run("harmonize", job, {"quality": "instant"}, device="cpu")
    times = [timed(lambda: run("harmonize", job, {"quality": "instant"}, device="cpu"))[1] for _ in range(3)]
    rows.append(("instant harmonize (demo, 512-px context)", min(times), statistics.median(times)))
    from painterly.engine.fast.stylizer import stylizer
    restyle = stylizer({"model": "starry-night", "size": 512, "strength": 1.0, "keep_colors": "off", "tile": 0},
                       torch.device("cpu"))
    frames = list(read_frames(DATA / "video" / "vtest.avi", limit=12))
    restyle(frames[0])
    _, seconds = timed(lambda: [restyle(f) for f in frames[1:]])
    rows.append((f"fast starry-night video, {frames[0].shape[1]}×{frames[0].shape[0]} frames (frames/s)",
                 (len(frames) - 1) / seconds, (len(frames) - 1) / seconds))
    print(f"\n| warm, torch threads {torch.get_num_threads()} | best s | median s |\n|---|---|---|")
    for name, best, median in rows:
        print(f"| {name} | {best:.2f} | {median:.2f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="results/instant")
    ap.add_argument("--parts", default="decoder,speed,stylize,photo")
    ap.add_argument("--pairs", type=int, default=4, help="photos and paintings of the stylize part (≤ 4)")
    ap.add_argument("--no-final", action="store_true", help="skip the final quality (a minute a pair)")
    ap.add_argument("--photo-examples", default="1,2,3,4,6,7,8,9")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for part in args.parts.split(","):
        {"decoder": part_decoder, "stylize": part_stylize, "photo": part_photo, "speed": part_speed}[part](args, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

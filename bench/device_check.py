"""Every method at every quality on the best device, in float32 and half precision, against the CPU.

For each (method, quality) it runs the same job on the CPU (float32: the reference) and on the best
device (``auto``: CUDA, MPS, else the CPU) in float32 and in half precision, and prints one table row:
seconds of each run, and each device result's largest and mean difference from the CPU's (8-bit levels,
on the visible composite). The jobs have fixed iteration counts (no clock), so the device runs do the
same work as the CPU's. ``--tiny`` runs everything at 64 px with a few iterations (the test suite runs
that on the CPU); the default size takes about 5 minutes on one GPU, most of it the CPU references.

Run: ``python bench/device_check.py [--size 256] [--tiny] [--device auto] [--methods harmonize,global]``
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

# (method, quality, fixed iterations): the fixed counts make a job deterministic work, not a deadline.
JOBS = (("harmonize", "instant", 0), ("harmonize", "preview", 40), ("harmonize", "final", 80),
        ("global", "instant", 0), ("global", "preview", 20), ("global", "final", 50),
        ("masked", "instant", 0), ("masked", "preview", 20), ("masked", "final", 50),
        ("photo", "instant", 0), ("photo", "preview", 24), ("photo", "final", 60),
        ("fast", "preview", 0), ("fast", "final", 0))


def inputs_at(size: int) -> dict:
    from painterly.engine import load_image, load_mask
    from painterly.engine.convert import to_image, to_tensor
    from painterly.engine.pyramid import fit_longest, resize

    def small(rgb):
        return to_image(resize(to_tensor(rgb), fit_longest(rgb.shape[:2], size), sharp=True))
    composite = small(load_image(EXAMPLES / "demo_composite.png").rgb)
    mask = load_mask(EXAMPLES / "demo_mask.png")
    mask = (resize(torch.from_numpy(mask)[None, None], composite.shape[:2])[0, 0].numpy() > 0.5).astype(np.float32)
    painting = small(load_image(EXAMPLES / "starry_night.jpg").rgb)
    photo = small(load_image(EXAMPLES / "coffee.png").rgb)
    return {"composite": composite, "mask": mask, "painting": painting, "photo": photo}


def job(method: str, quality: str, iterations: int, data: dict, size: int) -> tuple[dict, dict]:
    if method == "harmonize":
        params = {"quality": quality, "size": size}
        if iterations:
            params["iterations"] = iterations
        return {"composite": data["composite"], "mask": data["mask"]}, params
    params = {"quality": quality, "size": size}
    if method in ("global", "masked", "photo") and iterations:
        params["iterations"] = iterations
    if method == "fast":
        return {"content": data["photo"]}, params
    inputs = {"content": data["composite"] if method == "masked" else data["photo"], "style": data["painting"]}
    if method == "masked":
        inputs["mask"] = data["mask"]
    return inputs, params


def run_once(method, inputs, params, device, half):
    from painterly.engine import run
    torch.manual_seed(0)
    start = time.perf_counter()
    out = run(method, inputs, params, device=device, half=half)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8), time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=256, help="longest side of the test images")
    ap.add_argument("--tiny", action="store_true", help="64 px and a few iterations (a smoke run on any device)")
    ap.add_argument("--device", default="auto", help="the device to check against the CPU")
    ap.add_argument("--methods", default="", help="only these methods (comma-separated)")
    args = ap.parse_args(argv)
    from painterly.engine.device import select_device
    size = 64 if args.tiny else args.size
    device = select_device(args.device)
    data = inputs_at(size)
    wanted = set(filter(None, args.methods.split(",")))
    print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), "
          f"size {size} px")
    print("| method | quality | cpu s | fp32 s | half s | fp32 max/mean diff | half max/mean diff |")
    print("|---|---|---|---|---|---|---|")
    worst = 0
    for method, quality, iterations in JOBS:
        if wanted and method not in wanted:
            continue
        iterations = min(iterations, 4) if args.tiny else iterations
        inputs, params = job(method, quality, iterations, data, size)
        run_once(method, inputs, params, "cpu", False)                       # warm-up: weights, caches
        reference, cpu_s = run_once(method, inputs, params, "cpu", False)
        cells = []
        for half in (False, True):
            run_once(method, inputs, params, device, half)
            out, seconds = run_once(method, inputs, params, device, half)
            diff = np.abs(out.astype(np.int16) - reference.astype(np.int16))
            cells.append((seconds, int(diff.max()), float(diff.mean())))
            worst = max(worst, int(diff.max()) if not half else 0)
        print(f"| {method} | {quality} | {cpu_s:.2f} | {cells[0][0]:.2f} | {cells[1][0]:.2f} | "
              f"{cells[0][1]} / {cells[0][2]:.2f} | {cells[1][1]} / {cells[1][2]:.2f} |", flush=True)
    print(f"largest float32 difference from the CPU: {worst} levels")
    return 0


if __name__ == "__main__":
    sys.exit(main())

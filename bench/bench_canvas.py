#!/usr/bin/env python3
"""Big canvases: peak memory of each method on a 4096×4096 16-bit canvas, through the command line.

The canvas is the demo (The Starry Night with the pasted cup) stretched to 4096×4096 and written as a
16-bit PNG; the cup's mask covers about 920×900 px. Each job runs as its own ``painterly`` process, so
its peak resident memory (ru_maxrss from wait4) is its own:
  harmonize / masked stylize / photo: the selection only (a crop at working size reaches the network);
  global stylize: the whole canvas at the preset's working size, upsampled to 4096².
Checked for each output: 16-bit PNG, 4096×4096, and (selection methods) every pixel farther than the
blend's reach from the mask identical to the input's 16-bit value.

    python bench/bench_canvas.py [--quality preview|final] [--side 4096] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import png
from PIL import Image
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
LIMIT_GB = 6.0


def make_canvas(folder: Path, side: int) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    composite = Image.open(EXAMPLES / "demo_composite.png").convert("RGB").resize((side, side), Image.BICUBIC)
    mask = Image.open(EXAMPLES / "demo_mask.png").convert("L").resize((side, side), Image.NEAREST)
    rgb16 = (np.asarray(composite, dtype=np.uint16) * 257)            # exact 8 → 16 bit
    rgb16 += np.random.default_rng(0).integers(0, 200, rgb16.shape, dtype=np.uint16)   # use the low bits too
    canvas, mask_path = folder / "canvas16.png", folder / "mask.png"
    with open(canvas, "wb") as f:
        png.Writer(side, side, greyscale=False, bitdepth=16).write(f, rgb16.reshape(side, side * 3))
    mask.save(mask_path)
    return canvas, mask_path, rgb16, np.asarray(mask) > 127


def read16(path: Path) -> tuple[np.ndarray, int]:
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    arr = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, info["planes"])
    return arr[..., :3], info["bitdepth"]


def run(cmd: list) -> tuple[float, float, int]:
    """Seconds, peak RSS in GB and exit status of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode()
    if status != 0:
        print(err, file=sys.stderr)
    return time.perf_counter() - start, usage.ru_maxrss / 2**20, os.waitstatus_to_exitcode(status)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quality", default="final", choices=("preview", "final"))
    parser.add_argument("--side", type=int, default=4096)
    parser.add_argument("--keep", type=Path, help="write the canvas and results here instead of a temp folder")
    parser.add_argument("--only", nargs="+", choices=("harmonize", "masked", "photo", "global"),
                        help="run only these jobs")
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="painterly-canvas-"))
    folder.mkdir(parents=True, exist_ok=True)
    canvas, mask_path, original, mask = make_canvas(folder, args.side)
    far = ~ndimage.binary_dilation(mask, iterations=24)   # beyond the default dilation 4 + feather 4 reach
    painting = EXAMPLES / "starry_night.jpg"
    cli = [sys.executable, "-m", "painterly.cli"]
    q = ["--quality", args.quality, "--device", "cpu", "--quiet"]
    jobs = {
        "harmonize (selection)": ["harmonize", str(canvas), "--mask", str(mask_path)],
        "masked stylize (selection)": ["stylize", str(canvas), str(painting), "--mask", str(mask_path)],
        "photo (selection)": ["photo", str(canvas), str(EXAMPLES / "coffee.png"), "--mask", str(mask_path)],
        "global stylize (whole canvas)": ["stylize", str(canvas), str(painting)],
    }
    ys, xs = np.nonzero(mask)
    print(f"canvas {args.side}x{args.side} 16-bit, selection {xs.max() - xs.min() + 1}x{ys.max() - ys.min() + 1} px, "
          f"quality {args.quality}; limit {LIMIT_GB} GB")
    print(f"{'job':32} {'peak RSS GB':>11} {'seconds':>8}  output")
    worst = 0.0
    for name, job in jobs.items():
        if args.only and name.split()[0] not in args.only:
            continue
        out = folder / (name.split()[0] + ".png")
        seconds, peak, code = run(cli + job + ["-o", str(out)] + q)
        worst = max(worst, peak)
        if code != 0:
            print(f"{name:32} {peak:11.2f} {seconds:8.1f}  FAILED (exit {code})")
            continue
        result, depth = read16(out)
        checks = [f"{depth}-bit", f"{result.shape[1]}x{result.shape[0]}"]
        if "selection" in name:
            same = np.array_equal(result[far], original[far])
            checks.append("outside the selection identical" if same else "OUTSIDE CHANGED")
        print(f"{name:32} {peak:11.2f} {seconds:8.1f}  {', '.join(checks)}", flush=True)
    print(f"largest peak {worst:.2f} GB: {'within' if worst <= LIMIT_GB else 'OVER'} the {LIMIT_GB} GB limit")
    return 0 if worst <= LIMIT_GB else 1


if __name__ == "__main__":
    sys.exit(main())

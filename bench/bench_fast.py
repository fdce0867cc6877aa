#!/usr/bin/env python3
"""Fast style networks: inference seconds per image, the speed-up over optimisation, and peak memory.

In one run, each configuration in a fresh subprocess (so its peak memory is its own):
  - fast slim / full: seconds for one image of S×S pixels (RGB array in, RGB array out, at the working
    size S), best of --rounds after a warm-up; and the same for the bundled models as shipped (``--models``,
    default starry-night: their layout may add to the variant's, e.g. skips);
  - stylize: the ``global`` method's default job (its ``final`` preset: L-BFGS iterations shared by its
    coarse-to-fine levels) at the same size. Seconds per iteration are measured
    at each level's size (best of --rounds × --iterations) and summed with the job's iteration split;
    ``--stylize-full SIZE`` also runs that job end to end at SIZE to check the estimate;
  - tiled: a 4096×4096 image through the slim network with 512-px tiles, and its peak memory (max RSS on
    CPU, max allocated on CUDA).

    python bench/bench_fast.py [--sizes 256 512 1024] [--device cpu] [--threads N] [--stylize-full 256]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _peak(dev) -> float:
    import torch
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _image(size: int):
    import numpy as np
    rng = np.random.default_rng(0)
    return rng.random((size, size, 3), dtype=np.float32)


def measure_fast(variant: str, size: int, rounds: int, device: str, tile: int = 0, model: str = "") -> dict:
    import torch
    from painterly.engine.device import select_device
    from painterly.engine.fast.apply import stylize_array
    from painterly.engine.fast.models import build_network, read_model, resolve_model
    from painterly.engine.fast.network import TransformNet

    dev = select_device(device)
    if model:
        path = resolve_model(model)
        net = build_network(read_model(path), path).to(dev).eval()
    else:
        net = TransformNet(variant).to(dev).eval()
    image = _image(size)
    stylize_array(net, image[:256, :256], dev, tile=tile)  # warm-up
    best = float("inf")
    for _ in range(rounds if not tile else 1):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        stylize_array(net, image, dev, tile=tile)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return {"what": f"fast {model or variant}" + (f" tiles {tile}" if tile else ""), "size": size, "seconds": best,
            "peak_mib": _peak(dev)}


def measure_stylize_iteration(size: int, iterations: int, rounds: int, device: str) -> dict:
    import torch
    from painterly.engine.crop import to_tensor
    from painterly.engine.device import select_device
    from painterly.engine.features import get_extractor
    from painterly.engine.methods import get_method
    from painterly.engine.methods.gatys import resolved
    from painterly.engine.optimize import optimize
    from painterly.engine.stylize import CONTENT_LAYER, STYLE_LAYERS, StyleObjective

    dev = select_device(device)
    params = resolved(get_method("global").resolve_params({}))
    extractor = get_extractor((CONTENT_LAYER,) + STYLE_LAYERS, params["network"], params["pool"], dev)
    content, style = to_tensor(_image(size), dev), to_tensor(_image(size)[::-1].copy(), dev)
    objective = StyleObjective(extractor, content, [style], [1.0], params)
    optimize(content, objective, 1, params["optimizer"])  # warm-up
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        optimize(content, objective, iterations, params["optimizer"])
        best = min(best, (time.perf_counter() - start) / iterations)
    return {"what": "stylize iteration", "size": size, "seconds": best, "peak_mib": _peak(dev)}


def measure_stylize_job(size: int, device: str) -> dict:
    from painterly import engine
    start = time.perf_counter()
    engine.run("global", {"content": _image(size), "style": _image(size)[::-1].copy()}, {"size": size},
               device=device)
    import torch
    return {"what": "stylize job", "size": size, "seconds": time.perf_counter() - start,
            "peak_mib": _peak(torch.device("cpu"))}


def stylize_job_seconds(size: int, per_iteration: dict) -> float:
    """The default global job at ``size``: its pyramid's iteration split times each level's iteration cost."""
    params, pyramid = _default_job(size)
    sizes = pyramid.sizes(size, size)
    split = pyramid.iterations(params["iterations"], len(sizes))
    return sum(n * per_iteration[h] for (h, _), n in zip(sizes, split))


def run_child(kind: str, args, **kw) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(dict(kw, kind=kind)), "--device", args.device,
           "--threads", str(args.threads), "--rounds", str(args.rounds), "--iterations", str(args.iterations)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(spec: dict, args) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    kind = spec.pop("kind")
    if kind == "fast":
        return measure_fast(spec["variant"], spec["size"], args.rounds, args.device, spec.get("tile", 0),
                            spec.get("model", ""))
    if kind == "iteration":
        return measure_stylize_iteration(spec["size"], args.iterations, args.rounds, args.device)
    return measure_stylize_job(spec["size"], args.device)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("PAINTERLY_THREADS", "0")) or
                        (os.cpu_count() or 1))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=2, help="stylize iterations per timed round")
    parser.add_argument("--models", nargs="*", default=["starry-night"], help="bundled or user models to time too")
    parser.add_argument("--tiled-size", type=int, default=4096)
    parser.add_argument("--stylize-full", type=int, nargs="*", default=[], metavar="SIZE",
                        help="also run the default stylize job end to end at these sizes")
    parser.add_argument("--json", help="write the rows here too")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child), args)))
        return 0

    rows = []
    for size in args.sizes:
        for variant in ("slim", "full"):
            rows.append(run_child("fast", args, variant=variant, size=size))
        for model in args.models:
            rows.append(run_child("fast", args, variant="", size=size, model=model))
        rows.append(run_child("iteration", args, size=size))
    for level in sorted({h for size in args.sizes for h in _levels(size)} - set(args.sizes)):
        rows.append(run_child("iteration", args, size=level))     # the coarser pyramid levels
    per_iteration = {r["size"]: r["seconds"] for r in rows if r["what"] == "stylize iteration"}
    tiled = run_child("fast", args, variant="slim", size=args.tiled_size, tile=512)
    full_jobs = [run_child("job", args, size=s) for s in args.stylize_full]

    print(f"device {args.device}, {args.threads} thread(s); seconds per image (RGB array in and out)\n")
    print(f"{'size':>6} | {'slim s':>7} | {'full s':>7} | {'stylize s/iter':>14} | {'stylize job s':>13} | "
          f"{'speed-up slim':>13} | {'speed-up full':>13} | {'slim MiB':>8}")
    print("-" * 104)
    for size in args.sizes:
        slim = next(r for r in rows if r["what"] == "fast slim" and r["size"] == size)
        full = next(r for r in rows if r["what"] == "fast full" and r["size"] == size)
        job = stylize_job_seconds(size, per_iteration) if all(
            s in per_iteration for s in _levels(size)) else float("nan")
        print(f"{size:>6} | {slim['seconds']:7.3f} | {full['seconds']:7.3f} | {per_iteration[size]:14.3f} | "
              f"{job:13.1f} | {job / slim['seconds']:12.0f}x | {job / full['seconds']:12.0f}x | "
              f"{slim['peak_mib']:8.0f}")
    for model in args.models:
        print(f"{model} (as shipped): " + ", ".join(
            f"{r['size']}: {r['seconds']:.3f} s" for r in rows if r["what"] == f"fast {model}"))
    params, _ = _default_job(max(args.sizes))
    print(f"\nstylize job = the global method's default (final preset) {params['iterations']} iterations split "
          f"over its {params['pyramid_levels']} pyramid levels, from the measured s/iter")
    for job in full_jobs:
        print(f"stylize job run end to end at {job['size']}: {job['seconds']:.1f} s "
              f"(estimate {stylize_job_seconds(job['size'], per_iteration):.1f} s)")
    print(f"\n{args.tiled_size}x{args.tiled_size} slim with --tile 512: {tiled['seconds']:.1f} s, "
          f"peak memory {tiled['peak_mib']:.0f} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "tiled": tiled, "stylize_jobs": full_jobs}, f, indent=1)
    return 0


def _default_job(size: int):
    from painterly.engine.methods import get_method
    from painterly.engine.methods.gatys import resolved
    from painterly.engine.pyramid import Pyramid
    params = resolved(get_method("global").resolve_params({"size": size}))
    return params, Pyramid(levels=params["pyramid_levels"])


def _levels(size: int) -> list[int]:
    return [h for h, _ in _default_job(size)[1].sizes(size, size)]


if __name__ == "__main__":
    sys.exit(main())

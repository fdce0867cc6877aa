#!/usr/bin/env python3
"""Engine speed: seconds per optimisation iteration vs a bare forward+backward of the same network.

For VGG16 and VGG19 at 256 and 512 px, measured in one run, each configuration in a fresh subprocess so
its peak memory is its own:
  - bare: forward of the truncated network + backward to the image (the floor any method pays);
  - iteration: one L-BFGS iteration of the method: ``global`` (content relu4_2 + Gram relu1_1..relu5_1,
    network truncated after relu5_1) or ``harmonize`` (its pass-2 objective: Gram, histogram, patch,
    content, shape and TV terms on an object covering a third of the image; network truncated after
    relu4_1);
  - efficiency = bare / iteration (goal >= 0.8: the method adds little beyond the network itself);
  - peak memory: max RSS of the process on CPU, max allocated on CUDA.

    python bench/bench_engine.py [--methods global harmonize] [--sizes 256 512] [--iterations 3]
                                 [--rounds 3] [--device cpu] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def global_objective(network, content, style, dev):
    from painterly.engine.features import get_extractor
    from painterly.engine.methods import get_method
    from painterly.engine.stylize import CONTENT_LAYER, STYLE_LAYERS, StyleObjective

    extractor = get_extractor((CONTENT_LAYER,) + STYLE_LAYERS, network, "avg", dev)
    params = get_method("global").resolve_params({"network": network})
    return extractor, StyleObjective(extractor, content, [style], [1.0], params)


def harmonize_objective(network, content, style, dev):
    import torch

    from painterly.engine.convert import to_numpy
    from painterly.engine.features import get_extractor
    from painterly.engine.methods.harmonize_objective import (ALL_LAYERS, FEATURE_LAYERS, GLOBAL_MIX,
                                                              PASS2_HIST_LAYERS, HarmonyObjective, ShapeTerm,
                                                              auto_weights)
    from painterly.engine.methods.harmonize_targets import pass2_targets

    extractor = get_extractor(ALL_LAYERS, network, "avg", dev)
    h, w = content.shape[-2:]
    y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    mask = ((x / 0.75) ** 2 + (y / 0.6) ** 2 <= 1).float()[None, None].to(dev)   # about a third of the image
    with torch.no_grad():
        feats, style_feats = extractor(content), extractor(style)
    targets = pass2_targets(feats, style_feats, mask, None)
    weights = auto_weights(to_numpy(style), 0.5)
    objective = HarmonyObjective(extractor, content, content, mask, mask, targets,
                                 {layer: targets[layer] for layer in PASS2_HIST_LAYERS}, weights,
                                 {layer: targets[layer] for layer in FEATURE_LAYERS},
                                 shape=[ShapeTerm(content, mask, 4.0, level, weights["shape"],
                                                  weights["contrast_level"]) for _, level in weights["shape_levels"]])
    objective.mix_context_grams(style_feats, None, GLOBAL_MIX)
    return extractor, objective


def measure(method: str, network: str, size: int, iterations: int, device: str, threads: int, rounds: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from painterly.engine.device import select_device
    from painterly.engine.optimize import optimize

    dev = select_device(device)
    rng = np.random.default_rng(0)
    height = size * 3 // 4
    content = torch.from_numpy(rng.random((1, 3, height, size), dtype=np.float32)).to(dev)
    style = torch.from_numpy(rng.random((1, 3, height, size), dtype=np.float32)).to(dev)
    build = {"global": global_objective, "harmonize": harmonize_objective}[method]
    extractor, objective = build(network, content, style, dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def bare_step():
        image = content.clone().requires_grad_(True)
        feats = extractor(image)
        sum(f.sum() for f in feats.values()).backward()

    timings = {"bare": float("inf"), "iteration": float("inf")}
    steps = {"bare": lambda n: [bare_step() for _ in range(n)],
             "iteration": lambda n: optimize(content, objective, n, "lbfgs")}
    for fn in steps.values():
        fn(1)  # warm-up
    # Alternate the two measurements and keep each one's best round: other processes on a shared
    # machine only ever add time, so the minimum is the least disturbed figure.
    for _ in range(rounds):
        for name, fn in steps.items():
            sync()
            start = time.perf_counter()
            fn(iterations)
            sync()
            timings[name] = min(timings[name], (time.perf_counter() - start) / iterations)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "network": network, "size": f"{size}x{height}", "bare_s": timings["bare"],
            "iteration_s": timings["iteration"], "efficiency": timings["bare"] / timings["iteration"],
            "peak_mib": peak, "device": str(dev)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["global", "harmonize"], choices=["global", "harmonize"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--networks", nargs="+", default=["vgg16", "vgg19"])
    parser.add_argument("--iterations", type=int, default=3, help="iterations per timed round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds (best kept)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: method,network,size in a subprocess
    args = parser.parse_args()
    if args.one:
        method, network, size = args.one.split(",")
        print(json.dumps(measure(method, network, int(size), args.iterations, args.device, args.threads,
                                 args.rounds)))
        return
    print(f"{'method':10} {'network':8} {'size':>8} {'bare s':>8} {'iter s':>8} {'efficiency':>10} "
          f"{'peak MiB':>9}  device")
    for method in args.methods:
        for network in args.networks:
            for size in args.sizes:
                cmd = [sys.executable, __file__, "--one", f"{method},{network},{size}", "--iterations",
                       str(args.iterations), "--rounds", str(args.rounds), "--device", args.device,
                       "--threads", str(args.threads)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1]
                row = json.loads(out)
                print(f"{row['method']:10} {row['network']:8} {row['size']:>8} {row['bare_s']:8.3f} "
                      f"{row['iteration_s']:8.3f} {row['efficiency']:10.2f} {row['peak_mib']:9.0f}  {row['device']}",
                      flush=True)


if __name__ == "__main__":
    main()

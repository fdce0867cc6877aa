#!/usr/bin/env python3
"""Render cases with the engine of another commit of this repository (bench_presets runs it for the
defaults the product had before its quality presets, with the code of that time).

    python bench/render_at_commit.py COMMIT job.json     # job: {"threads": N, "cases": [{method, inputs, params, out}]}

The commit is extracted to a temporary folder (git archive) and this script runs again in a child
process whose ``painterly`` package is that folder's, so the parent's engine is never mixed in. Each case's
inputs are an .npz of arrays; its result is saved as ``out`` (.npy); one JSON line per case gives the
seconds of its ``engine.run`` (wall clock, and CPU seconds of the process) after a warm-up that loads the
networks.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The code when quality presets were asked for: its defaults are the benches' ``previous`` rows.
FILED = "712ad30"


def extract(commit: str, folder: Path) -> Path:
    """The commit's files under ``folder`` and a package root whose ``painterly.<name>`` is each top-level
    package folder of that commit (the layout pyproject.toml maps); returns the package root."""
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    package = folder / ".pkgroot" / "painterly"
    package.mkdir(parents=True)
    for child in folder.iterdir():
        if (child / "__init__.py").is_file():
            (package / child.name).symlink_to(child)
    return package.parent


def render(commit: str, job: dict) -> list[dict]:
    """Run ``job`` with the engine of ``commit``; returns one {"seconds": s} per case, in order."""
    with tempfile.TemporaryDirectory(prefix="painterly-at-") as tmp:
        root = extract(commit, Path(tmp))
        job_path = Path(tmp) / "job.json"
        job_path.write_text(json.dumps(job))
        env = dict(os.environ, PYTHONPATH=str(root))
        done = subprocess.run([sys.executable, __file__, "--child", str(job_path)], env=env, cwd=tmp,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the engine of {commit} failed: {done.stderr.strip().splitlines()[-1:]}")
        return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def timed(run):
    """``run()``'s result, its wall-clock seconds and the process's CPU seconds (which another job on the
    machine does not inflate)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    result = run()
    return result, time.perf_counter() - start, time.process_time() - cpu_start


def child(job_path: str) -> int:
    import numpy as np
    import torch

    from painterly import engine
    job = json.loads(Path(job_path).read_text())
    torch.set_num_threads(job["threads"])
    tiny = np.random.default_rng(0).uniform(0, 1, (96, 96, 3)).astype(np.float32)
    for method in sorted({case["method"] for case in job["cases"]}):  # warm-up: networks loaded
        inputs = {"content": tiny, "style": tiny}
        if method == "masked":
            inputs["mask"] = np.ones((96, 96), np.float32)
        engine.run(method, inputs, {"iterations": 1, "size": 40})
    for case in job["cases"]:
        inputs = dict(np.load(case["inputs"]))
        result, seconds, cpu_seconds = timed(lambda: engine.run(case["method"], inputs, case["params"], device="cpu"))
        np.save(case["out"], result)
        print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds}), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2]))
    if len(sys.argv) != 3:
        print(__doc__.strip().split("\n\n")[1].strip(), file=sys.stderr)
        sys.exit(2)
    print("\n".join(json.dumps(r) for r in render(sys.argv[1], json.loads(Path(sys.argv[2]).read_text()))))

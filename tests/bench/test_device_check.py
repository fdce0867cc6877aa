"""bench/device_check.py on the CPU at its tiny size: every method and quality runs, and the table says
how far each device result is from the CPU's (here the CPU against itself: float32 must agree exactly)."""
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "device_check.py"


@pytest.mark.slow
@pytest.mark.weights
def test_device_check_runs_every_method_and_quality_on_the_cpu():
    done = subprocess.run([sys.executable, str(BENCH), "--tiny", "--device", "cpu"], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert {tuple(c.strip() for c in r.split("|")[1:3]) for r in rows} >= {
        ("harmonize", "instant"), ("harmonize", "final"), ("global", "instant"), ("masked", "preview"),
        ("photo", "instant"), ("photo", "final"), ("fast", "final")}
    assert "largest float32 difference from the CPU: 0 levels" in done.stdout

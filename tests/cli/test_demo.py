"""The README's first command ends with `painterly demo`: it must write a harmonized image, and
one that keeps the cup's colours."""
import subprocess
import sys
from pathlib import Path

import numpy as np

from painterly.engine import load_image, load_mask
from painterly.engine.masks import dilate
from painterly.engine.color import rgb_to_ycc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_demo_harmonizes_the_bundled_example(tmp_path):
    done = subprocess.run([sys.executable, "-m", "painterly.cli", "demo", "-o", str(tmp_path), "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    before = load_image(EXAMPLES / "demo_composite.png").rgb
    after = load_image(tmp_path / "demo_result.png").rgb
    mask = load_mask(EXAMPLES / "demo_mask.png")
    assert after.shape == before.shape
    far = dilate(mask, 40) == 0
    assert np.array_equal(after[far], before[far])                       # the painting is untouched
    assert np.abs(after[mask > 0] - before[mask > 0]).mean() > 0.05      # the cup is repainted
    assert (tmp_path / "demo_sheet.png").is_file()
    kept = load_image(tmp_path / "demo_result_colors_kept.png").rgb    # the cup stays red
    inside = mask > 0.5
    assert np.abs(kept[inside] - before[inside]).mean() > 0.05
    chroma_before, chroma_kept = rgb_to_ycc(before)[inside][:, 1:], rgb_to_ycc(kept)[inside][:, 1:]
    assert np.abs(chroma_kept.mean(axis=0) - chroma_before.mean(axis=0)).max() < 0.03

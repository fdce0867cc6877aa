"""The independent judge (bench/judge.py): grid check, stroke scale and texture on known cases."""
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import judge as J  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"   # the shared data beside the checkout
DEMO = SHARED / "demo"
DPH = SHARED / "dph"
pytestmark = pytest.mark.skipif(not DEMO.is_dir(), reason="shared demo images not available")


def load(path, width=None):
    image = Image.open(path).convert("RGB")
    if width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    return np.asarray(image, np.float32) / 255.0


@pytest.fixture(scope="module")
def starry():
    return load(DEMO / "starry_night.jpg")


def central_mask(shape, frac=0.5):
    h, w = shape[:2]
    mask = np.zeros((h, w), np.float32)
    mask[round(h * (1 - frac) / 2):round(h * (1 + frac) / 2), round(w * (1 - frac) / 2):round(w * (1 + frac) / 2)] = 1
    return mask


def with_grid(rgb, period, amplitude):
    """Lines ``amplitude`` darker every ``period`` px, both ways, period/8 px wide (a stride's footprint)."""
    out = rgb.copy()
    for offset in range(max(1, period // 8)):
        out[offset::period] -= amplitude
        out[:, offset::period] -= amplitude
    return np.clip(out, 0, 1)


@pytest.mark.parametrize("period, amplitude", [(8, 0.08), (16, 0.12)])
def test_grid_check_flags_a_stride_grid_and_passes_the_clean_painting(starry, period, amplitude):
    mask = central_mask(starry.shape)
    judge = J.Judge(starry, mask)
    clean = judge.spectral(starry)
    gridded = judge.spectral(with_grid(starry, period, amplitude))
    assert not clean["grid_flag"] and clean["grid"] < J.GRID_THRESHOLD / 2, clean
    assert gridded["grid_flag"] and gridded["grid"] > J.GRID_THRESHOLD + 0.15, gridded
    # a grid off the network's strides (period 11) is not what this check looks for
    assert not judge.spectral(with_grid(starry, 11, amplitude))["grid_flag"]


@pytest.mark.skipif(not DPH.is_dir(), reason="dph examples not available")
@pytest.mark.parametrize("name", ["2", "21", "33"])
def test_grid_check_passes_clean_dph_paintings_under_their_object_masks(name):
    painting = load(DPH / name / "painting.jpg")
    mask = (np.asarray(Image.open(DPH / name / "mask.jpg").convert("L")) > 127).astype(np.float32)
    assert J.grid_score(painting, mask) < J.GRID_THRESHOLD
    assert J.grid_score(with_grid(painting, 8, 0.08), mask) > J.GRID_THRESHOLD


def test_stroke_scale_is_near_zero_for_the_painting_itself_and_larger_blurred(starry):
    mask = central_mask(starry.shape)
    judge = J.Judge(starry, mask)
    itself = judge.spectral(starry)
    blurred = np.where(mask[..., None] > 0, ndimage.gaussian_filter(starry, (1.5, 1.5, 0)), starry)
    soft = judge.spectral(blurred)
    assert J.stroke_distance(judge.painting_spectrum, judge.painting_spectrum) == 0.0
    assert itself["stroke"] < 0.1, itself
    assert soft["stroke"] > 0.3 and soft["stroke"] > 4 * itself["stroke"], (itself, soft)
    assert 0.8 < itself["crisp"] < 1.25 and soft["crisp"] < 0.5 * itself["crisp"], (itself, soft)
    # busier than the painting (pixel noise): crisper than 1, and far in stroke scale too
    noisy = np.clip(starry + mask[..., None] * np.random.default_rng(0).normal(0, 0.12, starry.shape), 0, 1)
    busy = judge.spectral(noisy.astype(np.float32))
    assert busy["crisp"] > 1.15 and busy["stroke"] > 2 * itself["stroke"], busy


@pytest.mark.weights
def test_texture_is_closer_for_a_patch_of_the_painting_than_for_a_photo(starry):
    painting = load(DEMO / "starry_night.jpg", width=320)
    photo = load(DEMO / "chelsea.png", width=320)
    h, w = painting.shape[:2]
    mask = np.zeros((h, w), np.float32)
    y, x, s = h // 2 - 40, w // 2 - 40, 80
    mask[y:y + s, x:x + s] = 1
    judge = J.Judge(painting, mask)
    from_painting = painting.copy()
    from_painting[y:y + s, x:x + s] = painting[8:8 + s, 8:8 + s]            # the sky, top left, outside the footprint
    from_photo = painting.copy()
    from_photo[y:y + s, x:x + s] = photo[40:40 + s, 100:100 + s]
    own, other = judge.texture(from_painting), judge.texture(from_photo)
    for layer in ("tex4_3", "tex3_3"):
        assert 0 <= own[layer] < other[layer] - 0.05, (own, other)
    # what the object hides is not a reference: the untouched painting is not at distance 0
    assert judge.texture(painting)["tex4_3"] > 0.05

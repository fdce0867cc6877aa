"""The global and masked methods end to end on small images."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from painterly import engine
from painterly.engine import MaskError, ParameterError, load_image, save_image
from painterly.engine.features import get_extractor
from painterly.engine.losses import gram_matrix, masked_gram_matrix
from painterly.engine.convert import to_tensor

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAST = {"size": 64, "iterations": 12, "network": "vgg16"}


@pytest.fixture(scope="module")
def images():
    painting = load_image(EXAMPLES / "starry_night.jpg").rgb
    composite = load_image(EXAMPLES / "demo_composite.png").rgb
    mask = engine.load_mask(EXAMPLES / "demo_mask.png")
    # a 128×96 crop with the right half of the pasted cup and painting around it keeps the tests fast
    sl = np.s_[390:486, 610:738]
    return painting[::8, ::8].copy(), composite[sl].copy(), mask[sl].copy()


def style_distance(image, style, mask=None):
    extractor = get_extractor(("relu2_1", "relu3_1"), "vgg16", "avg", "cpu")
    with torch.no_grad():
        a, b = extractor(to_tensor(image, "cpu")), extractor(to_tensor(style, "cpu"))
    total = 0.0
    for layer in a:
        gram = gram_matrix(a[layer]) if mask is None else masked_gram_matrix(a[layer], torch.from_numpy(mask))
        target = gram_matrix(b[layer])
        total += float(((gram - target) ** 2).mean() / (target ** 2).mean())
    return total


def test_global_moves_style_statistics_toward_the_painting(images):
    painting, composite, _ = images
    composite = composite[::2, ::2].copy()          # 64×48: optimised at full size, measured at that size
    losses = []
    out = engine.run("global", {"content": composite, "style": painting}, dict(FAST, iterations=20),
                     progress=lambda p: losses.append(p.losses["total"]))
    assert out.shape == composite.shape and out.dtype == np.float32
    assert losses[-1] < losses[0]
    assert style_distance(out, painting) < 0.7 * style_distance(composite, painting)


def test_masked_leaves_pixels_outside_the_dilated_mask_bit_identical(images, tmp_path):
    painting, composite, mask = images
    params = dict(FAST, dilation=2, feather=2.0)
    out = engine.run("masked", {"content": composite, "style": painting, "mask": mask}, params)
    far = engine.masks.dilate(mask, 2 + 4) == 0        # beyond dilation + 1.5·feather + 1
    assert far.sum() > 1000
    assert np.array_equal(out[far], composite[far])
    # and through an 8-bit file round trip, as a user would check it
    save_image(tmp_path / "out.png", out)
    saved = np.asarray(__import__("PIL.Image").Image.open(tmp_path / "out.png"))
    original = np.round(composite * 255).astype(np.uint8)
    assert np.array_equal(saved[far], original[far])
    inside = mask > 0
    assert np.abs(out[inside] - composite[inside]).mean() > 0.02        # the object really changed
    assert style_distance(out, painting, mask) < style_distance(composite, painting, mask)


def test_run_output_gives_a_layer_whose_alpha_is_zero_outside(images):
    painting, composite, mask = images
    output = engine.run_output("masked", {"content": composite, "style": painting, "mask": mask},
                               dict(FAST, iterations=2))
    assert output.alpha.shape == mask.shape and output.alpha[mask > 0].min() == 1.0
    assert output.alpha[engine.masks.dilate(mask, 10) == 0].max() == 0.0


@pytest.mark.parametrize("inputs, params, error, match", [
    ({"mask": np.zeros((96, 128))}, {}, MaskError, "empty"),
    ({"mask": np.ones((10, 10))}, {}, MaskError, "is 10x10 but the image is 128x96"),
    ({}, {"iterations": -1}, ParameterError, "at least 0"),
    ({}, {"size": 8}, ParameterError, r"0 \(preset\) or at least 32"),
    ({}, {"style_blend": "0.7,0.3"}, ParameterError, r"2 weight\(s\) but 1 style image"),
    ({}, {"style_blend": "a,b"}, ParameterError, "numbers separated by commas"),
    ({}, {"keep_colors": "all"}, ParameterError, "must be one of off, luminance, histogram"),
    ({}, {"network": "alexnet"}, ParameterError, "must be one of"),
    ({}, {"styel_weight": 3}, ParameterError, "no parameter"),
    ({"style": None}, {}, ParameterError, "needs the input 'style'"),
    ({"content": np.zeros((5, 5))}, {}, ParameterError, "H×W×3"),
])
def test_bad_input_is_a_clear_error(images, inputs, params, error, match):
    painting, composite, mask = images
    all_inputs = dict({"content": composite, "style": painting, "mask": mask}, **inputs)
    with pytest.raises(error, match=match):
        engine.run("masked", all_inputs, dict(FAST, **params))


def test_cli_stylize_writes_an_image_and_reports_errors_in_one_line(images, tmp_path):
    painting, composite, mask = images
    save_image(tmp_path / "c.png", composite)
    save_image(tmp_path / "s.png", painting)
    save_image(tmp_path / "m.png", np.repeat(mask[..., None], 3, axis=2))
    cmd = [sys.executable, "-m", "painterly.cli", "stylize", str(tmp_path / "c.png"), str(tmp_path / "s.png")]
    done = subprocess.run(cmd + ["--mask", str(tmp_path / "m.png"), "-o", str(tmp_path / "o.png"), "--size", "48",
                                 "--iterations", "3", "--network", "vgg16"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert load_image(tmp_path / "o.png").size == (128, 96)
    bad = subprocess.run(cmd + ["--mask", str(tmp_path / "nope.png"), "-o", str(tmp_path / "x.png")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "image not found" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("pasted_during_optimisation", [True, False])
def test_a_selection_keeps_the_style_it_reached_once_pasted_into_its_surroundings(images,
                                                                                  pasted_during_optimisation):
    """The object is optimised composited over the surroundings it will be pasted into: its style loss
    measured on the pasted result is the one the optimiser reached. Optimised with free surroundings,
    which are then replaced by the original, the object's features change and that loss does not hold."""
    from painterly.engine.methods.base import RunContext
    from painterly.engine.stylize import CONTENT_LAYER, STYLE_LAYERS, StyleObjective, stylize_tensor
    painting, composite, mask = images
    content, style = to_tensor(composite, "cpu"), to_tensor(painting, "cpu")
    loss_mask = to_tensor(engine.masks.dilate(mask, 1), "cpu")
    alpha = to_tensor(engine.masks.blend_weights(mask, 2, 2.0), "cpu")
    params = engine.get_method("masked").resolve_params(dict(FAST, iterations=30, pyramid_levels=1))
    reached = []
    out = stylize_tensor(content, [style], [1.0], params, RunContext(torch.device("cpu"), progress=reached.append),
                         mask=loss_mask, alpha=alpha if pasted_during_optimisation else None)
    pasted = alpha * out + (1 - alpha) * content
    extractor = get_extractor((CONTENT_LAYER,) + STYLE_LAYERS, "vgg16", "avg", "cpu")
    objective = StyleObjective(extractor, content, [style], [1.0], params, mask=loss_mask)
    with torch.no_grad():
        measured = objective(pasted)[1]["style"]
    holds = measured <= 1.1 * reached[-1].losses["style"]
    assert holds == pasted_during_optimisation, (measured, reached[-1].losses["style"])

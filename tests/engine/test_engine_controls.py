"""Artist controls: keep colours, several styles, style scale, quality presets, parameter groups, and
selections on a big canvas that never reach the network whole (tiny images, few iterations)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from painterly import engine
from painterly.engine import color
from painterly.engine.convert import to_tensor
from painterly.engine.features import VGGFeatures, get_extractor
from painterly.engine.losses import gram_matrix
from painterly.engine.methods import get_method, method_names

torch.set_num_threads(1)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAST = {"size": 64, "iterations": 12, "network": "vgg16", "pyramid_levels": 1}


@pytest.fixture(scope="module")
def images():
    painting = engine.load_image(EXAMPLES / "starry_night.jpg").rgb
    photo = engine.load_image(EXAMPLES / "coffee.png").rgb
    return painting[::8, ::8].copy(), photo[::8, ::8].copy()     # 94×75 painting, 75×50 photo


def chroma(rgb):
    return color.rgb_to_ycc(rgb)[..., 1:]


def test_luminance_mode_keeps_the_content_chroma(images):
    painting, photo = images
    off = engine.run("global", {"content": photo, "style": painting}, FAST)
    kept = engine.run("global", {"content": photo, "style": painting}, dict(FAST, keep_colors="luminance"))
    lum = lambda a: color.luminance(a)  # noqa: E731
    assert np.abs(lum(kept) - lum(photo)).mean() > 0.02                    # the strokes are there
    assert np.abs(chroma(kept) - chroma(photo)).mean() < 0.01              # the colours are the photo's
    assert np.abs(chroma(off) - chroma(photo)).mean() > 2 * np.abs(chroma(kept) - chroma(photo)).mean()


def test_histogram_mode_matches_the_colour_mean_and_covariance():
    rng = np.random.default_rng(0)
    style = np.clip(rng.normal([0.3, 0.5, 0.6], 0.05, (40, 50, 3)), 0, 1).astype(np.float32)
    content = np.clip(rng.normal([0.6, 0.4, 0.3], 0.04, (30, 30, 3)) + rng.normal(0, 0.03, (30, 30, 1)),
                      0, 1).astype(np.float32)
    weights = np.zeros((30, 30), np.float32)
    weights[5:25, 5:25] = 1.0
    matched = color.network_styles("histogram", [style], content, weights)[0]
    mean, cov = color.color_stats(matched)
    target_mean, target_cov = color.color_stats(content, weights)
    assert np.allclose(mean, target_mean, atol=2e-3)
    assert np.allclose(cov, target_cov, atol=5e-5)
    assert not np.allclose(color.color_stats(style)[1], target_cov, atol=5e-5)   # it had to change


def test_a_greyscale_reference_gives_grey_colours():
    # A black-and-white reference photo and a faintly warm image (as photo's result is when its colours
    # are matched a second time): the mapped colours must be grey, not keep or grow a tint.
    rng = np.random.default_rng(2)
    tone = rng.random((40, 40, 1))
    content = np.clip(tone * [1.0, 0.95, 0.9] + rng.normal(0, 0.005, (40, 40, 3)), 0, 1)
    reference = np.repeat(rng.random((30, 30, 1)) ** 2, 3, axis=2)
    mapped = color.color_map(content, reference)
    assert np.abs(chroma(content)).mean() > 0.01
    assert np.abs(chroma(mapped)).mean() < 0.003                           # under 1 level of 255
    assert np.allclose(color.color_stats(mapped)[1], color.color_stats(reference)[1], atol=2e-5)


def test_colour_start_has_the_blended_styles_colour_mean_and_covariance():
    from painterly.engine.stylize import initial_image
    rng = np.random.default_rng(1)
    a = np.clip(rng.normal([0.35, 0.4, 0.6], 0.05, (30, 40, 3)), 0, 1).astype(np.float32)
    b = np.clip(rng.normal([0.65, 0.5, 0.4], 0.08, (20, 20, 3)), 0, 1).astype(np.float32)
    content = np.clip(rng.normal([0.5, 0.5, 0.5], 0.1, (24, 24, 3)), 0, 1).astype(np.float32)
    start = initial_image("colour", to_tensor(content), [to_tensor(a), to_tensor(b)], [0.75, 0.25], 0)
    mean, cov = color.color_stats(start[0].permute(1, 2, 0).numpy())
    mixed = np.concatenate([a.reshape(-1, 3), b.reshape(-1, 3)])   # 1200 and 400 pixels: 3 to 1
    assert np.allclose(mean, mixed.mean(0), atol=0.01)
    assert np.allclose(cov, np.cov(mixed.T, bias=True), atol=2e-3)
    assert not np.allclose(mean, content.reshape(-1, 3).mean(0), atol=0.05)


def test_restore_chroma_amount_moves_the_chroma_part_way():
    rng = np.random.default_rng(1)
    result, original = rng.uniform(0.3, 0.7, (2, 20, 20, 3)).astype(np.float32)
    half = color.restore_chroma(result, original, 0.5)
    assert np.allclose(color.luminance(half), color.luminance(result), atol=1e-5)
    assert np.allclose(chroma(half), 0.5 * (chroma(result) + chroma(original)), atol=1e-5)


def test_blend_weights_one_zero_equal_the_single_style(images):
    painting, photo = images
    single = engine.run("global", {"content": photo, "style": painting}, FAST)
    blended = engine.run("global", {"content": photo, "style": painting, "style2": photo[::-1].copy()},
                         dict(FAST, style_blend="1,0"))
    assert np.array_equal(single, blended)
    other = engine.run("global", {"content": photo, "style": painting, "style2": photo[::-1].copy()},
                       dict(FAST, style_blend="0.5,0.5"))
    assert np.abs(other - single).mean() > 0.01


def _gram_distance(image, target, layers=("relu1_1", "relu2_1")):
    extractor = get_extractor(layers, "vgg16", "avg", "cpu")
    with torch.no_grad():
        a, b = extractor(to_tensor(image)), extractor(to_tensor(target))
    return sum(float(((gram_matrix(a[k]) - gram_matrix(b[k])) ** 2).mean() / (gram_matrix(b[k]) ** 2).mean())
               for k in layers)


def test_style_scale_moves_the_gram_statistics_towards_the_rescaled_style():
    # stripes 4 px apart: at style scale 2 the target has 8 px stripes, at 0.5 two px stripes
    y, x = np.mgrid[0:64, 0:64]
    stripes = (0.5 + 0.4 * np.sin(2 * np.pi * (x + y) / 8.0))[..., None] * np.array([1.0, 0.7, 0.4])
    style = stripes.astype(np.float32)
    content = np.full((64, 64, 3), 0.5, np.float32) + 0.1 * (y / 64.0)[..., None].astype(np.float32)
    params = dict(FAST, iterations=20, content_weight=0.1)
    coarse = engine.run("global", {"content": content, "style": style}, dict(params, style_scale=2.0))
    fine = engine.run("global", {"content": content, "style": style}, dict(params, style_scale=0.5))
    up = torch.nn.functional.interpolate(to_tensor(style), scale_factor=2, mode="bilinear")[0].permute(1, 2, 0)
    down = style[::2, ::2]
    assert _gram_distance(coarse, up.numpy()) < _gram_distance(fine, up.numpy())
    assert _gram_distance(fine, down) < _gram_distance(coarse, down)


def test_harmonize_keeps_the_objects_colours_on_request(images):
    painting, _ = images
    composite, mask = painting.copy(), np.zeros(painting.shape[:2], np.float32)
    composite[30:50, 35:60] = [0.85, 0.1, 0.1]                                  # a red object
    mask[30:50, 35:60] = 1.0
    inside = mask > 0
    runs = {}
    for name, extra in {"off": {}, "luminance": {"keep_colors": "luminance"}, "half": {"object_color": 0.5}}.items():
        params = dict(quality="preview", iterations=6, network="vgg16", **extra)
        runs[name] = engine.run("harmonize", {"composite": composite, "mask": mask}, params)
    drift = {name: np.abs(chroma(out) - chroma(composite))[inside].mean() for name, out in runs.items()}
    assert color.luminance(runs["luminance"])[inside].std() > 0.01             # painted (it was flat) ...
    assert drift["luminance"] < 0.02                                             # ... and still red
    assert drift["off"] > 2 * drift["luminance"]
    assert drift["luminance"] < drift["half"] < drift["off"]


def test_every_parameter_has_a_group_and_the_colour_and_scale_controls_are_basic():
    for name in method_names():
        described = get_method(name).describe()["params"]
        assert all(p["group"] in ("basic", "advanced") for p in described)
        groups = {p["name"]: p["group"] for p in described}
        assert groups["quality"] == "basic"
        if name != "photo":
            assert groups["keep_colors"] == "basic"
        if name in ("global", "masked"):
            assert groups["style_scale"] == "basic" and groups["style_blend"] == "advanced"
            assert groups["iterations"] == "advanced"


def test_quality_presets_set_the_work_and_explicit_values_win(monkeypatch):
    from painterly.engine.methods import gatys
    seen = []
    monkeypatch.setattr(gatys, "stylize_tensor", lambda content, styles, weights, params, ctx, **kw:
                        seen.append((tuple(content.shape[-2:]), params["iterations"])) or content)
    rng = np.random.default_rng(2)
    wide = rng.uniform(0, 1, (400, 800, 3)).astype(np.float32)
    for quality in ("preview", "final"):
        engine.run("global", {"content": wide, "style": wide}, {"quality": quality})
    engine.run("global", {"content": wide, "style": wide}, {"quality": "preview", "size": 100, "iterations": 7})
    preview, final = gatys.PRESETS["preview"], gatys.PRESETS["final"]
    assert seen[0] == ((preview["size"] // 2, preview["size"]), preview["iterations"])
    assert seen[1] == ((final["size"] // 2, final["size"]), final["iterations"])
    assert seen[2] == ((50, 100), 7)
    # A square image has more working pixels than the 3:2 one the preset's iterations are set for: it gets
    # proportionally fewer, so the preset's time holds; explicit iterations stay as given.
    square = rng.uniform(0, 1, (800, 800, 3)).astype(np.float32)
    engine.run("global", {"content": square, "style": square}, {"quality": "final"})
    engine.run("global", {"content": square, "style": square}, {"quality": "final", "iterations": 50})
    side = final["size"]
    assert seen[3] == ((side, side), round(final["iterations"] * final["pixels"] / side ** 2))
    assert seen[3][1] < final["iterations"] and seen[4] == ((side, side), 50)


def test_a_presets_time_budget_holds_only_for_the_presets_iterations():
    from painterly.engine.methods.base import fit_to_area
    from painterly.engine.methods.gatys import PRESETS, resolved
    preset = resolved(engine.get_method("global").resolve_params({"quality": "final"}))
    assert fit_to_area({"iterations": 0}, preset, PRESETS, (341, 512))["budget"] == PRESETS["final"]["budget"]
    assert "budget" not in fit_to_area({"iterations": 80}, dict(preset, iterations=80), PRESETS, (341, 512))


class LargestInput:
    """Pixels of the largest image the network saw, and of the largest one being optimised."""

    def __init__(self, monkeypatch):
        self.largest = self.optimised = 0
        forward = VGGFeatures.forward

        def spy(extractor, image):
            self.largest = max(self.largest, image.shape[-2] * image.shape[-1])
            if image.requires_grad:
                self.optimised = max(self.optimised, image.shape[-2] * image.shape[-1])
            return forward(extractor, image)
        monkeypatch.setattr(VGGFeatures, "forward", spy)


@pytest.mark.parametrize("method", ["masked", "photo", "harmonize"])
def test_a_selection_on_a_big_canvas_never_reaches_the_network_whole(method, monkeypatch):
    rng = np.random.default_rng(3)
    canvas = np.clip(rng.normal(0.5, 0.1, (1536, 1536, 3)), 0, 1).astype(np.float32)
    mask = np.zeros(canvas.shape[:2], np.float32)
    mask[700:760, 900:980] = 1.0
    spy = LargestInput(monkeypatch)
    small = {"size": 64, "iterations": 2}
    inputs, params = {
        "masked": ({"content": canvas, "style": canvas[:200, :200].copy(), "mask": mask}, dict(FAST, **small)),
        "photo": ({"content": canvas, "style": canvas[:300, :300].copy(), "mask": mask},
                  dict(small, photo_iterations=1)),
        "harmonize": ({"composite": canvas, "mask": mask}, dict(small, quality="preview")),
    }[method]
    output = engine.run_output(method, inputs, params)
    assert output.rgb.shape == canvas.shape
    assert 0 < spy.optimised <= 160 * 160                        # the crop at working size ...
    assert spy.largest <= canvas.shape[0] * canvas.shape[1] / 2   # ... and never the whole canvas
    far = engine.masks.dilate(mask, 20) == 0
    assert output.alpha[far].max() == 0.0
    assert np.abs(output.rgb - canvas)[mask > 0].mean() > 0.005


def test_recolor_output_for_a_fixed_style_keeps_the_content_colours():
    rng = np.random.default_rng(4)
    content = rng.uniform(0.2, 0.8, (24, 24, 3)).astype(np.float32)
    styled = np.clip(content[..., ::-1] * 0.5 + 0.3, 0, 1).astype(np.float32)      # other colours
    lum = color.recolor_output("luminance", styled, content)
    assert np.abs(chroma(lum) - chroma(content)).mean() < 0.01
    assert np.allclose(color.luminance(lum), color.luminance(styled), atol=0.02)
    hist = color.recolor_output("histogram", styled, content)
    assert np.allclose(color.color_stats(hist)[0], color.color_stats(content)[0], atol=5e-3)
    assert color.recolor_output("off", styled, content) is styled

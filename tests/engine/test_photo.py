"""The ``photo`` method (Deep Photo Style Transfer) and its command line, on tiny images."""
import numpy as np
import pytest
import torch

from painterly import engine
from painterly.engine.features import get_extractor
from painterly.engine.matting import laplacian_to_torch, matting_laplacian, matting_quadratic
from painterly.engine.methods import ParameterError, get_method
from painterly.engine.methods.photo import (CONTENT_LAYER, NETWORK, REFERENCE_PIXELS, STYLE_LAYERS, PhotoObjective,
                                            colour_transfer)
from painterly.engine.segmentation import label_pairs

torch.set_num_threads(1)
FAST = {"size": 32, "iterations": 2, "photo_iterations": 2, "mode": "optimize"}


def smooth_image(h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([xx, yy, 1 - xx * yy], axis=2)
    return np.clip(base * rng.uniform(0.3, 1.0, 3) + 0.05 * rng.random((h, w, 3)), 0, 1).astype(np.float32)


def two_label_map(h, w, top, bottom):
    seg = np.zeros((h, w, 3), np.float32)
    seg[: h // 2] = top
    seg[h // 2:] = bottom
    return seg


@pytest.fixture(scope="module")
def images():
    return {"content": smooth_image(40, 48, 0), "style": smooth_image(36, 30, 1) * np.float32([1.0, 0.4, 0.2]),
            "content_seg": two_label_map(40, 48, (0, 0, 1), (0, 1, 0)),
            "style_seg": two_label_map(36, 30, (0, 0, 1), (0, 1, 0))}


def test_declared_inputs_and_params():
    method = get_method("photo")
    assert [(i.name, i.required) for i in method.inputs] == [
        ("content", True), ("style", True), ("content_seg", False), ("style_seg", False), ("mask", False)]
    assert {"photo_weight", "size", "mode", "smooth"} <= {p["name"] for p in method.describe()["params"]}
    assert method.resolve_params({})["photo_weight"] == 1e4


def test_colour_transfer_matches_each_labels_statistics(images):
    pairs = label_pairs(images["content_seg"], images["style_seg"], (40, 48), (36, 30))
    out = colour_transfer(images["content"], images["style"], pairs)
    for pair in pairs:
        got = out[pair.content > 0]
        want = images["style"][pair.style > 0]
        np.testing.assert_allclose(got.mean(0), want.mean(0), atol=0.02)
        np.testing.assert_allclose(np.cov(got.T), np.cov(want.T), atol=2e-3)


def test_objective_adds_half_lambda_times_the_matting_quadratic(images):
    extractor = get_extractor((CONTENT_LAYER,) + STYLE_LAYERS, NETWORK, "max", "cpu")
    content = torch.from_numpy(images["content"][:32, :32]).permute(2, 0, 1)[None].contiguous()
    style = torch.from_numpy(images["style"][:32, :30]).permute(2, 0, 1)[None].contiguous()
    pairs = label_pairs(None, None, (32, 32), (32, 30))
    lap = laplacian_to_torch(matting_laplacian(images["content"][:32, :32].astype(np.float64)))
    # the other terms off: the float32 total would otherwise swamp the comparison
    params = get_method("photo").resolve_params({"photo_weight": 2.0, "content_weight": 0.0,
                                                 "style_weight": 0.0, "tv_weight": 0.0})
    image = torch.rand(1, 3, 32, 32)
    with_term, terms = PhotoObjective(extractor, content, style, pairs, params, laplacian=lap)(image)
    without, _ = PhotoObjective(extractor, content, style, pairs, params)(image)
    quad = float(matting_quadratic(image, lap))
    assert terms["photo"] == pytest.approx(quad, rel=1e-5)
    assert float(without) == 0.0
    # λ/2 · quadratic with λ = 2, rescaled from the working size to the reference's pixel count
    assert float(with_term) == pytest.approx(quad * REFERENCE_PIXELS / (32 * 32), rel=1e-5)


def test_run_with_label_maps_returns_full_size_photo(images):
    seen = []
    out = engine.run_output("photo", images, FAST, device="cpu", progress=seen.append)
    assert out.alpha is None and out.rgb.shape == (40, 48, 3) and out.rgb.dtype == np.float32
    assert np.isfinite(out.rgb).all() and out.rgb.min() >= 0 and out.rgb.max() <= 1
    assert [p.iteration for p in seen] == list(range(1, 5)) and seen[-1].total == 4
    assert "photo" in seen[-1].losses
    # the look moved towards the (red-heavy) style: less blue than the content
    assert out.rgb[..., 2].mean() < images["content"][..., 2].mean() - 0.05


def test_fast_mode_and_no_label_maps(images):
    inputs = {"content": images["content"], "style": images["style"]}
    out = engine.run_output("photo", inputs, dict(FAST, mode="fast", upsample="bicubic"), device="cpu")
    assert out.rgb.shape == (40, 48, 3) and np.isfinite(out.rgb).all()


def test_each_labels_colours_end_at_the_styles(images):
    """Whatever the stages leave of the content's colours (here: started from the content, two iterations),
    the colour match gives each label the style's."""
    params = dict(FAST, mode="fast", upsample="bicubic", init="content")
    matched = engine.run("photo", images, params, device="cpu")
    drifted = engine.run("photo", images, dict(params, colour_match=False), device="cpu")
    for pair in label_pairs(images["content_seg"], images["style_seg"], (40, 48), (36, 30)):
        want = images["style"][pair.style > 0].mean(0)
        gap = lambda out: float(np.abs(out[pair.content > 0].mean(0) - want).max())  # noqa: E731
        assert gap(matched) < 0.03 < gap(drifted)


def test_masked_variant_leaves_outside_untouched(images):
    mask = np.zeros((40, 48), np.float32)
    mask[10:22, 12:26] = 1
    inputs = {"content": images["content"], "style": images["style"], "mask": mask}
    params = dict(FAST, dilation=2, feather=2.0)
    out = engine.run_output("photo", inputs, params, device="cpu")
    far = np.ones_like(mask, bool)
    far[10 - 5:22 + 5, 12 - 5:26 + 5] = False
    assert (out.alpha[far] == 0).all() and (out.alpha[10:22, 12:26] > 0.5).all()
    visible = engine.run("photo", inputs, params, device="cpu")
    np.testing.assert_array_equal(visible[far], images["content"][far])
    assert np.abs(visible[12:20, 14:24] - images["content"][12:20, 14:24]).mean() > 0.01


def test_bad_inputs_give_clear_errors(images):
    with pytest.raises(ParameterError, match="label map for the style"):
        engine.run_output("photo", {"content": images["content"], "style": images["style"],
                                    "content_seg": images["content_seg"]}, FAST, device="cpu")
    with pytest.raises(engine.MaskError, match="empty"):
        engine.run_output("photo", {"content": images["content"], "style": images["style"],
                                    "mask": np.zeros((40, 48), np.float32)}, FAST, device="cpu")
    with pytest.raises(ParameterError, match="photo_weight"):
        engine.run_output("photo", images, {"photo_weight": -1.0}, device="cpu")


def test_cli_photo(tmp_path, images):
    from painterly.cli.main import main
    for name, arr in images.items():
        engine.save_image(tmp_path / f"{name}.png", arr)
    out = tmp_path / "out.png"
    code = main(["photo", str(tmp_path / "content.png"), str(tmp_path / "style.png"), "-o", str(out),
                 "--content-seg", str(tmp_path / "content_seg.png"), "--style-seg", str(tmp_path / "style_seg.png"),
                 "--size", "32", "--iterations", "1", "--photo-iterations", "1", "--photo-weight", "100",
                 "--device", "cpu", "--quiet"])
    assert code == 0 and engine.load_image(out).size == (48, 40)
    assert main(["photo", str(tmp_path / "content.png"), str(tmp_path / "style.png"), "-o", str(out),
                 "--content-seg", str(tmp_path / "content_seg.png"), "--quiet"]) == 2


def test_harmonizing_a_selection_with_its_own_photo_takes_the_look_of_the_surroundings():
    photo = np.zeros((40, 48, 3), np.float32)
    photo[...] = (0.8, 0.3, 0.2)                              # warm surroundings
    photo[14:26, 16:32] = (0.2, 0.4, 0.9)                     # a pasted cold object
    photo += 0.03 * np.random.default_rng(5).random(photo.shape).astype(np.float32)
    mask = np.zeros((40, 48), np.float32)
    mask[14:26, 16:32] = 1
    out = engine.run("photo", {"content": photo, "style": photo, "mask": mask},
                     dict(FAST, dilation=1, feather=1.0), device="cpu")
    inside = out[17:23, 19:29].mean(axis=(0, 1))
    assert inside[0] > inside[2]                             # the object turned warm
    with pytest.raises(ParameterError, match="whole photo"):
        engine.run("photo", {"content": photo, "style": photo, "mask": np.ones((40, 48), np.float32)},
                   FAST, device="cpu")

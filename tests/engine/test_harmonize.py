"""harmonize end to end on tiny images, its crop/blend plumbing, post-processing and the CLI."""
import numpy as np
import pytest
import torch

from painterly import engine
from painterly.engine import MaskError, load_image, save_image
from painterly.engine import crop as croplib
from painterly.engine import masks as masklib
from painterly.engine.methods.harmonize import auto_weights
from painterly.engine.postprocess import chroma_denoise, guided_filter, patch_resynthesis, rgb_to_ycc

FAST = {"quality": "preview", "iterations": 4, "network": "vgg16"}


def painting(h=72, w=88, seed=0):
    """A stroke-like texture with a colour gradient: enough structure for the features to match."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([0.6 + 0.3 * x, 0.4 + 0.2 * y, 0.3 + 0.1 * np.sin(8 * x)], axis=2)
    strokes = 0.08 * np.sin(25 * (x + 0.3 * y))[..., None] + 0.03 * rng.standard_normal((h, w, 1))
    return np.clip(base + strokes, 0, 1).astype(np.float32)


def paste(canvas, top, left, size):
    composite, mask = canvas.copy(), np.zeros(canvas.shape[:2], np.float32)
    composite[top:top + size, left:left + size] = [0.95, 0.95, 0.97]   # a white photo object
    composite[top + size // 3:top + 2 * size // 3, left:left + size] = [0.1, 0.2, 0.8]
    mask[top:top + size, left:left + size] = 1.0
    return composite, mask


def check_untouched(result, composite, alpha, mask, dilation=4, feather=4.0):
    outside = alpha <= 0
    assert np.array_equal(result[outside], composite[outside])      # bit-identical
    far = masklib.dilate(mask, dilation + int(np.ceil(feather * 2 ** 0.5)) + 1) <= 0  # square blur support
    assert alpha[far].max() == 0.0


def test_harmonize_changes_only_the_dilated_feathered_region():
    canvas = painting()
    composite, mask = paste(canvas, 24, 30, 20)
    output = engine.run_output("harmonize", {"composite": composite, "mask": mask, "style": canvas}, FAST,
                               device="cpu")
    assert output.rgb.shape == composite.shape and output.alpha.shape == mask.shape
    result = output.composite_over(composite)
    check_untouched(result, composite, output.alpha, mask)
    assert np.abs(result - composite)[mask > 0].mean() > 0.01       # the object did change
    assert np.isfinite(result).all() and result.min() >= 0 and result.max() <= 1


def test_mask_touching_the_border_and_no_style_input():
    canvas = painting(64, 80, seed=1)
    composite, mask = paste(canvas, 0, 60, 20)                      # top-right corner
    result = engine.run("harmonize", {"composite": composite, "mask": mask}, dict(FAST, resynthesis=1.0),
                        device="cpu")
    assert result.shape == composite.shape
    far = masklib.dilate(mask, 11) <= 0
    assert np.array_equal(result[far], composite[far])
    assert np.abs(result - composite)[mask > 0].mean() > 0.01


def test_empty_mask_is_a_clear_error():
    canvas = painting(32, 32)
    with pytest.raises(MaskError, match="empty"):
        engine.run("harmonize", {"composite": canvas, "mask": np.zeros((32, 32), np.float32)}, FAST, device="cpu")
    with pytest.raises(MaskError, match="32x16"):
        engine.run("harmonize", {"composite": canvas, "mask": np.ones((16, 32), np.float32)}, FAST, device="cpu")


def test_crop_blend_round_trip_leaves_outside_pixels_untouched():
    rng = np.random.default_rng(2)
    original = rng.random((300, 400, 3), dtype=np.float32)
    mask = np.zeros((300, 400), np.float32)
    mask[250:300, 10:60] = 1.0                                       # at the bottom border
    plan = croplib.plan_crop(mask, size=64, reach=8, context=0.5, margin=8)
    top, left, bottom, right = plan.region
    assert bottom == 300 and top <= 250 - 9 and left == 0 and right >= 60 + 9
    assert plan.scale < 1 and all(s % 8 == 0 for s in plan.region_work + plan.context_work)
    assert max(plan.context_work) <= 64 + 8
    work = croplib.crop_work(original, plan.region, plan.region_work)
    assert tuple(work.shape[-2:]) == plan.region_work
    region_alpha = masklib.blend_weights(mask[plan.region_slices()], 4, 4.0)
    rgb, alpha = croplib.paste_back(original, croplib.upsample_region(work * 0.5, plan.region), region_alpha,
                                    plan.region)
    out = engine.methods.Output(rgb, alpha).composite_over(original)
    assert np.array_equal(out[alpha <= 0], original[alpha <= 0])
    assert np.array_equal(alpha, masklib.blend_weights(mask, 4, 4.0))   # same weights as on the full canvas
    assert not np.allclose(out[mask > 0], original[mask > 0])


def test_guided_filter_and_chroma_denoise():
    rng = np.random.default_rng(3)
    guide = np.zeros((32, 32), np.float32)
    guide[:, 16:] = 1.0
    noisy = guide + 0.1 * rng.standard_normal((32, 32)).astype(np.float32)
    smooth = guided_filter(guide, noisy, 2, 0.01)
    assert np.abs(smooth - guide).std() < 0.5 * np.abs(noisy - guide).std()
    assert smooth[:, 18:].mean() - smooth[:, :14].mean() > 0.9          # the edge survives
    image = np.repeat(guide[..., None], 3, axis=2) * 0.8 + 0.1
    speckled = image.copy()
    speckled[..., 0] += 0.05 * rng.standard_normal((32, 32)).astype(np.float32)
    out = chroma_denoise(np.clip(speckled, 0, 1))
    ycc_in, ycc_out, ycc_clean = rgb_to_ycc(np.clip(speckled, 0, 1)), rgb_to_ycc(out), rgb_to_ycc(image)
    assert np.abs(ycc_out[..., 1:] - ycc_clean[..., 1:]).mean() < 0.6 * np.abs(ycc_in[..., 1:] - ycc_clean[..., 1:]).mean()
    assert np.abs(ycc_out[..., 0] - ycc_in[..., 0]).mean() < 0.01        # luminance kept


def test_patch_resynthesis_rebuilds_texture_from_the_painting():
    canvas = painting(48, 48, seed=4)
    mask = np.zeros((48, 48), bool)
    mask[16:32, 16:32] = True
    damaged = canvas.copy()
    rng = np.random.default_rng(5)
    damaged[mask] += 0.2 * rng.standard_normal((int(mask.sum()), 3)).astype(np.float32)
    damaged = np.clip(damaged, 0, 1)
    out = patch_resynthesis(damaged, canvas, mask, patch=5, stride=2, style_stride=1, detail_sigma=1.0)
    assert np.abs(out - canvas)[mask].mean() < 0.7 * np.abs(damaged - canvas)[mask].mean()
    far = ~np.pad(mask, 0)
    far[12:36, 12:36] = False
    assert np.array_equal(out[far], damaged[far])
    # with no usable source patch the image is returned as it was
    none = patch_resynthesis(damaged, canvas, mask, patch=5, painting_valid=np.zeros((48, 48), bool))
    assert np.array_equal(none, damaged)
    # excluded source patches are never used: a painting that is bright only where excluded
    bright = canvas.copy()
    bright[:, 24:] = 1.0
    valid = np.zeros((48, 48), bool)
    valid[:, :20] = True
    out = patch_resynthesis(damaged, bright, mask, patch=5, stride=2, style_stride=1, detail_sigma=1.0,
                            painting_valid=valid)
    assert np.abs(out - canvas)[mask].mean() < 0.7 * np.abs(damaged - canvas)[mask].mean()


def test_auto_weights_follow_the_painting_and_strength():
    smooth = np.full((64, 64, 3), 0.5, np.float32) + np.linspace(0, 0.2, 64, dtype=np.float32)[None, :, None]
    rng = np.random.default_rng(6)
    textured = np.clip(smooth + 0.15 * rng.standard_normal((64, 64, 3)).astype(np.float32), 0, 1)
    a, b = auto_weights(smooth, 0.5), auto_weights(textured, 0.5)
    assert b["style"] > a["style"] and b["tv"] < a["tv"]
    assert b["features"] > a["features"] > 0
    # The outline smoothing is on for a smooth painting and off for a noisy one (it would leave a band).
    assert a["seam_tv"] > 1.0 and b["seam_tv"] < 1e-3
    assert auto_weights(textured, 0.0)["style"] == 0.0
    assert auto_weights(textured, 1.0)["style"] > b["style"] > auto_weights(textured, 0.2)["style"]


def test_cli_harmonize_and_bad_mask(tmp_path, capsys):
    from painterly.cli.main import main
    canvas = painting(64, 64, seed=7)
    composite, mask = paste(canvas, 20, 20, 16)
    save_image(tmp_path / "composite.png", composite)
    save_image(tmp_path / "painting.png", canvas)
    from PIL import Image
    Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "empty.png")
    out = tmp_path / "out.png"
    rc = main(["harmonize", str(tmp_path / "composite.png"), "--mask", str(tmp_path / "mask.png"),
               "--style", str(tmp_path / "painting.png"), "-o", str(out), "--quality", "preview",
               "--iterations", "3", "--network", "vgg16", "--device", "cpu", "--quiet",
               "--save-passes", str(tmp_path / "passes")])
    assert rc == 0 and out.is_file()
    assert {p.name for p in (tmp_path / "passes").iterdir()} >= {"pass1.png", "pass2.png", "post.png"}
    result, original = load_image(out).rgb, load_image(tmp_path / "composite.png").rgb
    far = masklib.dilate(mask, 11) <= 0
    assert np.array_equal(result[far], original[far])
    rc = main(["harmonize", str(tmp_path / "composite.png"), "--mask", str(tmp_path / "empty.png"),
               "-o", str(tmp_path / "x.png"), "--quiet", "--device", "cpu"])
    assert rc == 2 and "empty" in capsys.readouterr().err


def test_working_tensors_are_contiguous_for_lbfgs():
    """L-BFGS flattens gradients with view(): a permuted H×W×3 → 1×3×H×W tensor must not reach it as is."""
    from painterly.engine.optimize import optimize
    rgb = np.random.default_rng(8).random((16, 24, 3), dtype=np.float32)
    assert croplib.to_tensor(rgb).is_contiguous()
    permuted = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    out = optimize(permuted, lambda im: (((im - 0.5) ** 2).sum(), {}), 2)
    assert out.shape == permuted.shape


def test_tiny_composite_with_a_big_mask_works_or_says_what_to_do():
    """A selection covering almost all of a tiny composite leaves no painting for the style: either the
    clean painting fixes it, or the user gets a one-line MaskError naming the remedy."""
    canvas = painting(40, 32)
    composite, mask = canvas.copy(), np.zeros((40, 32), np.float32)
    mask[3:37, 3:29] = 1.0
    composite[mask > 0] = [0.9, 0.9, 0.95]
    params = {"quality": "preview", "iterations": 1, "size": 32, "network": "vgg16"}
    with pytest.raises(MaskError, match="select less"):
        engine.run_output("harmonize", {"composite": composite, "mask": mask}, params, device="cpu")
    out = engine.run_output("harmonize", {"composite": composite, "mask": mask, "style": canvas},
                            dict(params, resynthesis=0), device="cpu")
    assert out.rgb.shape == composite.shape and np.isfinite(out.rgb).all()
    result, outside = out.composite_over(composite), out.alpha <= 0
    assert np.array_equal(result[outside], composite[outside])
    assert np.abs(result - composite)[mask > 0].mean() > 1e-3        # the object did change


def test_a_clean_painting_barely_visible_around_the_selection_still_serves_as_style():
    """A thin border of painting is left around the selection: too thin for a feature cell of its own, so
    the clean painting is used whole rather than failing (as the apps' small test scenes need)."""
    canvas = painting(96, 96)
    composite, mask = paste(canvas, 14, 14, 68)
    out = engine.run_output("harmonize", {"composite": composite, "mask": mask, "style": canvas},
                            {"quality": "preview", "iterations": 3, "size": 64, "network": "vgg16"}, device="cpu")
    assert np.abs(out.composite_over(composite) - composite)[mask > 0].mean() > 1e-3


def _objective_parts(seed=9):
    from painterly.engine.features import get_extractor
    from painterly.engine.methods.harmonize import ALL_LAYERS
    extractor = get_extractor(ALL_LAYERS, "vgg16", "avg", "cpu")
    canvas = croplib.to_tensor(painting(48, 48, seed=seed))
    composite_np, mask_np = paste(painting(48, 48, seed=seed), 12, 12, 24)
    return extractor, canvas, croplib.to_tensor(composite_np), croplib.to_tensor(mask_np)


def test_mapped_feature_term_pulls_each_feature_towards_its_match():
    """The patch-based term: optimising it alone moves the object's features to the mapped painting
    features (what the local style distance measures), and only inside the mask."""
    from painterly.engine.methods.harmonize import HarmonyObjective
    from painterly.engine.optimize import optimize
    extractor, canvas, composite, mask = _objective_parts()
    with torch.no_grad():
        mapped = {layer: f for layer, f in extractor(canvas).items() if layer in ("relu3_1", "relu4_1")}
    weights = {"content": 0.0, "style": 0.0, "histogram": 0.0, "tv": 0.0, "features": 1.0}
    objective = HarmonyObjective(extractor, composite, composite, mask, mask, {}, {}, weights, mapped)
    before = objective(composite)[1]["features"]
    seen = objective.composite(optimize(composite, objective, 15))
    after = objective(seen)[1]["features"]
    assert after < 0.5 * before
    outside = mask[0, 0] == 0
    assert torch.equal(seen[0, :, outside], composite[0, :, outside])   # the painting around is not touched


def test_context_gram_mix_moves_targets_to_the_painting_outside_the_object():
    from painterly.engine.losses import masked_gram_matrix
    from painterly.engine.methods.harmonize import HarmonyObjective
    extractor, canvas, composite, mask = _objective_parts(seed=10)
    with torch.no_grad():
        feats = extractor(composite)
    targets = {layer: feats[layer] for layer in ("relu2_1", "relu3_1")}
    weights = {"content": 1.0, "style": 1.0, "histogram": 0.0, "tv": 0.0}
    objective = HarmonyObjective(extractor, composite, composite, mask, mask, targets, {}, weights)
    original = {layer: objective.grams[layer][0].clone() for layer in targets}
    objective.mix_context_grams(feats, mask, 0.5)
    for layer in targets:
        context = masked_gram_matrix(feats[layer], 1.0 - mask)
        assert torch.allclose(objective.grams[layer][0], 0.5 * original[layer] + 0.5 * context, atol=1e-5)
        assert not torch.allclose(context, original[layer], rtol=0.05)   # the mix did move the target


def test_the_object_does_not_take_on_what_it_hides():
    """With the clean painting as style, the part of it the object covers is not a source: copied onto
    the object it would make it see-through. Here only that hidden part is red; the object gets no redder."""
    clean = painting(96, 96)
    clean[..., 0] *= 0.3                                     # a blue-green painting...
    composite, mask = paste(clean, 30, 30, 36)
    clean[30:66, 30:66] = [0.95, 0.05, 0.05]                 # ...red only where the object hides it
    out = engine.run_output("harmonize", {"composite": composite, "mask": mask, "style": clean},
                            {"quality": "preview", "iterations": 30, "size": 96, "network": "vgg16"}, device="cpu")
    result, inside = out.composite_over(composite), mask > 0.5
    red = lambda rgb: float((rgb[..., 0] - rgb[..., 1:].mean(axis=-1))[inside].mean())
    assert np.abs(result - composite)[inside].mean() > 0.02       # the object was repainted
    assert red(result) < red(composite), (red(composite), red(result))   # no redder than pasted

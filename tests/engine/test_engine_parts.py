import numpy as np
import pytest
import torch

from painterly.engine import CancelToken, Cancelled, ImageError, MaskError, load_image, load_mask, save_image
from painterly.engine.device import select_device
from painterly.engine.masks import blend_weights, bounding_box, check_mask, composite
from painterly.engine.optimize import ProgressCounter, optimize, warm_up
from painterly.engine.pyramid import Pyramid, coarse_to_fine, resize


def test_png_16bit_round_trip_keeps_depth_and_alpha(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.random((7, 9, 3), dtype=np.float32)
    alpha = rng.random((7, 9), dtype=np.float32)
    save_image(tmp_path / "x.png", rgb, alpha, bit_depth=16)
    loaded = load_image(tmp_path / "x.png")
    assert loaded.bit_depth == 16 and loaded.size == (9, 7)
    assert np.abs(loaded.rgb - rgb).max() < 1e-4       # 8-bit would be off by up to 2e-3
    assert np.abs(loaded.alpha - alpha).max() < 1e-4


def test_png_8bit_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (5, 6, 3)).astype(np.float32) / 255
    save_image(tmp_path / "x.png", pixels)
    loaded = load_image(tmp_path / "x.png")
    assert loaded.bit_depth == 8 and loaded.alpha is None
    assert np.array_equal(loaded.rgb, pixels)


def test_mask_from_alpha_or_grey_thresholded_or_soft(tmp_path):
    alpha = np.zeros((4, 4), np.float32)
    alpha[1:3, 1:3] = 0.6
    save_image(tmp_path / "cutout.png", np.ones((4, 4, 3), np.float32), alpha)
    assert load_mask(tmp_path / "cutout.png").sum() == 4                       # alpha > 0.5
    assert load_mask(tmp_path / "cutout.png", threshold=None).max() == pytest.approx(0.6, abs=0.01)
    grey = np.zeros((4, 4, 3), np.float32)
    grey[0] = 1
    save_image(tmp_path / "grey.png", grey)
    assert load_mask(tmp_path / "grey.png").sum() == 4
    with pytest.raises(ImageError, match="mask .* is 4x4 but the image is 5x4"):
        load_mask(tmp_path / "grey.png", size=(5, 4))


def test_missing_or_broken_image_is_a_clear_error(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path / "broken.png")


def test_empty_and_mis_sized_masks_are_refused():
    with pytest.raises(MaskError, match="empty"):
        check_mask(np.zeros((4, 4)), (4, 4))
    with pytest.raises(MaskError, match="is 4x3 but the image is 4x4"):
        check_mask(np.ones((3, 4)), (4, 4))


def test_blend_weights_are_exactly_zero_far_from_the_mask_and_composite_copies_there():
    mask = np.zeros((40, 40), np.float32)
    mask[15:25, 15:25] = 1
    weights = blend_weights(mask, dilation=3, feather_radius=4)
    # mask + dilation fully replaced
    assert weights[12:28, 15:25].min() == pytest.approx(1.0) and weights[15:25, 12:28].min() == pytest.approx(1.0)
    top, left, bottom, right = bounding_box(weights)
    assert (top, left) >= (15 - 10, 15 - 10) and bottom <= 25 + 10 and right <= 25 + 10
    assert weights[10, 20] < 1 and weights[2, 2] == 0
    rng = np.random.default_rng(2)
    original, result = rng.random((40, 40, 3), np.float32), rng.random((40, 40, 3), np.float32)
    out = composite(result, original, weights)
    assert np.array_equal(out[weights == 0], original[weights == 0])
    assert np.allclose(out[weights == 1], result[weights == 1])


def test_pyramid_sizes_and_iteration_split():
    pyramid = Pyramid(levels=3, min_side=64)
    assert pyramid.sizes(512, 384) == [(128, 96), (256, 192), (512, 384)]
    assert Pyramid(levels=3, min_side=150).sizes(512, 384) == [(256, 192), (512, 384)]
    split = pyramid.iterations(100, 3)
    assert sum(split) == 100 and split[0] > split[1] > split[2]


def test_a_finer_level_starts_with_the_detail_the_coarser_level_could_not_hold():
    """With no iterations, coarse to fine must give back the starting image, not a blurred copy of it."""
    content = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    run = lambda detail: coarse_to_fine(content, [content], [(32, 32), (64, 64)], [0, 0],  # noqa: E731
                                        lambda c, s: None, lambda c, s: c.clone(), restore_detail=detail)
    assert float((run(True) - content).abs().mean()) < 0.01
    assert float((run(False) - content).abs().mean()) > 0.1


def test_a_time_budget_stops_each_level_at_its_share():
    """A machine slower than planned for (here 50 ms an evaluation) still finishes near the budget, every
    level having run; without a budget all iterations run."""
    import time

    def objective_at(content, styles):
        def loss(x):
            time.sleep(0.05)
            return ((x - 0.5) ** 2).mean(), {}
        return loss

    warm_up()  # the first optimiser of a process pays a one-off import
    content = torch.rand(1, 3, 16, 16)
    for budget, expected in ((0.4, range(2, 10)), (None, [24])):
        counter = ProgressCounter(24)
        start = time.monotonic()
        coarse_to_fine(content, [content], [(8, 8), (16, 16)], [16, 8], objective_at, lambda c, s: c.clone(),
                       counter, budget=budget)
        assert counter.done in expected, (budget, counter.done)
        assert budget is None or time.monotonic() - start < budget + 0.3


def test_optimizer_lowers_the_loss_with_both_optimizers():
    target = torch.rand(1, 3, 8, 8)
    for name in ("lbfgs", "adam"):
        losses = []
        counter = ProgressCounter(20, callback=lambda p: losses.append(p.losses["total"]))
        optimize(torch.zeros(1, 3, 8, 8), lambda x: (((x - target) ** 2).mean(), {}), 20, name,
                 lr=0.1 if name == "adam" else None, counter=counter)
        assert len(losses) == 20 and losses[-1] < 0.1 * losses[0], name


def test_bounded_optimisation_returns_an_image_as_good_as_the_loss_it_reached():
    """The output is clamped to [0, 1]: an optimiser that reaches its loss with values outside the range
    hands back a worse image than the one it reports. Here the left half wants 1.6 and the right half
    0.5 below the left: unbounded, both end above 1 and clamp to 1."""
    def loss(x):
        left, right = x[..., :4], x[..., 4:]
        return ((left - 1.6) ** 2).mean() + 10 * ((right - left + 0.5) ** 2).mean(), {}

    start = torch.full((1, 3, 8, 8), 0.5)
    final = {b: float(loss(optimize(start, loss, 30, "lbfgs", bounded=b))[0]) for b in (False, True)}
    assert final[True] < 0.4 < 2.0 < final[False], final


def test_sharp_downscaling_keeps_fine_detail_that_area_averaging_smears():
    """Stripes of a 5 px period, downscaled by 0.68 (still above the new Nyquist limit)."""
    x = torch.arange(300, dtype=torch.float32)
    stripes = (0.5 + 0.4 * torch.sin(2 * torch.pi * x / 5.0)).expand(1, 3, 300, 300).contiguous()
    kept = {sharp: float(resize(stripes, (204, 204), sharp=sharp)[0, 0, 100].std() / stripes[0, 0, 0].std())
            for sharp in (False, True)}
    assert kept[True] > 0.85 and kept[False] < 0.8, kept


def test_cancel_token_stops_within_one_iteration():
    token = CancelToken()
    seen = []

    def on_progress(p):
        seen.append(p.iteration)
        if p.iteration == 3:
            token.cancel()

    counter = ProgressCounter(100, on_progress, token)
    with pytest.raises(Cancelled):
        optimize(torch.zeros(1, 3, 4, 4), lambda x: ((x - 1).pow(2).mean(), {}), 100, counter=counter)
    assert seen == [1, 2, 3]


def test_explicit_missing_device_is_an_error():
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            select_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        select_device("tpu")


@pytest.mark.parametrize("hw, box", [((409, 512), (233, 320, 374, 490)),   # touches the right border
                                     ((301, 203), (0, 5, 301, 190)),        # spans an odd-sized image
                                     ((600, 800), (100, 101, 237, 350))])
def test_a_selection_at_full_scale_is_worked_on_pixel_for_pixel(hw, box):
    """A crop resampled by a factor like 255/256 and back loses the result's finest strokes; with
    ``exact`` the region's working size is its own size and it still covers the selection."""
    from painterly.engine import crop as croplib
    mask = np.zeros(hw, np.float32)
    mask[box[0] + 20:box[2] - 20, box[1] + 20:box[3] - 20] = 1
    plan = croplib.plan_crop(mask, 4096, reach=8, context=0.0, exact=True)
    top, left, bottom, right = plan.region
    assert plan.scale == 1.0 and plan.region_work == (bottom - top, right - left)
    support = bounding_box(mask, margin=8 + 1)
    assert top <= support[0] and left <= support[1] and bottom >= support[2] and right >= support[3]
    assert 0 <= top and 0 <= left and bottom <= hw[0] and right <= hw[1]
    rounded = croplib.plan_crop(mask, 4096, reach=8, context=0.0)       # the default rounds to multiples of 8
    assert all(s % 8 == 0 for s in rounded.region_work)

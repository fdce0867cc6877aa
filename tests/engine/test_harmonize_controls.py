"""harmonize's controls as a user sees them: strength 0..1 moves the result monotonically from the pasted
object towards the painting, a time budget is kept, and the bench's shape measure tells a kept object
from an erased one."""
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from painterly import engine
from painterly.engine.methods.harmonize_budget import FINE_ITERATIONS, Stage, plan_stages

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench_metrics():
    spec = importlib.util.spec_from_file_location("harmony_metrics", BENCH / "harmony_metrics.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("harmony_metrics", module)
    spec.loader.exec_module(module)
    return module


metrics = _bench_metrics()


def painting(h, w, seed=0):
    """Diagonal strokes over a colour gradient."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([0.35 + 0.3 * x, 0.45 + 0.2 * y, 0.6 - 0.2 * x], axis=2)
    strokes = 0.12 * np.sin(40 * (x + 0.5 * y))[..., None] + 0.03 * rng.standard_normal((h, w, 1))
    return np.clip(base + strokes, 0, 1).astype(np.float32)


def paste_object(canvas, top, left, size):
    """A dark disc with a light bar across it: a shape with its own light/dark pattern."""
    composite, mask = canvas.copy(), np.zeros(canvas.shape[:2], np.float32)
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    disc = x * x + y * y <= (size / 2) ** 2
    patch = np.where(np.abs(y)[..., None] < size / 8, [0.95, 0.9, 0.8], [0.08, 0.08, 0.12])
    region = composite[top:top + size, left:left + size]
    region[disc] = patch[disc]
    mask[top:top + size, left:left + size][disc] = 1.0
    return composite, mask


def test_shape_measure_is_one_for_the_paste_and_low_for_an_erased_object():
    canvas = painting(96, 128)
    composite, mask = paste_object(canvas, 24, 40, 48)
    assert metrics.shape_retention(composite, composite, mask) == pytest.approx(1.0)
    assert metrics.shape_retention(canvas, composite, mask) < 0.5
    # texture and a change of overall brightness do not count against the shape
    rng = np.random.default_rng(1)
    repainted = np.clip(0.7 * composite + 0.2 + 0.05 * rng.standard_normal(composite.shape), 0, 1)
    assert metrics.shape_retention(repainted.astype(np.float32), composite, mask) > 0.95
    # a ghost (the object faded three quarters into the painting) is measurably less kept
    ghost = np.where(mask[..., None] > 0, 0.25 * composite + 0.75 * canvas, composite).astype(np.float32)
    assert metrics.shape_retention(ghost, composite, mask) < metrics.shape_retention(repainted, composite, mask)


def test_strength_zero_is_the_paste_and_strength_moves_shape_and_style_monotonically():
    canvas = painting(96, 128, seed=2)
    composite, mask = paste_object(canvas, 24, 40, 48)
    inputs = {"composite": composite, "mask": mask, "style": canvas}
    base = {"quality": "preview", "iterations": 16, "size": 128, "network": "vgg16"}
    np.testing.assert_allclose(engine.run("harmonize", inputs, dict(base, strength=0.0), device="cpu"), composite,
                               atol=1e-6)
    measure = metrics.Metrics(canvas, composite, mask, masks_dilated(mask))
    rows = []
    for strength in (0.0, 0.25, 0.5, 1.0):
        result = engine.run("harmonize", inputs, dict(base, strength=strength), device="cpu")
        rows.append(measure.all(result))
    # the shape measure and both style distances only go down as strength goes up
    for key, slack, least in (("shape", 0.005, 0.005), ("global", 0.01, 0.02), ("local", 0.01, 0.02)):
        values = [r[key] for r in rows]
        assert (np.diff(values) <= slack).all(), (key, values)
        assert values[0] - values[-1] > least, (key, values)


def masks_dilated(mask):
    from scipy import ndimage
    return ndimage.binary_dilation(mask > 0, iterations=20).astype(np.float32)


def test_the_time_budget_is_kept():
    canvas = painting(240, 320, seed=3)
    composite, mask = paste_object(canvas, 60, 100, 120)
    inputs = {"composite": composite, "mask": mask, "style": canvas}
    engine.run_output("harmonize", inputs, {"quality": "preview", "iterations": 1, "network": "vgg16"},
                      device="cpu")                          # load the network: not part of the measurement
    for budget in (3.0, 6.0):
        start = time.monotonic()
        engine.run_output("harmonize", inputs, {"quality": "final", "budget": budget, "network": "vgg16"},
                          device="cpu")
        assert abs(time.monotonic() - start - budget) <= 0.2 * budget


def test_plan_spends_a_fast_machine_on_resolution_then_iterations():
    native = 300 * 300
    slow_draft, slow_fine = plan_stages(50.0, "final", 2e-5, native)
    fast_draft, fast_fine = plan_stages(50.0, "final", 2e-8, native)
    assert slow_draft.pixels < slow_fine.pixels < native and slow_fine.pass2 == FINE_ITERATIONS
    assert fast_fine is None and fast_draft.pixels == native and fast_draft.iterations > slow_draft.iterations
    # the preview is the final's draft; a bigger budget buys a sharper refinement
    assert plan_stages(7.0, "preview", 2e-5, native) == (slow_draft, None)
    assert plan_stages(100.0, "final", 2e-5, native)[1].pixels > slow_fine.pixels
    assert isinstance(slow_draft, Stage)


def test_value_keeping_matches_prefer_painting_cells_of_the_objects_value():
    """Two painting regions with the same texture, one dark and one light: a plain match cannot tell
    them apart; with the values, a dark object cell maps to the dark region."""
    import torch

    from painterly.engine.matching import nearest_patches
    g = torch.Generator().manual_seed(4)
    texture = torch.randn(1, 8, 6, 6, generator=g)
    style = torch.cat([texture, texture], dim=3)                  # left half dark, right half light
    style_values = torch.cat([torch.full((1, 1, 6, 6), 0.1), torch.full((1, 1, 6, 6), 0.9)], dim=3)
    content = texture[..., 1:4, 1:4].clone()
    centre = torch.tensor([4])                                    # (1, 1) of the 3×3 content
    for value, half in ((0.1, range(0, 6)), (0.9, range(6, 12))):
        values = (torch.full((1, 1, 3, 3), value), style_values)
        match = int(nearest_patches(content, style, 3, centre, values=values, value_weight=2.0)[centre])
        assert match % 12 in half


def test_a_smooth_mid_tone_object_on_line_art_is_matched_to_hatching_not_to_blank_paper():
    """Line art renders a mid-tone only as lines on paper. A smooth mid-grey object's features resemble the
    blank paper's, and cell by cell the hatching is either darker (a line) or as light as the paper (the gap),
    so luminance alone keeps the paper. In the painting's tonal ranks the object is a hatched tone."""
    import torch

    from painterly.engine.matching import nearest_patches
    from painterly.engine.methods.harmonize_targets import VALUE_WEIGHT, value_maps
    g = torch.Generator().manual_seed(6)
    paper = torch.rand(8, generator=g)
    style = paper.view(1, 8, 1, 1).repeat(1, 1, 12, 24)
    lines = torch.zeros(12, 24, dtype=torch.bool)
    lines[:, 12::2] = True                                        # right half: a line every other column
    hatch_gap, hatch_line = paper + 0.5 * torch.rand(8, generator=g), paper + 0.5 * torch.rand(8, generator=g)
    style[0, :, :, 12:] = torch.where(lines[:, 12:], hatch_line[:, None, None], hatch_gap[:, None, None])
    style_luma = torch.where(lines, 0.1, 0.85).view(1, 1, 12, 24)
    content = paper.view(1, 8, 1, 1).repeat(1, 1, 5, 5) + 0.01 * torch.randn(1, 8, 5, 5, generator=g)
    content_luma = torch.full((1, 1, 5, 5), 0.55)                 # smooth, a mid-tone
    centre = torch.tensor([12])

    def matched_column(values):
        return int(nearest_patches(content, style, 3, centre, None, values, VALUE_WEIGHT)[centre]) % 24
    assert matched_column((content_luma, style_luma)) < 12                               # luminance: paper
    assert matched_column(value_maps((content_luma, style_luma), (5, 5), (12, 24), None)) >= 12  # ranks: hatching


def test_the_shape_term_holds_a_fading_objects_contrast():
    """A ghost (the object faded into the painting) keeps its coarse pattern, so the correlation alone does
    not see it; the term's contrast hinge does, and leaves the paste itself alone."""
    from painterly.engine.convert import to_tensor
    from painterly.engine.methods.harmonize_objective import ShapeTerm
    canvas = painting(96, 128, seed=5)
    composite, mask = paste_object(canvas, 24, 40, 48)
    ghost = np.where(mask[..., None] > 0, 0.3 * composite + 0.7 * canvas.mean((0, 1)), composite)
    term = ShapeTerm(to_tensor(composite), to_tensor(mask), 3.0, 0.9, 1.0, contrast=0.9)
    paste_loss, paste_corr = term(to_tensor(composite))
    ghost_loss, ghost_corr = term(to_tensor(ghost.astype(np.float32)))
    assert float(paste_loss) == pytest.approx(0.0, abs=1e-9) and float(paste_corr) == pytest.approx(1.0, abs=1e-4)
    assert float(ghost_corr) > 0.9                  # the pattern is still there ...
    assert float(ghost_loss) > 0.1                  # ... but the contrast is not


def test_the_speed_follows_what_jobs_took_not_a_disturbed_probe(monkeypatch):
    """A probe taken while another program ran (20× too slow) is replaced by the first timed job."""
    import types

    import torch

    from painterly.engine.methods import harmonize_budget as budget
    monkeypatch.setattr(budget, "_SPEED", {})
    extractor, device = types.SimpleNamespace(network="vgg16", layers=("relu1_1",)), torch.device("cpu")
    budget._SPEED[budget._key(extractor, device)] = (20e-6, False)          # the disturbed probe
    budget.record_speed(extractor, device, seconds=1.0, iterations=10, pixels=100_000)
    assert budget.seconds_per_pixel(extractor, device) == pytest.approx(1e-6)
    budget.record_speed(extractor, device, seconds=4.0, iterations=10, pixels=100_000)
    assert budget.seconds_per_pixel(extractor, device) == pytest.approx(2e-6)   # averaged with the first job


def test_given_iterations_the_result_does_not_depend_on_the_machine_or_the_clock(monkeypatch):
    """Batch jobs, clusters and reruns compare results bit for bit: a job with explicit iterations plans
    without measuring this machine and runs all its iterations however slow the machine is."""
    canvas = painting(96, 128, seed=5)
    composite, mask = paste_object(canvas, 24, 40, 48)
    inputs = {"composite": composite, "mask": mask, "style": canvas}
    params = {"quality": "final", "iterations": 6, "network": "vgg16"}
    done = []
    first = engine.run_output("harmonize", inputs, params, device="cpu", progress=lambda p: done.append(p.iteration))
    from painterly.engine import optimize
    from painterly.engine.methods import harmonize
    monkeypatch.setattr(harmonize, "seconds_per_pixel", lambda *a: 1.0)           # a very slow machine ...
    clock = iter(range(0, 10**9, 1000))
    monkeypatch.setattr(optimize.time, "monotonic", lambda: float(next(clock)))  # ... whose seconds fly
    again = engine.run_output("harmonize", inputs, params, device="cpu", progress=lambda p: done.append(p.iteration))
    assert done.count(6) == 2                                                     # every iteration ran, twice
    assert np.array_equal(first.rgb, again.rgb) and np.array_equal(first.alpha, again.alpha)

"""Feature matching for harmonize: nearest patches, consistency refinement, mapping propagation, and the
histogram loss."""
import torch

from painterly.engine.histogram import HistogramLoss, match_histograms
from painterly.engine.matching import consistency_refine, gather, identity_mapping, nearest_patches, \
    upsample_mapping


def flat(y, x, width):
    return y * width + x


def test_nearest_patches_finds_the_exact_patch_the_painting_contains():
    g = torch.Generator().manual_seed(0)
    style = torch.randn(1, 8, 14, 16, generator=g)
    y0, x0, h, w = 5, 7, 5, 6
    content = style[..., y0:y0 + h, x0:x0 + w].clone()
    # Interior content positions: their 3×3 patches are not zero padded, so the painting holds them exactly.
    inner = torch.tensor([flat(y, x, w) for y in range(1, h - 1) for x in range(1, w - 1)])
    mapping = nearest_patches(content, style, 3, inner)
    expected = torch.tensor([flat(y + y0, x + x0, 16) for y in range(1, h - 1) for x in range(1, w - 1)])
    assert torch.equal(mapping[inner], expected)
    # the gathered features are the content's own features there
    mapped = gather(style, mapping, (h, w))
    assert torch.allclose(mapped.reshape(8, -1)[:, inner], content.reshape(8, -1)[:, inner])


def test_nearest_patches_respects_excluded_style_positions_and_is_scale_invariant():
    g = torch.Generator().manual_seed(1)
    style = torch.randn(1, 4, 10, 10, generator=g)
    content = 3.0 * style[..., 2:7, 2:7].clone()          # brighter copy: NCC still finds it
    centre = torch.tensor([flat(2, 2, 5)])
    assert int(nearest_patches(content, style, 3, centre)[centre]) == flat(4, 4, 10)
    valid = torch.ones(10, 10, dtype=torch.bool)
    valid[4, 4] = False
    assert int(nearest_patches(content, style, 3, centre, valid)[centre]) != flat(4, 4, 10)


def test_nearest_patches_in_chunks_matches_one_block(monkeypatch):
    import painterly.engine.matching as matching
    g = torch.Generator().manual_seed(2)
    style, content = torch.randn(1, 6, 12, 12, generator=g), torch.randn(1, 6, 7, 9, generator=g)
    whole = nearest_patches(content, style)
    monkeypatch.setattr(matching, "_SCORE_BLOCK", 50)
    assert torch.equal(nearest_patches(content, style), whole)


def test_consistency_refinement_replaces_an_outlier_by_the_coherent_match():
    g = torch.Generator().manual_seed(3)
    style = torch.randn(1, 16, 12, 12, generator=g)
    h = w = 6
    shift = (2, 3)
    mapping = torch.tensor([flat(y + shift[0], x + shift[1], 12) for y in range(h) for x in range(w)])
    outlier = flat(3, 2, w)
    broken = mapping.clone()
    broken[outlier] = flat(11, 0, 12)
    refined = consistency_refine(broken, style, (h, w))
    assert torch.equal(refined, mapping)
    # a coherent mapping is a fixed point
    assert torch.equal(consistency_refine(mapping, style, (h, w)), mapping)
    # positions outside the mask keep their match and do not vote
    mask = torch.ones(h, w, dtype=torch.bool)
    mask[3, 2] = False
    assert int(consistency_refine(broken, style, (h, w), mask)[outlier]) == flat(11, 0, 12)


def test_upsample_mapping_keeps_offsets_inside_each_cell():
    coarse = identity_mapping((3, 4), (5, 6))
    coarse = coarse + 1 * 6 + 2                       # shift by (1, 2) in a 5×6 style layer
    fine = upsample_mapping(coarse, (3, 4), (5, 6), 2, (6, 8), (10, 12))
    ys, xs = fine // 12, fine % 12
    assert torch.equal(ys.reshape(6, 8), (torch.arange(6)[:, None] + 2).expand(6, 8))
    assert torch.equal(xs.reshape(6, 8), (torch.arange(8)[None, :] + 4).expand(6, 8))


def test_match_histograms_takes_target_values_in_source_rank_order():
    source = torch.tensor([[3.0, 1.0, 2.0], [0.0, -1.0, 5.0]])
    target = torch.tensor([[10.0, 30.0, 20.0], [7.0, 8.0, 9.0]])
    out = match_histograms(source, target)
    assert torch.equal(out, torch.tensor([[30.0, 10.0, 20.0], [8.0, 7.0, 9.0]]))
    # different sample counts: quantiles are interpolated
    out = match_histograms(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 2.0, 3.0]]))
    assert torch.allclose(out, torch.tensor([[1.0, 3.0]]))


def test_histogram_loss_gradient_pulls_values_to_the_target_distribution():
    g = torch.Generator().manual_seed(4)
    target = torch.randn(1, 3, 4, 4, generator=g) * 2 + 1
    mask = torch.ones(1, 1, 4, 4)
    loss_fn = HistogramLoss(target, mask)
    # features with the same histogram (a permutation of the target) have zero loss
    perm = target.reshape(3, -1)[:, torch.randperm(16, generator=g)].reshape(1, 3, 4, 4)
    assert float(loss_fn(perm)) < 1e-12
    x = torch.randn(1, 3, 4, 4, generator=g, requires_grad=True)
    loss = loss_fn(x)
    loss.backward()
    remapped = match_histograms(x.detach().reshape(3, -1), target.reshape(3, -1)).reshape(1, 3, 4, 4)
    expected = 2 * (x.detach() - remapped) / x.numel() / loss_fn.scale
    assert torch.allclose(x.grad, expected, atol=1e-6)
    with torch.no_grad():
        stepped = x - 0.1 * x.grad / x.grad.norm()
    assert float(loss_fn(stepped)) < float(loss.detach())
    # masked-out positions get no gradient
    half = torch.zeros(1, 1, 4, 4)
    half[..., :2, :] = 1
    y = torch.randn(1, 3, 4, 4, generator=g, requires_grad=True)
    HistogramLoss(target, half)(y).backward()
    assert float(y.grad[..., 2:, :].abs().max()) == 0.0
    assert float(y.grad[..., :2, :].abs().max()) > 0.0

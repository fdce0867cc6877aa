import numpy as np
import pytest
import torch

from painterly.engine.losses import (ContentLoss, GramStyleLoss, gram_matrix, masked_gram_matrix, resize_mask,
                                     total_variation)


def test_gram_of_known_tensor():
    # two channels over two positions: f0 = (1, 2), f1 = (3, 4)
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 2  # F Fᵀ / positions
    assert torch.allclose(gram_matrix(features)[0], expected)


def test_masked_gram_equals_gram_of_cropped_region():
    torch.manual_seed(0)
    features = torch.randn(1, 6, 10, 12)
    mask = torch.zeros(10, 12)
    mask[2:7, 3:11] = 1
    assert torch.allclose(masked_gram_matrix(features, mask), gram_matrix(features[..., 2:7, 3:11]), atol=1e-6)


def test_masked_gram_resizes_mask_per_layer():
    """A mask given at image resolution selects the same region at a 4× smaller layer."""
    torch.manual_seed(1)
    features = torch.randn(1, 5, 16, 16)          # e.g. relu3_1 of a 64×64 image
    mask = torch.zeros(64, 64)
    mask[16:48, 8:40] = 1                          # aligned to the 4-px grid of that layer
    assert torch.allclose(masked_gram_matrix(features, mask), gram_matrix(features[..., 4:12, 2:10]), atol=1e-6)


def test_masked_gram_of_a_soft_partial_mask_has_the_weighted_value_and_gradient():
    """Σ m f fᵀ / Σ m, whichever positions the computation visits; gradients included."""
    generator = torch.Generator().manual_seed(3)
    features = torch.randn(1, 6, 12, 10, generator=generator, requires_grad=True)
    mask = torch.rand(12, 10, generator=generator) * (torch.rand(12, 10, generator=generator) > 0.6)
    flat, m = features.reshape(6, -1), mask.reshape(-1)
    expected = (flat * m) @ flat.T / m.sum()
    got = masked_gram_matrix(features, mask)[0]
    assert torch.allclose(got, expected, atol=1e-5)
    weights = torch.randn(6, 6, generator=generator)
    grad_got, = torch.autograd.grad((got * weights).sum(), features)
    grad_expected, = torch.autograd.grad((expected * weights).sum(), features)
    assert torch.allclose(grad_got, grad_expected, atol=1e-5)


def test_masked_gram_ignores_everything_outside_the_mask():
    torch.manual_seed(2)
    features = torch.randn(1, 4, 8, 8)
    mask = torch.zeros(8, 8)
    mask[:4] = 1
    changed = features.clone()
    changed[..., 4:, :] += 100
    assert torch.allclose(masked_gram_matrix(features, mask), masked_gram_matrix(changed, mask))
    assert not torch.allclose(gram_matrix(features), gram_matrix(changed))


def test_resize_mask_area_average():
    mask = torch.zeros(4, 4)
    mask[:2, :2] = 1
    mask[2, 2] = 1
    small = resize_mask(mask, (2, 2))[0, 0]
    assert torch.allclose(small, torch.tensor([[1.0, 0.0], [0.0, 0.25]]))


def test_total_variation_constant_is_zero_and_ramp_is_known():
    assert total_variation(torch.full((1, 3, 9, 7), 0.3)).item() == 0.0
    ramp = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 4, 5)  # +1 per column, constant along rows
    assert total_variation(ramp).item() == pytest.approx(1.0)


def test_content_loss_masked_only_counts_the_region():
    target = torch.zeros(1, 2, 4, 4)
    mask = torch.zeros(4, 4)
    mask[:2] = 1
    loss = ContentLoss(target, mask=mask[None, None])
    outside = target.clone()
    outside[..., 2:, :] = 5
    assert loss(outside).item() == 0.0
    inside = target.clone()
    inside[..., :2, :] = 1
    assert loss(inside).item() == pytest.approx(1.0)


def test_gram_style_loss_zero_at_target_and_positive_elsewhere():
    torch.manual_seed(4)
    features = torch.randn(1, 3, 5, 5)
    loss = GramStyleLoss(gram_matrix(features))
    assert loss(features).item() == pytest.approx(0.0, abs=1e-10)
    assert loss(features * 2).item() > 0

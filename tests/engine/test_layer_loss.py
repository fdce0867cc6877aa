"""The fused per-layer loss gives the same values and gradients as the autograd losses it replaces, and
the optimiser stops at a deadline."""
import time

import torch

from painterly.engine.histogram import HistogramLoss
from painterly.engine.layer_loss import LayerLoss
from painterly.engine.losses import ContentLoss, masked_gram_matrix
from painterly.engine.optimize import optimize


def test_fused_terms_match_autograd_values_and_gradients():
    torch.manual_seed(0)
    features = torch.rand(1, 8, 6, 7, dtype=torch.float64)
    mask = torch.rand(1, 1, 6, 7, dtype=torch.float64)
    gram_target = torch.rand(1, 8, 8, dtype=torch.float64)
    gram_target = gram_target + gram_target.transpose(1, 2)          # Gram matrices are symmetric
    feature_target = torch.rand(1, 8, 6, 7, dtype=torch.float64)

    x = features.clone().requires_grad_(True)
    gram = masked_gram_matrix(x, mask)
    reference = 0.7 * ((gram - gram_target) ** 2).mean() / (gram_target.pow(2).mean() + 1e-8)
    reference = reference + 0.3 * ContentLoss(feature_target, mask=mask)(x) / 2.0
    reference = reference + 0.5 * HistogramLoss(feature_target, mask > 0.5)(x)
    reference.backward()

    loss = LayerLoss(features.shape)
    loss.gram("style", 0.7, gram_target, mask)
    loss.mse("features", 0.3, feature_target, mask, scale=2.0)
    positions = (mask.reshape(-1) > 0.5).nonzero()[:, 0]
    loss.histogram("histogram", 0.5, feature_target.reshape(8, -1)[:, positions], positions)
    y = features.clone().requires_grad_(True)
    value = loss(y)
    value.backward()
    assert torch.allclose(value.detach().double(), reference.detach(), rtol=1e-5)
    assert torch.allclose(y.grad, x.grad, rtol=1e-4, atol=1e-7)
    assert set(loss.values) == {"style", "features", "histogram"}


def test_optimize_stops_at_the_deadline():
    image = torch.rand(1, 3, 16, 16)

    def slow_loss(im):
        time.sleep(0.05)
        return ((im - 0.5) ** 2).sum(), {}

    optimize(image, slow_loss, 1)                 # torch initialises lazily on the first call
    start = time.monotonic()
    optimize(image, slow_loss, 1000, deadline=start + 0.3)
    assert time.monotonic() - start < 1.0

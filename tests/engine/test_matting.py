"""Matting Laplacian, the photorealism loss's gradient, closed-form smoothing and affine upsampling."""
import numpy as np
import pytest
import torch

from painterly.engine.matting import (affine_upsample, laplacian_to_torch, matting_laplacian, matting_quadratic,
                                      matting_smooth)


def brute_force_laplacian(image, eps, radius=1):
    """Levin et al.'s definition, one window at a time."""
    h, w, _ = image.shape
    n_win = (2 * radius + 1) ** 2
    lap = np.zeros((h * w, h * w))
    flat = image.reshape(-1, 3)
    for y in range(radius, h - radius):
        for x in range(radius, w - radius):
            idx = [(y + dy) * w + (x + dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
            d = flat[idx] - flat[idx].mean(axis=0)
            inv = np.linalg.inv(d.T @ d / n_win + eps / n_win * np.eye(3))
            lap[np.ix_(idx, idx)] += np.eye(n_win) - (1 + d @ inv @ d.T) / n_win
    return lap


@pytest.fixture
def image():
    return np.random.default_rng(0).random((6, 7, 3))


@pytest.mark.parametrize("eps,radius,shape", [(1e-7, 1, (6, 7)), (1e-2, 1, (5, 9)), (1e-5, 2, (7, 8))])
def test_matches_brute_force(eps, radius, shape):
    img = np.random.default_rng(1).random(shape + (3,))
    fast = matting_laplacian(img, eps, radius).toarray()
    slow = brute_force_laplacian(img, eps, radius)
    np.testing.assert_allclose(fast, slow, atol=1e-9 * np.abs(slow).max())


def test_symmetric_rows_sum_to_zero_constants_in_null_space(image):
    lap = matting_laplacian(image, 1e-5)
    dense = lap.toarray()
    np.testing.assert_allclose(dense, dense.T, atol=1e-9)
    np.testing.assert_allclose(dense.sum(axis=1), 0, atol=1e-8)
    np.testing.assert_allclose(lap @ np.full(dense.shape[0], 0.37), 0, atol=1e-8)
    assert np.linalg.eigvalsh(dense).min() > -1e-8          # positive semi-definite
    assert np.abs(dense).sum() > 1                          # and not trivially zero


def test_locally_affine_recolouring_costs_almost_nothing(image):
    lap = matting_laplacian(image, 1e-7)
    affine = image.reshape(-1, 3) @ np.array([0.5, -0.2, 0.9]) + 0.1
    noise = np.random.default_rng(2).random(affine.shape)
    assert affine @ (lap @ affine) < 1e-3 * (noise @ (lap @ noise))


def test_gradient_matches_finite_differences(image):
    lap = laplacian_to_torch(matting_laplacian(image, 1e-4))
    x = torch.rand(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: matting_quadratic(v, lap), (x,), eps=1e-6, atol=1e-5)
    value = matting_quadratic(x, lap)
    value.backward()
    dense = torch.from_numpy(matting_laplacian(image, 1e-4).toarray())
    columns = x.detach()[0].reshape(3, -1).t()
    np.testing.assert_allclose(float(value.detach()), float((columns * (dense @ columns)).sum()), rtol=1e-10)
    np.testing.assert_allclose(x.grad[0].reshape(3, -1).t().numpy(), (2 * dense @ columns).numpy(), atol=1e-9)


def test_float32_image_gets_float32_gradient(image):
    lap = laplacian_to_torch(matting_laplacian(image))
    x = torch.rand(1, 3, 6, 7, requires_grad=True)
    matting_quadratic(x, lap).backward()
    assert x.grad.dtype == torch.float32 and torch.isfinite(x.grad).all()


def test_wrong_size_is_refused(image):
    lap = laplacian_to_torch(matting_laplacian(image))
    with pytest.raises(ValueError, match="pixels"):
        matting_quadratic(torch.rand(1, 3, 5, 5), lap)


def test_smoothing_keeps_affine_recolouring_and_removes_noise():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:24, 0:24] / 24.0
    content = np.stack([xx, yy, 0.5 * (xx + yy)], axis=2) + 0.05 * rng.random((24, 24, 3))
    recoloured = np.clip(content[..., ::-1] * 0.8 + 0.1, 0, 1)
    lap = matting_laplacian(content, 1e-5)
    kept = matting_smooth(recoloured, laplacian=lap, smoothness=1.0)
    assert np.abs(kept - recoloured).mean() < 0.01
    noisy = np.clip(recoloured + 0.1 * rng.standard_normal(recoloured.shape), 0, 1)
    cleaned = matting_smooth(noisy, content, smoothness=1.0, eps=1e-5)
    assert np.abs(cleaned - recoloured).mean() < 0.6 * np.abs(noisy - recoloured).mean()


def test_affine_upsample_reproduces_a_global_recolouring():
    rng = np.random.default_rng(4)
    full = rng.random((40, 48, 3)).astype(np.float32)
    full = np.asarray(torch.nn.functional.avg_pool2d(torch.from_numpy(full).permute(2, 0, 1)[None], 3, 1, 1)[0]
                      .permute(1, 2, 0))
    small = np.asarray(torch.nn.functional.interpolate(torch.from_numpy(full).permute(2, 0, 1)[None],
                                                       size=(20, 24), mode="area")[0].permute(1, 2, 0))
    matrix = np.array([[0.6, 0.2, 0.0], [0.1, 0.5, 0.2], [0.0, 0.3, 0.6]], np.float32)
    recolour = lambda img: img @ matrix.T + 0.1
    up = affine_upsample(small, recolour(small), full, eps=1e-6)
    assert up.shape == full.shape
    np.testing.assert_allclose(up, np.clip(recolour(full), 0, 1), atol=0.02)


def test_direct_and_iterative_smoothing_agree(monkeypatch):
    import painterly.engine.matting as matting
    rng = np.random.default_rng(6)
    content = rng.random((20, 22, 3))
    stylised = rng.random((20, 22, 3))
    direct = matting_smooth(stylised, content, smoothness=10.0, eps=1e-4)
    monkeypatch.setattr(matting, "DIRECT_SOLVE_MAX_PIXELS", 0)
    iterative = matting_smooth(stylised, content, smoothness=10.0, eps=1e-4, tol=1e-10, max_iterations=5000)
    np.testing.assert_allclose(direct, iterative, atol=1e-4)

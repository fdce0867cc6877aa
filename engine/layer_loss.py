"""All the loss terms on one network layer, evaluated with their gradient in a single pass.

Autograd would build a graph per term (a masked Gram costs one matrix product forward and two
backward) and add each term's gradient into the layer's gradient one by one. Here each term computes its
value and its analytic gradient directly into one buffer (the Gram term needs one product forward and one
for the gradient), and autograd only sees one node per layer whose backward scales that buffer.

A term is added with ``gram``, ``mse`` or ``histogram``; ``LayerLoss(features)`` returns the weighted sum,
differentiable with respect to ``features``, and fills ``values`` with each term's unweighted value.
"""
from __future__ import annotations

import torch

from .histogram import remap_to_quantiles, target_quantiles
from .losses import resize_mask


class _Precomputed(torch.autograd.Function):
    """A scalar whose gradient with respect to ``features`` was computed with it."""

    @staticmethod
    def forward(ctx, features, value, grad):
        ctx.save_for_backward(grad)
        return value.clone()

    @staticmethod
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        return grad * grad_output, None, None


class LayerLoss:
    """Weighted loss terms on one layer's 1×C×H×W features (float32 arithmetic, any input dtype)."""

    def __init__(self, shape):
        _, self.c, self.h, self.w = shape
        self.terms = []
        self.values: dict = {}

    def gram(self, name: str, weight: float, target: torch.Tensor, mask: torch.Tensor):
        """mean((masked Gram − target)²) / mean(target²), the Gram over ``mask`` (soft weights)."""
        m = resize_mask(mask.float(), (self.h, self.w)).reshape(1, -1)
        scale = float(target.pow(2).mean()) + 1e-8
        self.terms.append(("gram", name, weight, (target.reshape(self.c, self.c).float(), m,
                                                  float(m.sum().clamp_min(1e-8)), scale)))

    def mse(self, name: str, weight: float, target: torch.Tensor, mask: torch.Tensor | None, scale: float = 1.0):
        """Σ m·(f − target)² / (Σ m · C) / scale (a plain mean without a mask)."""
        m = None if mask is None else resize_mask(mask.float(), (self.h, self.w)).reshape(1, -1)
        total = float(self.h * self.w if m is None else m.sum().clamp_min(1e-8)) * self.c
        self.terms.append(("mse", name, weight, (target.reshape(self.c, -1).float(), m, total * scale)))

    def histogram(self, name: str, weight: float, target: torch.Tensor, positions: torch.Tensor):
        """mean((f − histogram-matched f)²) / mean(target²) at the flat ``positions``; ``target`` holds the
        target distribution (C×M values)."""
        scale = float(target.pow(2).mean()) + 1e-8
        quantiles = target_quantiles(target.reshape(self.c, -1).float(), positions.numel())
        self.terms.append(("hist", name, weight, (quantiles, positions, scale)))

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        self.values = {}
        with torch.no_grad():
            flat = features.detach().reshape(self.c, -1).float()
            grad = torch.zeros_like(flat)
            total = flat.new_zeros(())
            for kind, name, weight, args in self.terms:
                value = getattr(self, "_" + kind)(flat, grad, weight, *args)
                self.values[name] = self.values.get(name, 0.0) + float(value)
                total += weight * value
        return _Precomputed.apply(features, total.to(features.dtype), grad.reshape(features.shape).to(features.dtype))

    def _gram(self, flat, grad, weight, target, m, msum, scale):
        weighted = flat * m
        diff = weighted @ flat.T / msum - target
        value = diff.pow(2).mean() / scale
        # d/dF Σ(G − T)² with G = F·diag(m)·Fᵀ/Σm and G − T symmetric: 4/Σm · (G − T)·F·diag(m)
        if weight:
            grad.addmm_(diff, weighted, alpha=4.0 * weight / (msum * self.c * self.c * scale))
        return value

    def _mse(self, flat, grad, weight, target, m, norm):
        diff = flat - target
        if m is not None:
            masked = diff * m
            value = (masked * diff).sum() / norm
            if weight:
                grad.add_(masked, alpha=2.0 * weight / norm)
        else:
            value = diff.pow(2).sum() / norm
            if weight:
                grad.add_(diff, alpha=2.0 * weight / norm)
        return value

    def _hist(self, flat, grad, weight, quantiles, positions, scale):
        values = flat[:, positions]
        diff = values - remap_to_quantiles(values, quantiles)
        value = diff.pow(2).mean() / scale
        if weight:
            grad.index_add_(1, positions, diff, alpha=2.0 * weight / (diff.numel() * scale))
        return value

"""Measures of a harmonized composite, used by bench/harmony_quality.py (and its tests).

All images are H×W×3 float32 RGB in [0, 1] at the composite's full size; ``mask`` is the tight object
mask (H×W, 1 inside).

- global: masked Gram distance of VGG19 relu2_1..relu4_1 features, object region vs the painting
  (relative Frobenius norm, lower = closer to the painting's overall statistics);
- local: each relu3_1/relu4_1 feature vector of the region vs its nearest neighbour among the
  painting's feature vectors (relative distance; lower = every part looks like some part of the painting);
- content: relu4_1 change inside the object relative to erasing it (0 = unchanged, 1 = as different as
  the bare painting);
- shape: object-shape retention, the correlation over the object and a band around it of the coarse
  (strongly blurred) luminance of the result and of the naive paste. Fine texture and strokes are
  blurred away and a change of overall brightness or contrast does not count, so it is 1 for the naive
  paste and for any repainting that keeps the object's coarse shape and value pattern, and it falls
  towards the bare painting's value (often near 0) as the object dissolves into its surroundings;
- seam: gradient magnitude in a ±3 px band along the object's boundary relative to the painting's in
  a ±16 px band (1 ≈ no more edge than the painting has there);
- bg: largest change in 8-bit levels outside the dilated mask.

``agreement`` compares two results of the same composite (a preview and the final): 1 − the relu3_1 +
relu4_1 feature distance between them inside the object relative to the naive paste's distance from
the second one (1 = the same, 0 = no closer than the naive paste). ``coarse=True`` first blurs all three
images (Gaussian, 2 px: what a preview at a third of the resolution can show), so the detail only the
final has does not count, only the decisions: colours, values, shapes, strokes.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def to_u8(rgb) -> np.ndarray:
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def shape_scale(mask: np.ndarray) -> float:
    """Blur radius (Gaussian sigma, pixels) of the shape measure: 1/16 of the object's size (the square
    root of its area), so a stroke or a texture element is blurred away but the silhouette, its parts
    and its light/dark pattern are not."""
    return max(2.0, float(np.sqrt((mask > 0.5).sum())) / 16.0)


def shape_retention(result: np.ndarray, naive: np.ndarray, mask: np.ndarray) -> float:
    """Correlation of the coarse luminance of ``result`` and ``naive`` over the object dilated by two blur
    radii (where its silhouette's blurred edge lies)."""
    sigma = shape_scale(mask)
    inside = mask > 0.5
    region = ndimage.distance_transform_edt(~inside) <= 2.0 * sigma
    a = ndimage.gaussian_filter(result.astype(np.float32) @ LUMA, sigma)[region]
    b = ndimage.gaussian_filter(naive.astype(np.float32) @ LUMA, sigma)[region]
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 1.0


class Metrics:
    GRAM_LAYERS = ("relu2_1", "relu3_1", "relu4_1")
    LOCAL_LAYERS = ("relu3_1", "relu4_1")

    def __init__(self, painting, naive, mask, mask_dilated):
        from painterly.engine.features import get_extractor
        self.extractor = get_extractor(("relu2_1", "relu3_1", "relu4_1"), "vgg19", "avg", "cpu")
        self.mask, self.mask_dilated = mask, mask_dilated
        self.naive = naive
        self.painting_u8, self.naive_u8 = to_u8(painting), to_u8(naive)
        self.painting_f = self.features(painting)
        self.naive_f = self.features(naive)
        self.erase_change = self.content_change_raw(self.painting_f)
        self.painting_grad = self.gradient(painting)

    def features(self, rgb):
        with torch.no_grad():
            return self.extractor(torch.from_numpy(np.ascontiguousarray(rgb, np.float32)).permute(2, 0, 1)[None])

    def layer_mask(self, feats, threshold=0.5):
        m = torch.from_numpy(self.mask)[None, None]
        return torch.nn.functional.adaptive_avg_pool2d(m, feats.shape[-2:])[0, 0] > threshold

    def global_style(self, feats):
        from painterly.engine.losses import gram_matrix, masked_gram_matrix
        out = []
        for layer in self.GRAM_LAYERS:
            region = masked_gram_matrix(feats[layer], torch.from_numpy(self.mask)[None, None])
            target = gram_matrix(self.painting_f[layer])
            out.append(float((region - target).norm() / target.norm()))
        return float(np.mean(out))

    def local_style(self, feats):
        out = []
        for layer in self.LOCAL_LAYERS:
            f, p = feats[layer][0], self.painting_f[layer][0]
            c = f.shape[0]
            region = f.reshape(c, -1)[:, self.layer_mask(feats[layer]).reshape(-1)].T
            bank = p.reshape(c, -1).T
            best = torch.cat([torch.cdist(region[i:i + 2048], bank).min(dim=1).values
                              for i in range(0, region.shape[0], 2048)])
            out.append(float(best.mean() / bank.norm(dim=1).mean()))
        return float(np.mean(out))

    def content_change_raw(self, feats):
        inside = self.layer_mask(feats["relu4_1"])
        diff = (feats["relu4_1"] - self.naive_f["relu4_1"])[0][:, inside]
        return float(diff.pow(2).mean())

    def feature_distance(self, feats_a, feats_b):
        """L2 norms of the relu3_1 and relu4_1 feature differences inside the object."""
        out = []
        for layer in self.LOCAL_LAYERS:
            inside = self.layer_mask(feats_a[layer])
            out.append(float((feats_a[layer] - feats_b[layer])[0][:, inside].norm()))
        return out

    def agreement(self, first, second, coarse=False):
        """1 − distance(first, second) / distance(naive, second) in relu3_1/relu4_1 features inside the
        object (1 = identical, 0 = as far from ``second`` as the naive paste is)."""
        def look(rgb):
            return self.features(ndimage.gaussian_filter(rgb, (2, 2, 0)) if coarse else rgb)
        fb = look(second)
        near = self.feature_distance(look(first), fb)
        far = self.feature_distance(look(self.naive) if coarse else self.naive_f, fb)
        return float(np.mean([1.0 - n / max(f, 1e-8) for n, f in zip(near, far)]))

    @staticmethod
    def gradient(rgb):
        from painterly.engine.postprocess import rgb_to_ycc
        ycc = ndimage.gaussian_filter(rgb_to_ycc(rgb), (1, 1, 0))
        mag = 0
        for c in range(3):
            mag = mag + ndimage.sobel(ycc[..., c], 0) ** 2 + ndimage.sobel(ycc[..., c], 1) ** 2
        return np.sqrt(mag)

    def seam(self, rgb):
        inside = self.mask > 0.5
        band = ndimage.binary_dilation(inside, iterations=3) & ~ndimage.binary_erosion(inside, iterations=3)
        wide = ndimage.binary_dilation(inside, iterations=16) & ~ndimage.binary_erosion(inside, iterations=16)
        return float(self.gradient(rgb)[band].mean() / (self.painting_grad[wide].mean() + 1e-8))

    def background(self, rgb):
        outside = self.mask_dilated < 0.5
        diff = np.abs(to_u8(rgb).astype(int) - self.naive_u8.astype(int)).max(axis=2)
        return int(diff[outside].max()) if outside.any() else 0

    def all(self, rgb):
        feats = self.features(rgb)
        content = self.content_change_raw(feats) / max(self.erase_change, 1e-12)
        return {"global": self.global_style(feats), "local": self.local_style(feats), "content": content,
                "shape": shape_retention(rgb, self.naive, self.mask), "seam": self.seam(rgb),
                "bg": self.background(rgb)}

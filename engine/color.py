"""Colour control for style transfer (Gatys, Ecker, Bethge, Hertzmann, Shechtman 2017, "Controlling
Perceptual Factors in Neural Style Transfer"): the style's strokes with the content's own colours.

``keep_colors`` modes, shared by every method that offers them:

* ``off``: the result takes the style's colours.
* ``luminance``: transfer on luminance only. The network sees grey images (the style's luminance shifted
  to the content's mean and spread), and the result's luminance is recombined with the content's own
  chroma (YCbCr, ITU-R BT.601 full range).
* ``histogram``: the style image is recoloured before the transfer so that its colours have the
  content's mean and covariance (the linear Monge–Kantorovich map between the two), then the transfer
  runs as usual.

How a method uses it (arrays H×W×3 float32 in [0, 1]; ``weights`` H×W in [0, 1] choose the pixels
whose statistics count, e.g. the selection)::

    content_in = network_content(mode, content)                  # what the network sees as content
    styles_in = network_styles(mode, styles, content, weights)   # what it sees as style(s)
    ... transfer ...
    result = restore_colors(mode, result, content)               # at any resolution, e.g. full size

A method whose style is fixed in advance (a trained feed-forward network) cannot change what its
network sees; it applies :func:`recolor_output` to its output instead (``luminance``: the content's
chroma back; ``histogram``: the output's colours mapped to the content's mean and covariance).
"""
from __future__ import annotations

import numpy as np

KEEP_COLORS = ("off", "luminance", "histogram")

# ITU-R BT.601 full-range YCbCr: luminance plus two colour-difference channels.
_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114],
                        [-0.168736, -0.331264, 0.5],
                        [0.5, -0.418688, -0.081312]], dtype=np.float32)
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC).astype(np.float32)
# Rows processed at once by the full-resolution operations: bounds their temporaries on big canvases.
_ROWS = 256


def rgb_to_ycc(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ _RGB_TO_YCC.T


def ycc_to_rgb(ycc: np.ndarray) -> np.ndarray:
    return ycc.astype(np.float32) @ _YCC_TO_RGB.T


def luminance(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb, dtype=np.float32) @ _RGB_TO_YCC[0]


def grey(y: np.ndarray) -> np.ndarray:
    """A luminance map as an H×W×3 grey RGB image."""
    return np.repeat(np.clip(y, 0.0, 1.0)[..., None], 3, axis=2).astype(np.float32)


def _check_mode(mode: str) -> None:
    if mode not in KEEP_COLORS:
        raise ValueError(f"keep_colors must be one of {', '.join(KEEP_COLORS)}, got {mode!r}")


def _flat(values: np.ndarray, weights: np.ndarray | None, channels: int):
    px = np.asarray(values, dtype=np.float64).reshape(-1, channels)
    w = np.ones(len(px)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != px.shape[0]:
        raise ValueError(f"weights cover {w.shape[0]} pixels, the image has {px.shape[0]}")
    if w.sum() <= 0:
        raise ValueError("no pixels selected for the colour statistics")
    return px, w


def color_stats(rgb: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean (3) and covariance (3×3) of an image's colours."""
    px, w = _flat(rgb, weights, rgb.shape[-1])
    mean = (px * w[:, None]).sum(0) / w.sum()
    centred = px - mean
    return mean, (centred * w[:, None]).T @ centred / w.sum()


def _sqrt_spd(m: np.ndarray, inverse: bool = False) -> np.ndarray:
    values, vectors = np.linalg.eigh(m)
    # The floor only guards against round-off. It must sit far below the eigenvalues it can meet: in
    # color_map's product of two covariances a greyscale reference gives ~1e-10, and a floor above that
    # left the mapped colours tinted.
    values = np.clip(values, 1e-30, None) ** (-0.5 if inverse else 0.5)
    return (vectors * values) @ vectors.T


def mixture_stats(images: list, shares: list) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the colours of several images mixed, image i making up ``shares[i]`` of them."""
    stats = [color_stats(image) for image in images]
    total = float(sum(shares))
    mean = sum(w * m for (m, _), w in zip(stats, shares)) / total
    second = sum(w * (c + np.outer(m, m)) for (m, c), w in zip(stats, shares)) / total
    return mean, second - np.outer(mean, mean)


def color_map(source: np.ndarray, reference, source_weights: np.ndarray | None = None,
              reference_weights: np.ndarray | None = None, regularise: float = 1e-5) -> np.ndarray:
    """``source`` with its colours linearly mapped so their mean and covariance are ``reference``'s (an
    image, or its (mean, covariance)): the Monge–Kantorovich map, which moves the colours least among all
    such maps; not clipped."""
    s_mean, s_cov = color_stats(source, source_weights)
    r_mean, r_cov = reference if isinstance(reference, tuple) else color_stats(reference, reference_weights)
    s_cov, r_cov = s_cov + regularise * np.eye(3), r_cov + regularise * np.eye(3)
    s_half, s_inv_half = _sqrt_spd(s_cov), _sqrt_spd(s_cov, inverse=True)
    transform = s_inv_half @ _sqrt_spd(s_half @ r_cov @ s_half) @ s_inv_half
    mapped = (np.asarray(source, dtype=np.float64).reshape(-1, 3) - s_mean) @ transform.T + r_mean
    return mapped.reshape(source.shape)


def match_colors(source: np.ndarray, reference: np.ndarray, source_weights: np.ndarray | None = None,
                 reference_weights: np.ndarray | None = None) -> np.ndarray:
    """:func:`color_map`, clipped to [0, 1], float32."""
    return np.clip(color_map(source, reference, source_weights, reference_weights), 0.0, 1.0).astype(np.float32)


def match_luminance(style: np.ndarray, content: np.ndarray, content_weights: np.ndarray | None = None
                    ) -> np.ndarray:
    """The style's luminance (H×W) shifted and scaled to the content's weighted mean and spread."""
    s_y, c_y = luminance(style), luminance(content)
    s_px, s_w = _flat(s_y, None, 1)
    c_px, c_w = _flat(c_y, content_weights, 1)
    s_mean, c_mean = s_px[:, 0].mean(), (c_px[:, 0] * c_w).sum() / c_w.sum()
    s_std = s_px[:, 0].std()
    c_std = np.sqrt(((c_px[:, 0] - c_mean) ** 2 * c_w).sum() / c_w.sum())
    # A flat content (a plain object) would flatten the style to one grey and leave nothing to paint
    # with: the spread is kept at least half the style's own.
    c_std = max(c_std, 0.5 * s_std)
    return ((s_y - s_mean) * (c_std / max(s_std, 1e-6)) + c_mean).astype(np.float32)


def network_content(mode: str, content: np.ndarray) -> np.ndarray:
    """The content as the network should see it: grey for ``luminance``, unchanged otherwise."""
    _check_mode(mode)
    return grey(luminance(content)) if mode == "luminance" else content


def network_styles(mode: str, styles: list, content: np.ndarray, content_weights: np.ndarray | None = None,
                   match_tones: bool = True) -> list:
    """The style image(s) as the network should see them (``content_weights`` pick the content pixels
    whose colours count, e.g. the selection). ``match_tones=False`` keeps the style's own luminance in
    ``luminance`` mode (harmonization: the object takes the painting's tones)."""
    _check_mode(mode)
    if mode == "luminance":
        return [grey(match_luminance(style, content, content_weights) if match_tones else luminance(style))
                for style in styles]
    if mode == "histogram":
        return [match_colors(style, content, None, content_weights) for style in styles]
    return list(styles)


def restore_chroma(result: np.ndarray, original: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """``result``'s luminance with its chroma moved ``amount`` (0..1) of the way to ``original``'s
    (1: the original's colours exactly, as far as the gamut allows). Works in strips of rows, so a big
    canvas costs one output array."""
    if result.shape != original.shape:
        raise ValueError(f"result {result.shape} and original {original.shape} differ in size")
    out = np.empty(result.shape, dtype=np.float32)
    for top in range(0, result.shape[0], _ROWS):
        rows = slice(top, top + _ROWS)
        ycc = rgb_to_ycc(result[rows])
        ycc[..., 1:] += amount * (rgb_to_ycc(original[rows])[..., 1:] - ycc[..., 1:])
        out[rows] = np.clip(ycc_to_rgb(ycc), 0.0, 1.0)
    return out


def restore_colors(mode: str, result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """After the transfer: the content's chroma back for ``luminance``; nothing to do otherwise."""
    _check_mode(mode)
    return restore_chroma(result, content) if mode == "luminance" else result


def recolor_output(mode: str, result: np.ndarray, content: np.ndarray, weights: np.ndarray | None = None
                   ) -> np.ndarray:
    """For a method whose style is fixed (a trained network): keep the content's colours after the fact.
    ``weights`` (H×W) pick the pixels whose statistics count, e.g. the selection."""
    _check_mode(mode)
    if mode == "luminance":
        return restore_chroma(result, content)
    if mode == "histogram":
        return match_colors(result, content, weights, weights)
    return result

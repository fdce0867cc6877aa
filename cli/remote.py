"""The CLI's side of a daemon job: image files to and from wire buffers, and ``engine.run`` through a daemon."""
from __future__ import annotations

import numpy as np

from painterly.daemon.buffers import SCALE, array_to_buffer, from_uint, quantize, to_float
from painterly.wire.protocol import ImageBuffer


def load_file(path, kind: str = "rgb") -> ImageBuffer:
    """An image file as a buffer for ``submit``: RGB(A) at its own depth, or a 1-channel mask."""
    from painterly.engine import load_image, load_mask
    if kind == "mask":
        mask = load_mask(path, threshold=None)
        return from_uint(quantize(mask, 8))
    image = load_image(path)
    depth = image.bit_depth
    rgb = quantize(image.rgb, depth)
    if image.alpha is not None:
        rgb = np.concatenate([rgb, quantize(image.alpha, depth)[..., None]], axis=2)
    return from_uint(rgb)


def save_result(path, image: ImageBuffer):
    """Write a result buffer (RGBA) to a file; PNG keeps 16-bit depth."""
    from .output import write_image
    colour, alpha = to_float(image)
    if colour.ndim == 2:
        colour = np.repeat(colour[..., None], 3, axis=2)
    return write_image(path, colour, alpha, image.depth)


def job_buffers(inputs: dict) -> dict:
    """The buffers a daemon receives for these engine inputs (lossless for 8- and 16-bit image files)."""
    return {name: array_to_buffer(arr) for name, arr in inputs.items() if arr is not None}


def run_local(method: str, inputs: dict, params: dict, device="auto", half=False, progress=None) -> np.ndarray:
    """``engine.run`` in this process exactly as a daemon or a cluster worker runs the job
    (:func:`painterly.daemon.workers.compute_layer` on the buffers it would receive), so that a command gives
    the same pixels with or without ``--daemon``."""
    from painterly.daemon.workers import compute_layer
    from painterly.engine import get_method
    spec = get_method(method)
    images = job_buffers(inputs)
    layer = compute_layer(spec, images, params, device, half, progress)
    return visible_result(layer, images[spec.base_input])


def run_remote(endpoint: str, method: str, inputs: dict, params: dict, progress=None, timeout: float = 10.0,
               token=None) -> np.ndarray:
    """``engine.run`` through a daemon: the same visible result (H×W×3 float32 composited over the base
    input) as :func:`run_local`, computed on the daemon's device."""
    from painterly.engine import get_method
    from painterly.wire.client import Client, DaemonError

    from .errors import UserError
    images = job_buffers(inputs)
    try:
        with Client(endpoint, timeout=timeout, token=token) as client:
            job_id = client.submit(method, params, images)
            try:
                result = client.wait(job_id, on_progress=progress)
            except KeyboardInterrupt:
                client.cancel(job_id)
                raise
    except DaemonError as exc:  # the daemon's sentence, as one line
        raise UserError(str(exc)) from None
    return visible_result(result.image, images[get_method(method).base_input])


def visible_result(image: ImageBuffer, base) -> np.ndarray:
    """What ``engine.run`` returns for a job's result layer: H×W×3 float32 composited over the base input
    (an array, or the ImageBuffer that was sent)."""
    from painterly.engine.methods.base import Output
    if isinstance(base, ImageBuffer):
        base = to_float(base)[0]
    rgb, alpha = to_float(image)
    base = np.asarray(base)
    if base.dtype in (np.uint8, np.uint16):
        base = base.astype(np.float32) / SCALE[8 if base.dtype == np.uint8 else 16]
    if alpha is not None and alpha.min() >= 1.0:
        alpha = None
    return Output(rgb, alpha).composite_over(base.astype(np.float32, copy=False))

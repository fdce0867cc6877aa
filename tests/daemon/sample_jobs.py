"""Small real engine jobs for the daemon, cluster and batch tests, and what the in-process engine makes of
them (the reference every remote result must equal bit for bit)."""
import numpy as np

from painterly.daemon import buffers

SMALL_JOB = {"iterations": 3, "size": 32, "network": "vgg16"}


def masked_inputs(seed=0, size=40):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    content = np.stack([xx, yy, 0.5 * (xx + yy)], axis=2).astype(np.float32)
    style = rng.random((size, size, 3)).astype(np.float32)
    mask = np.zeros((size, size), np.float32)
    mask[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    return content, style, mask


def as_buffers(content, style, mask):
    return {"content": buffers.from_uint(buffers.quantize(content, 8)),
            "style": buffers.from_uint(buffers.quantize(style, 8)),
            "mask": buffers.from_uint(buffers.quantize(mask, 8))}


def engine_layer(method, images, params):
    """The result layer the in-process engine makes of these input buffers (one torch thread, CPU), as the
    H×W×4 array a daemon job must return."""
    import torch
    from painterly import engine
    torch.set_num_threads(1)
    spec = engine.get_method(method)
    kinds = {s.name: s.kind for s in spec.inputs}
    inputs = {name: buffers.to_input(image, kinds[name]) for name, image in images.items()}
    output = engine.run_output(method, inputs, params, device="cpu")
    return buffers.as_uint_array(buffers.result_buffer(output.rgb, output.alpha, images[spec.base_input]))


def random_rgba(rng, w, h, depth=8):
    dtype = np.uint8 if depth == 8 else np.uint16
    arr = rng.integers(0, np.iinfo(dtype).max, (h, w, 4), dtype=dtype, endpoint=True)
    return buffers.from_uint(arr, x=int(rng.integers(-50, 50)), y=int(rng.integers(-50, 50)))

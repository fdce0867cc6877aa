"""Training the decoder to invert the encoder: reconstruction only, no style, no paintings needed.

Loss: L1 on pixels plus the relative feature distance at relu1_1..relu4_1 (each layer's squared error
divided by its target's mean square, so shallow and deep layers count alike). Photos: the sample
photos scikit-image ships, frames of the OpenCV sample clips, and any folders given; random crops at
random scales, flips and colour jitter (a decoder reconstructs well what it saw). Resumable: the
checkpoint holds the optimiser, and batch ``step`` is a pure function of (seed, step).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..fast.data import CropSampler, load_photos, skimage_data_dir
from . import model_file
from .decoder import ENCODER_LAYER, LOSS_LAYERS, Decoder, encoder

# scikit-image's sample images beyond the photos the style trainer uses: textures, a painting-like
# colour chart and scientific images widen what the decoder has seen.
EXTRA_SKIMAGE = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                 "motorcycle_right.png", "camera.png", "brick.png", "grass.png", "gravel.png", "color.png",
                 "ihc.png", "hubble_deep_field.jpg", "retina.jpg", "coins.png", "moon.png", "page.png",
                 "text.png", "cell.png", "clock_motion.png", "logo.png")


@dataclass
class DecoderSettings:
    steps: int = 1000
    size: int = 128          # crop side (pixels; crops come at 0.75-1.25× this)
    batch: int = 8
    learning_rate: float = 7e-4
    pixel_weight: float = 4.0
    seed: int = 0
    half: bool = True        # bfloat16 autocast on CPUs that support it (the master weights stay float32)


def skimage_paths() -> list[Path]:
    data = skimage_data_dir()
    return [] if data is None else [data / n for n in EXTRA_SKIMAGE if (data / n).is_file()]


def training_images(sources) -> tuple[list[np.ndarray], list[str]]:
    """Every source's images (a folder, a video file or an image file), and what they were."""
    from ..imageio import load_image
    images, described = [], []
    paths = skimage_paths()
    if paths:
        images += [_rgb(load_image(p).rgb) for p in paths]
        described.append("scikit-image samples: " + ", ".join(p.stem for p in paths))
    for source in sources or ():
        source = Path(source)
        if source.is_file() and source.suffix.lower() in (".png", ".jpg", ".jpeg"):
            images.append(_rgb(load_image(source).rgb))
            described.append(source.name)
            continue
        found, what = load_photos(source, every=60, limit=16)  # a clip is one scene: a few frames
        images += [_rgb(f) for f in found]
        described.append(what)
    if not images:
        raise ValueError("no training images: install scikit-image or pass image folders or video files")
    return images, described


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    return np.repeat(image[..., None], 3, -1) if image.ndim == 2 else image[..., :3]


def jitter(batch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random brightness, contrast, saturation and a small colour rotation per image."""
    n = batch.shape[0]
    grey = batch.mean(1, keepdim=True)
    sat = torch.tensor(rng.uniform(0.5, 1.5, n), dtype=batch.dtype).view(n, 1, 1, 1)
    out = grey + (batch - grey) * sat
    mix = torch.eye(3) + torch.tensor(rng.normal(0, 0.08, (n, 3, 3)), dtype=batch.dtype)
    out = torch.einsum("nij,njhw->nihw", mix, out)
    mean = out.mean((1, 2, 3), keepdim=True)
    contrast = torch.tensor(rng.uniform(0.7, 1.3, n), dtype=batch.dtype).view(n, 1, 1, 1)
    bright = torch.tensor(rng.uniform(-0.1, 0.1, n), dtype=batch.dtype).view(n, 1, 1, 1)
    return ((out - mean) * contrast + mean + bright).clamp(0, 1)


def reconstruction_loss(enc, decoder, images: torch.Tensor, pixel_weight: float):
    with torch.no_grad():
        target = enc(images)
    out = decoder(target[ENCODER_LAYER])
    seen = enc(out)
    parts = {name: F.mse_loss(seen[name].float(), target[name].float()) /
             target[name].float().pow(2).mean().clamp_min(1e-6) for name in LOSS_LAYERS}
    parts["pixel"] = pixel_weight * (out.float() - images).abs().mean()
    return sum(parts.values()), {k: float(v.detach()) for k, v in parts.items()}


def train_decoder(output, settings: DecoderSettings, sources=(), resume: bool = False, minutes: float = 0,
                  log=print, device: torch.device | str = "cpu") -> Path:
    """Train (or resume) and write ``output`` (float16, shippable) and ``output``.ckpt (resumable)."""
    output, device = Path(output), torch.device(device)
    ckpt = output.with_suffix(output.suffix + ".ckpt")
    images, described = training_images(sources)
    decoder = Decoder().to(device).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(decoder.parameters(), settings.learning_rate)
    step, seconds, losses = 0, 0.0, []
    if resume and ckpt.is_file():
        data = model_file.read(ckpt)
        decoder.load_state_dict({k: v.float() for k, v in data["state"].items()})
        optimizer.load_state_dict(data["training"]["optimizer"])
        step, seconds, losses = (data["training"][k] for k in ("step", "seconds", "losses"))
        log(f"resumed at step {step} ({seconds / 60:.1f} min trained)")
    enc = encoder(device, LOSS_LAYERS).to(memory_format=torch.channels_last)
    sampler = CropSampler(images, settings.size, settings.batch, settings.seed)
    log(f"training on {len(images)} images ({'; '.join(described)})")
    # bfloat16 autocast: on CUDA, and on CPUs whose oneDNN has it (about 1.4× faster here)
    half = settings.half and (device.type == "cuda" or (device.type == "cpu" and torch.backends.mkldnn.is_available()))

    def save(final: bool):
        training = {"step": step, "seconds": seconds, "data": described, "settings": asdict(settings),
                    "losses": losses[-200:]}
        model_file.write(ckpt, decoder, dict(training, optimizer=optimizer.state_dict()), half=False)
        if final:
            model_file.write(output, decoder, training, half=True)

    last_save = time.monotonic()
    while step < settings.steps and not (minutes and seconds >= minutes * 60):
        started = time.monotonic()
        rate = settings.learning_rate * 0.5 * (1 + math.cos(math.pi * step / settings.steps))
        for group in optimizer.param_groups:
            group["lr"] = max(rate, settings.learning_rate * 0.02)
        rng = np.random.default_rng([settings.seed, step, 1])
        images_t = jitter(sampler(step), rng).to(device).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=half):
            loss, parts = reconstruction_loss(enc, decoder, images_t, settings.pixel_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # The first steps' losses are hundreds of times the later ones: unclipped, they kill ReLUs for good.
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), 1.0)
        optimizer.step()
        step += 1
        seconds += time.monotonic() - started
        losses.append(round(float(loss.detach()), 4))
        if step % 25 == 0 or step == 1:
            log(f"step {step}/{settings.steps} loss {float(loss.detach()):.3f} " +
                " ".join(f"{k} {v:.3f}" for k, v in parts.items()) + f" ({seconds / 60:.1f} min)")
        if time.monotonic() - last_save > 120:
            save(final=True)
            last_save = time.monotonic()
    save(final=True)
    log(f"wrote {output} after {step} steps ({seconds / 60:.1f} min)")
    return output

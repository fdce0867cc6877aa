"""Training a style network: the engine's VGG losses (content, Gram style, TV) on random photo crops.

One style image, many photos: each step takes a batch of random crops (random photo, position, scale,
flip, and one of a few crop sizes), runs the network, and lowers

    content_weight · content + style_weight · style + tv_weight · TV

where the content term compares VGG features of the output and the crop at one layer, the style term
compares Gram matrices of the output's features with the style image's at several layers, both relative
to their target's magnitude (as the optimisation methods do), and TV is the total variation of the
output. Checkpoints carry the style image's hash, the settings, the network variant and the optimiser's
state, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..crop import to_tensor
from ..features import get_extractor, style_features
from ..imageio import load_image, save_image
from ..losses import GramStyleLoss, gram_matrix, total_variation
from ..optimize import Cancelled, CancelToken, Progress, ProgressCallback
from ..pyramid import resize
from .data import CropSampler, load_photos
from .models import ModelError, build_network, file_sha256, read_model, save_model
from .network import VARIANTS, TransformNet


@dataclass
class TrainSettings:
    size: int = 256                 # crop side in pixels (crops of 0.75×, 1× and 1.25× this)
    steps: int = 2000
    batch: int = 4
    variant: str = "slim"
    output: str = "tanh"            # the network's last activation: tanh | sigmoid
    style_size: int = 0             # longest side of the style image for its Gram targets (0 = 2 × size)
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 10.0
    learning_rate: float = 1e-3     # Adam; cosine decay to a tenth over the run
    network: str = "vgg19"
    content_layer: str = "relu4_2"
    style_layers: tuple = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    identity_steps: int = 0         # first learn to reproduce the photos (pixel loss, no VGG), then the style
    architecture: dict = field(default_factory=dict)  # changes to the variant's layout, e.g. {"blocks": 7}
    seed: int = 0
    checkpoint_every: int = 100
    preview_every: int = 100

    @classmethod
    def from_dict(cls, data: dict) -> "TrainSettings":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "style_layers" in values:
            values["style_layers"] = tuple(values["style_layers"])
        return cls(**values)


class StyleTrainingLoss:
    """Content + Gram style + TV of a batch of outputs against their input crops and one style image."""

    def __init__(self, style: torch.Tensor, settings: TrainSettings, device: torch.device):
        self.s = settings
        layers = (settings.content_layer,) + tuple(settings.style_layers)
        self.extractor = get_extractor(layers, settings.network, "avg", device)
        self.content_extractor = get_extractor((settings.content_layer,), settings.network, "avg", device)
        feats = style_features(self.extractor, style)
        self.style_losses = []
        for layer in settings.style_layers:
            target = gram_matrix(feats[layer])
            self.style_losses.append((layer, GramStyleLoss(target), float(target.pow(2).mean()) + 1e-8))

    def __call__(self, output: torch.Tensor, crops: torch.Tensor):
        with torch.no_grad():
            target = self.content_extractor(crops)[self.s.content_layer]
        feats = self.extractor(output)
        content = F.mse_loss(feats[self.s.content_layer], target) / (target.pow(2).mean() + 1e-8)
        style = sum(loss(feats[layer]) / scale for layer, loss, scale in self.style_losses) / len(self.style_losses)
        tv = total_variation(output)
        total = self.s.content_weight * content + self.s.style_weight * style + self.s.tv_weight * tv
        return total, {k: float(v.detach()) for k, v in (("content", content), ("style", style), ("tv", tv), ("total", total))}


def style_tensor(style_path, settings: TrainSettings, device) -> torch.Tensor:
    rgb = load_image(style_path).rgb
    longest = settings.style_size or 2 * settings.size
    h, w = rgb.shape[:2]
    scale = min(1.0, longest / max(h, w))
    return resize(to_tensor(rgb, device), (max(1, round(h * scale)), max(1, round(w * scale))))


def preview_sheet(net: TransformNet, photos: list[np.ndarray], style: torch.Tensor, path, side: int = 192,
                  count: int = 4) -> Path:
    """A PNG: the style, then each preview photo above the network's output for it."""
    device = next(net.parameters()).device
    tiles_in, tiles_out = [], []
    for photo in photos[:count]:
        t = to_tensor(photo, device)
        h, w = t.shape[-2:]
        s = min(h, w)
        t = resize(t[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s], (side, side))
        with torch.no_grad():
            tiles_out.append(net(t).clamp(0, 1))
        tiles_in.append(t)
    sh, sw = style.shape[-2:]
    style_tile = F.pad(resize(style, (side, max(1, round(sw * side / sh)))), (0, 0, 0, side), value=1.0)
    columns = [torch.cat([a, b], dim=-2) for a, b in zip(tiles_in, tiles_out)]
    sheet = torch.cat([style_tile.to(device)] + columns, dim=-1)[0].permute(1, 2, 0).cpu().numpy()
    return save_image(path, sheet)


def learn_identity(net: TransformNet, sampler: CropSampler, steps: int, learning_rate: float, device) -> None:
    """Train the network to return its input (mean squared pixel error), before it learns the style.

    Like the optimisation methods, which start from the photo, the style is then learnt by moving away
    from the photo rather than towards it from noise: outlines and tones are there from the first step.
    This needs no VGG pass, so it costs a few seconds.
    """
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    for i in range(steps):
        crops = sampler(i).to(device)
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(net(crops), crops).backward()
        optimizer.step()


def _settings_for_resume(saved: dict, steps: int | None) -> TrainSettings:
    settings = TrainSettings.from_dict(saved)
    if steps is not None:
        settings.steps = steps
    return settings


def train_style(style_path, output, settings: TrainSettings, photos=None, resume: bool = False,
                device: torch.device | str = "cpu", progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None, sheet_dir=None, log=print) -> Path:
    """Train (or resume training) a style network; returns the model path.

    ``photos``: None (packaged sample photos), a folder, or a video file. ``sheet_dir``: where preview
    sheets go (default: ``<output stem>-previews`` beside the model). The model file at ``output`` is
    rewritten at every checkpoint, so it is always a usable model of the latest checkpoint.
    """
    device = torch.device(device)
    output, style_path = Path(output), Path(style_path)
    if not style_path.is_file():
        raise ModelError(f"style image not found: {style_path}")
    style_hash = file_sha256(style_path)
    payload = None
    if resume:
        if not output.is_file():
            raise ModelError(f"nothing to resume: {output} does not exist (leave out --resume to start)")
        payload = read_model(output)
        if payload["style"].get("sha256") != style_hash:
            raise ModelError(f"{output} was trained on another style image ({payload['style'].get('name')}); "
                             f"resume it with that image or train a new model")
        if "training" not in payload:
            raise ModelError(f"{output} is a finished model without training state; it cannot be resumed")
        if payload["network"]["variant"] != settings.variant:
            raise ModelError(f"{output} is a {payload['network']['variant']!r} network, not {settings.variant!r} "
                             f"(use --variant {payload['network']['variant']} to resume it)")
        settings = _settings_for_resume(payload["settings"], settings.steps)
    elif output.exists():
        raise ModelError(f"{output} already exists: pass --resume to continue training it, or choose another output")

    torch.manual_seed(settings.seed)
    if payload:
        net = build_network(payload, output, settings.variant)
    else:
        arch = replace(VARIANTS[settings.variant], **settings.architecture) if settings.variant in VARIANTS else None
        net = TransformNet(settings.variant, settings.output, arch)
    net = net.to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
    step = 0
    history: list = []
    if payload:
        optimizer.load_state_dict(payload["training"]["optimizer"])
        step, history = int(payload["step"]), list(payload["training"].get("history", []))
        log(f"resuming {output} at step {step} of {settings.steps}")

    images, described = load_photos(photos)
    log(f"training on {described}")
    sampler = CropSampler(images, settings.size, settings.batch, settings.seed)
    if not payload and settings.identity_steps:
        learn_identity(net, CropSampler(images, settings.size, settings.batch, settings.seed + 1),
                       settings.identity_steps, settings.learning_rate, device)
        log(f"network initialised to reproduce its input ({settings.identity_steps} steps)")
    style = style_tensor(style_path, settings, device)
    loss_fn = StyleTrainingLoss(style, settings, device)
    sheet_dir = Path(sheet_dir) if sheet_dir else output.with_name(output.stem + "-previews")
    style_info = {"name": style_path.name, "sha256": style_hash, "size": list(style.shape[-2:])}

    def checkpoint(complete: bool = False):
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        save_model(output, {"network": net.config(), "state": state, "style": style_info,
                            "settings": asdict(settings), "step": step, "complete": complete,
                            "training": {"optimizer": optimizer.state_dict(), "history": history,
                                         "photos": described}})

    start, losses = time.monotonic(), {}
    try:
        while step < settings.steps:
            if cancel is not None:
                cancel.check()
            for group in optimizer.param_groups:
                group["lr"] = float(settings.learning_rate * (0.55 + 0.45 * np.cos(np.pi * step / settings.steps)))
            crops = sampler(step).to(device)
            optimizer.zero_grad(set_to_none=True)
            loss, losses = loss_fn(net(crops), crops)
            loss.backward()
            optimizer.step()
            step += 1
            if step % 10 == 0 or step == settings.steps:
                history.append([step] + [losses[k] for k in ("content", "style", "tv")])
            if progress is not None:
                progress(Progress(step, settings.steps, f"train {crops.shape[-1]}px", losses, None,
                                  time.monotonic() - start))
            if step % settings.checkpoint_every == 0 or step == settings.steps:
                checkpoint(complete=step >= settings.steps)
            if settings.preview_every and (step % settings.preview_every == 0 or step == settings.steps):
                net.eval()
                preview_sheet(net, images, style, sheet_dir / f"step_{step:06d}.png")
                net.train()
    except (KeyboardInterrupt, Cancelled):
        checkpoint()
        log(f"interrupted: checkpoint at step {step} written to {output} (continue with --resume)")
        raise
    return output

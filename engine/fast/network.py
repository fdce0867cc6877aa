"""The image-transformation network of feed-forward style transfer (Johnson et al. 2016).

Strided convolutions down-sample twice, residual blocks work at a quarter of the resolution, and
nearest-neighbour resizing followed by a convolution up-samples back (no checkerboard artefacts of
transposed convolutions). Every convolution is followed by instance normalisation (Ulyanov et al.),
which gives better stylisation than batch normalisation and makes the output independent of the
batch. Padding is by reflection, so image borders carry no dark frame.

Two widths:
  - ``full``: the published network (32-64-128 channels, 9×9 edge kernels, 5 residual blocks);
  - ``slim``: made for CPUs, whose convolutions at full resolution are bound by memory traffic, not
    arithmetic: no layer works at full resolution. The image is folded into 2×2 pixel blocks
    (space-to-depth, 12 channels at half resolution) and the last layer predicts the 2×2 block of each
    output pixel (sub-pixel convolution, Shi et al. 2016, initialised so the four sub-pixels start equal,
    without checkerboard). In between: 24-48-96 channels, down to 1/8 resolution, and depthwise-separable
    3×3 convolutions (a per-channel 3×3 filter, then a 1×1 channel mix), and bilinear resizing in the
    resize-convolutions (nearest-neighbour resizing from 1/8 resolution leaves blocky, axis-aligned
    edges that the per-channel filters cannot smooth). About 1/20 of the work of ``full`` and a larger
    receptive field.

The last layer maps to RGB in [0, 1] through ``tanh`` (rescaled) or ``sigmoid``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

OUTPUTS = ("tanh", "sigmoid")
MIN_SIDE = 32


@dataclass(frozen=True)
class Architecture:
    channels: tuple = (32, 64, 128)
    blocks: int = 5
    edge_kernel: int = 9
    separable: bool = False
    fold: int = 1               # space-to-depth factor at the input / sub-pixel factor at the output
    upsample: str = "nearest"   # resize mode of the resize-convolutions
    skips: bool = False         # add each down-sampling level's features to the up-sampling output of its size

    @classmethod
    def from_dict(cls, data: dict) -> "Architecture":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "channels" in known:
            known["channels"] = tuple(known["channels"])
        return cls(**known)


VARIANTS = {
    "full": Architecture((32, 64, 128), 5, 9, False, 1, "nearest"),
    "slim": Architecture((24, 48, 96), 5, 3, True, 2, "bilinear"),
}


def _conv(in_c: int, out_c: int, kernel: int, stride: int = 1, separable: bool = False) -> nn.Sequential:
    layers = [nn.ReflectionPad2d(kernel // 2)]
    if separable and in_c > 3:
        layers += [nn.Conv2d(in_c, in_c, kernel, stride, groups=in_c, bias=False), nn.Conv2d(in_c, out_c, 1)]
    else:
        layers.append(nn.Conv2d(in_c, out_c, kernel, stride))
    return nn.Sequential(*layers)


class ConvNorm(nn.Module):
    """Convolution → instance norm (affine) → optional ReLU."""

    def __init__(self, in_c, out_c, kernel, stride=1, separable=False, relu=True):
        super().__init__()
        self.conv = _conv(in_c, out_c, kernel, stride, separable)
        self.norm = nn.InstanceNorm2d(out_c, affine=True)
        self.relu = relu

    def forward(self, x):
        x = self.norm(self.conv(x))
        return F.relu(x) if self.relu else x


class Residual(nn.Module):
    def __init__(self, channels: int, separable: bool):
        super().__init__()
        self.a = ConvNorm(channels, channels, 3, separable=separable)
        self.b = ConvNorm(channels, channels, 3, separable=separable, relu=False)

    def forward(self, x):
        return x + self.b(self.a(x))


class UpConv(nn.Module):
    """Resize-convolution: up-sampling to ``size`` (nearest or bilinear), then a 3×3 convolution,
    instance norm and ReLU. Separable: the 1×1 channel mix runs before the up-sampling (both resize
    modes commute with it), so only the per-channel 3×3 filter works at the larger size."""

    def __init__(self, in_c: int, out_c: int, separable: bool, mode: str = "nearest"):
        super().__init__()
        self.mode = mode
        if separable:
            self.mix = nn.Conv2d(in_c, out_c, 1)
            self.conv = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(out_c, out_c, 3, groups=out_c, bias=False))
        else:
            self.mix = None
            self.conv = _conv(in_c, out_c, 3)
        self.norm = nn.InstanceNorm2d(out_c, affine=True)

    def forward(self, x, size):
        if self.mix is not None:
            x = self.mix(x)
        # Always exactly 2×, then cropped to ``size`` (a stride-2 step rounds up): resizing to ``size``
        # directly would sample at size-dependent positions, and tiles would not match the whole image.
        extra = {} if self.mode == "nearest" else {"align_corners": False}
        x = F.interpolate(x, scale_factor=2, mode=self.mode, **extra)[..., :size[0], :size[1]]
        return F.relu(self.norm(self.conv(x)))


class TransformNet(nn.Module):
    """RGB in [0, 1] (N×3×H×W, any H and W ≥ 1) → stylised RGB in [0, 1] of the same size."""

    def __init__(self, variant: str = "slim", output: str = "tanh", arch: Architecture | None = None):
        """``arch``: the layout (default: the variant's); a model file names the one it was trained with."""
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown network variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        if output not in OUTPUTS:
            raise ValueError(f"unknown output activation {output!r}; choose one of {', '.join(OUTPUTS)}")
        arch = arch or VARIANTS[variant]
        self.variant, self.output, self.arch = variant, output, arch
        c1, c2, c3 = arch.channels
        sep, fold = arch.separable, arch.fold
        self.down = nn.ModuleList([
            ConvNorm(3 * fold * fold, c1, arch.edge_kernel),
            ConvNorm(c1, c2, 3, stride=2, separable=sep),
            ConvNorm(c2, c3, 3, stride=2, separable=sep),
        ])
        self.res = nn.Sequential(*[Residual(c3, sep) for _ in range(arch.blocks)])
        self.up = nn.ModuleList([UpConv(c3, c2, sep, arch.upsample), UpConv(c2, c1, sep, arch.upsample)])
        self.final = _conv(c1, 3 * fold * fold, arch.edge_kernel)
        if fold > 1:
            _init_subpixel(self.final[-1], fold)

    @property
    def stride(self) -> int:
        """Total down-sampling factor: the output is unchanged by shifts of the input by multiples of it."""
        return self.arch.fold * 4

    def config(self) -> dict:
        return {"variant": self.variant, "output": self.output, "architecture": asdict(self.arch)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fold = self.arch.fold
        h, w = x.shape[-2:]
        # Pad (replicating the border) to a multiple of the fold and to the smallest size whose deepest
        # layer still has room for its reflection padding; the output is cropped back.
        pad_h, pad_w = max(MIN_SIDE, h + -h % fold) - h, max(MIN_SIDE, w + -w % fold) - w
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        if fold > 1:
            x = F.pixel_unshuffle(x, fold)
        sizes, levels = [], []
        for layer in self.down:
            sizes.append(tuple(x.shape[-2:]))
            x = layer(x)
            levels.append(x)
        x = self.res(x)
        # Resize-convolution: up-sample to exactly the size each down-sampling step started from, so odd
        # sizes come back unchanged.
        for layer, size, skip in zip(self.up, (sizes[2], sizes[1]), (levels[1], levels[0])):
            x = layer(x, size)
            if self.arch.skips:
                x = x + skip
        x = self.final(x)
        if fold > 1:
            x = F.pixel_shuffle(x, fold)
        x = x[..., :h, :w]
        if self.output == "sigmoid":
            return torch.sigmoid(x)
        return (torch.tanh(x) + 1.0) * 0.5


def _init_subpixel(conv: nn.Conv2d, fold: int) -> None:
    """ICNR initialisation (Aitken et al. 2017): the fold² sub-pixels of each output channel start
    with the same filter, so the initial output is a smooth up-sampling, free of checkerboard."""
    out_c = conv.out_channels // (fold * fold)
    with torch.no_grad():
        base = conv.weight[:out_c].clone()
        conv.weight.copy_(base.repeat_interleave(fold * fold, dim=0))
        conv.bias.copy_(conv.bias[:out_c].repeat_interleave(fold * fold))


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())

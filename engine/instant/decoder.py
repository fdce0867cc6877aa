"""The decoder that inverts the encoder (VGG19 up to relu4_1) in one forward pass.

It mirrors the encoder with nearest-neighbour upsampling and reflection-padded 3×3 convolutions (no
transposed convolutions, no zero padding: both leave checkerboard and border artefacts), narrower than
the encoder so the shipped model stays small (about 2.3 M parameters, stored in half precision). It is
trained for reconstruction only (``train_decoder.py``), so one model serves every painting.
"""
from __future__ import annotations

import torch
from torch import nn

from ..features import get_extractor

# The encoder every instant transform works in: the engine's Caffe VGG19, max pooling (the pooling
# the network was trained with, so the features are the ones the decoder learned to invert).
ENCODER_NETWORK, ENCODER_POOL, ENCODER_LAYER = "vgg19", "max", "relu4_1"
# Layers the reconstruction's feature loss compares (the target layer and the shallower ones that
# carry edges and fine texture).
LOSS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
STRIDE = 8  # relu4_1 is 1/8 of the image: sizes are rounded to multiples of it

# (output channels, upsample after) of each stage; the input has the encoder's 512 channels.
WIDTHS = ((256, True), (256, False), (128, True), (128, False), (64, True), (64, False))


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3))


class Decoder(nn.Module):
    def __init__(self, channels: int = 512, widths=WIDTHS):
        super().__init__()
        layers, cin = [], channels
        for cout, up in widths:
            layers += [_conv(cin, cout), nn.ReLU(inplace=True)]
            if up:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            cin = cout
        layers.append(_conv(cin, 3))
        self.body = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """relu4_1 features (N×512×h×w) → an RGB image in [0, 1] (N×3×8h×8w); clamped only outside
        training, so training sees the gradient of out-of-range values."""
        out = self.body(features)
        return out if self.training else out.clamp(0, 1)


def encoder(device: torch.device | str = "cpu", layers=(ENCODER_LAYER,)):
    """The shared, cached encoder (features by layer name, RGB in [0, 1] in)."""
    return get_extractor(layers, ENCODER_NETWORK, ENCODER_POOL, device)

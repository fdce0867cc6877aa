"""VGG feature extractor with layers addressed by name (``relu4_1``, ``conv4_2``, ``pool3``)."""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Iterable

import torch
from torch import nn

from .weights import load_state_dict

# torchvision's ImageNet convention (RGB in 0..1) and Caffe's (BGR 0..255, mean only).
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

NETWORKS = ("vgg16", "vgg19")
POOLING = ("avg", "max")
# Convolutions per block (64, 128, 256, 512, 512 channels): torchvision's VGG configurations D and E.
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
CHANNELS = (64, 128, 256, 512, 512)


def vgg_features(network: str) -> nn.Sequential:
    """An uninitialised VGG ``features`` block with torchvision's module order and state-dict keys.

    Built here rather than by torchvision, whose import (it loads torch's compiler stack) and random
    initialisation of the whole network cost several seconds at every process start.
    """
    modules, channels = [], 3
    with torch.device("meta"):          # no memory, no initialisation: the weights are assigned on load
        for convs, width in zip(BLOCKS[network], CHANNELS):
            for _ in range(convs):
                modules += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
            modules.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*modules)


def layer_names(features: nn.Sequential) -> list[str]:
    """Names of the modules of a torchvision VGG ``features`` block: conv1_1, relu1_1, ..., pool1, ..."""
    names, block, conv = [], 1, 0
    for module in features:
        if isinstance(module, nn.Conv2d):
            conv += 1
            names.append(f"conv{block}_{conv}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{conv}")
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            names.append(f"pool{block}")
            block, conv = block + 1, 0
        else:  # pragma: no cover - VGG has nothing else
            raise TypeError(f"unexpected module {module}")
    return names


class InputNormalization(nn.Module):
    """Maps RGB images in [0, 1] to what the network was trained on."""

    def __init__(self, convention: str):
        super().__init__()
        if convention == "caffe":
            mean = torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
            scale = torch.full((1, 3, 1, 1), 255.0)
            self.flip_to_bgr = True
        elif convention == "torchvision":
            mean = torch.tensor(TORCHVISION_MEAN).view(1, 3, 1, 1)
            scale = 1.0 / torch.tensor(TORCHVISION_STD).view(1, 3, 1, 1)
            self.flip_to_bgr = False
        else:
            raise ValueError(f"unknown input convention {convention!r}")
        self.convention = convention
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        if self.convention == "caffe":
            return rgb.flip(1) * self.scale - self.mean
        return (rgb - self.mean) * self.scale


class VGGFeatures(nn.Module):
    """Frozen, eval-mode VGG truncated after the deepest requested layer.

    ``forward(image)`` takes an RGB batch in [0, 1] (N×3×H×W) and returns ``{layer_name: activation}``
    for the requested layers only.
    """

    def __init__(self, layers: Iterable[str], network: str = "vgg19", pool: str = "avg",
                 state_dict: dict | None = None, convention: str | None = None):
        super().__init__()
        if network not in NETWORKS:
            raise ValueError(f"unknown network {network!r}; choose one of {', '.join(NETWORKS)}")
        if pool not in POOLING:
            raise ValueError(f"unknown pooling {pool!r}; choose one of {', '.join(POOLING)}")
        features = vgg_features(network)
        if state_dict is None:
            state_dict, convention = load_state_dict(network)
        features.load_state_dict(state_dict, strict=True, assign=True)
        names = layer_names(features)
        self.layers = list(dict.fromkeys(layers))
        unknown = [name for name in self.layers if name not in names]
        if unknown:
            raise ValueError(f"{network} has no layer(s) {', '.join(unknown)}; known: {', '.join(names)}")
        depth = max(names.index(name) for name in self.layers) + 1
        modules = []
        for module in list(features)[:depth]:
            if isinstance(module, nn.MaxPool2d) and pool == "avg":
                module = nn.AvgPool2d(kernel_size=2, stride=2)
            elif isinstance(module, nn.ReLU):
                module = nn.ReLU(inplace=False)  # requested activations must survive the next layer
            modules.append(module)
        self.body = nn.Sequential(*modules)
        self.names = names[:depth]
        self.network, self.pool = network, pool
        self.normalize = InputNormalization(convention or "torchvision")
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # always frozen
        return super().train(False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.normalize(image)
        wanted = set(self.layers)
        out = {}
        for name, module in zip(self.names, self.body):
            x = module(x)
            if name in wanted:
                out[name] = x
        return out


_EXTRACTOR_CACHE: dict = {}


def get_extractor(layers: Iterable[str], network: str = "vgg19", pool: str = "avg",
                  device: torch.device | str = "cpu") -> VGGFeatures:
    """A cached extractor: building VGG and loading weights once per process saves seconds per job."""
    layers = tuple(dict.fromkeys(layers))
    key = (layers, network, pool, str(device))
    if key not in _EXTRACTOR_CACHE:
        _EXTRACTOR_CACHE[key] = VGGFeatures(layers, network, pool).to(device)
    return _EXTRACTOR_CACHE[key]


class FeatureCache:
    """Small LRU of a network's features of recently seen images, keyed by their content.

    A daemon serving several jobs against the same painting (one style, many objects or photos)
    skips re-encoding the style at every pyramid level of every job. ``reduce`` keeps only what is
    needed of the features (e.g. their Gram matrices, a few MB however large the image).
    """

    def __init__(self, max_entries: int = 6, reduce=None):
        self.max_entries, self.reduce = max_entries, reduce
        self._entries: "OrderedDict[tuple, dict]" = OrderedDict()
        self.hits = self.misses = 0

    def __call__(self, extractor: "VGGFeatures", image: torch.Tensor) -> dict[str, torch.Tensor]:
        digest = hashlib.blake2b(image.detach().float().cpu().contiguous().numpy().tobytes(),
                                 digest_size=16).hexdigest()
        key = (id(extractor), tuple(extractor.layers), tuple(image.shape), str(image.device), digest)
        if key in self._entries:
            self._entries.move_to_end(key)
            self.hits += 1
            return self._entries[key]
        self.misses += 1
        with torch.no_grad():
            features = {name: f.detach() for name, f in extractor(image).items()}
            if self.reduce is not None:
                features = self.reduce(features)
        self._entries[key] = features
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return features


style_features = FeatureCache()

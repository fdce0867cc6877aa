"""The feature extractor and the converted weights (needs `python install.py` to have fetched them)."""
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from painterly.engine import MissingWeightsError, load_image, weights
from painterly.engine.features import InputNormalization, VGGFeatures, layer_names

PAINTING = Path(__file__).resolve().parents[2] / "examples" / "starry_night.jpg"


@pytest.fixture(scope="module")
def painting():
    rgb = load_image(PAINTING).rgb[::3, ::3]  # 251×200 keeps it quick
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_converted_weights_have_the_known_checksum(arch):
    state, _ = weights.load_state_dict(arch)
    assert weights.tensor_checksum(state) == weights.SOURCES[arch].converted_sha256


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_trained_network_has_sparse_deep_activations(arch, painting):
    """ImageNet-trained VGG fires sparsely at depth (0.7-0.9 zeros on paintings); a random one ~0.5."""
    trained = VGGFeatures(["relu5_1"], arch, pool="max")(painting)["relu5_1"]
    random_net = getattr(__import__("torchvision").models, arch)(weights=None).features
    random_state = {k: v for k, v in random_net.state_dict().items()}
    convention = weights.SOURCES[arch].convention
    untrained = VGGFeatures(["relu5_1"], arch, pool="max", state_dict=random_state, convention=convention)(painting)
    trained_zeros = (trained == 0).float().mean().item()
    random_zeros = (untrained["relu5_1"] == 0).float().mean().item()
    assert trained_zeros > 0.7 and random_zeros < 0.65, (trained_zeros, random_zeros)


def test_input_conventions():
    rgb = torch.tensor([0.2, 0.5, 1.0]).view(1, 3, 1, 1)
    caffe = InputNormalization("caffe")(rgb).flatten()
    assert torch.allclose(caffe, torch.tensor([255 - 103.939, 127.5 - 116.779, 51 - 123.68]))  # BGR, 0-255
    tv = InputNormalization("torchvision")(rgb).flatten()
    assert torch.allclose(tv, (torch.tensor([0.2, 0.5, 1.0]) - torch.tensor([0.485, 0.456, 0.406]))
                          / torch.tensor([0.229, 0.224, 0.225]))


def test_layer_names_match_torchvision_indices():
    vgg19 = layer_names(__import__("torchvision").models.vgg19(weights=None).features)
    assert [vgg19.index(n) for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")] == \
        [1, 6, 11, 20, 22, 29]
    vgg16 = layer_names(__import__("torchvision").models.vgg16(weights=None).features)
    assert [vgg16.index(n) for n in ("relu3_3", "relu4_1", "relu4_2", "relu5_3")] == [15, 18, 20, 29]


def test_extractor_is_truncated_frozen_and_uses_requested_pooling(painting):
    extractor = VGGFeatures(["relu1_1", "conv3_1"], "vgg19", pool="avg")
    assert extractor.names[-1] == "conv3_1" and len(extractor.body) == 11
    assert not any(isinstance(m, nn.MaxPool2d) for m in extractor.body)
    assert all(not p.requires_grad for p in extractor.parameters()) and not extractor.training
    out = extractor(painting)
    assert set(out) == {"relu1_1", "conv3_1"}
    assert out["conv3_1"].shape[-2:] == (painting.shape[-2] // 4, painting.shape[-1] // 4)
    assert out["conv3_1"].min() < 0  # a conv output, before its ReLU
    with pytest.raises(ValueError, match="no layer"):
        VGGFeatures(["relu9_1"], "vgg19")
    with pytest.raises(ValueError, match="unknown network"):
        VGGFeatures(["relu1_1"], "resnet50")


def test_missing_weights_error_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINTERLY_CACHE", str(tmp_path))
    monkeypatch.setattr(weights, "_STATE_CACHE", {})
    with pytest.raises(MissingWeightsError, match="python install.py"):
        VGGFeatures(["relu1_1"], "vgg19")


def test_weight_pickle_loader_refuses_code():
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        weights._NumpyOnlyUnpickler(__import__("io").BytesIO(pickle.dumps(Evil()))).load()


def test_style_feature_cache_reuses_features_of_the_same_image_only():
    from painterly.engine.features import FeatureCache, get_extractor
    cache = FeatureCache(max_entries=2)
    extractor = get_extractor(("relu1_1", "relu2_1"), "vgg16", "avg", "cpu")
    style = torch.rand(1, 3, 32, 32)
    first = cache(extractor, style)
    again = cache(extractor, style.clone())
    assert again is first and cache.hits == 1
    other = cache(extractor, style + 0.01)
    assert other is not first and cache.misses == 2
    assert torch.equal(first["relu2_1"], extractor(style)["relu2_1"])
    cache(extractor, torch.rand(1, 3, 32, 32))       # evicts the oldest entry
    cache(extractor, style)
    assert cache.misses == 4

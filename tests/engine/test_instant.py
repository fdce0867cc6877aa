"""The instant path: the shipped decoder, the feature-space transforms and each method's instant quality."""
from pathlib import Path

import numpy as np
import pytest
import torch

from painterly import engine
from painterly.engine import load_image, load_mask
from painterly.engine.convert import to_image, to_tensor
from painterly.engine.instant import model_file
from painterly.engine.instant.codec import Codec
from painterly.engine.instant.decoder import Decoder
from painterly.engine.instant.train_decoder import DecoderSettings, train_decoder
from painterly.engine.instant.transforms import adain, covariance_roots, moments, wct
from painterly.engine.pyramid import fit_longest, resize

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# An image the shipped decoder never saw in training (a painting of the harmonization benchmark).
UNSEEN = REPO.parent / "shared" / "data" / "dph" / "16" / "painting.jpg"
CPU = torch.device("cpu")


def small(path, side=192):
    rgb = load_image(path).rgb
    return to_image(resize(to_tensor(rgb), fit_longest(rgb.shape[:2], side), sharp=True))


def test_adain_gives_the_style_mean_and_deviation():
    gen = torch.Generator().manual_seed(0)
    content = torch.rand(1, 8, 12, 10, generator=gen) * 3
    style = torch.randn(1, 8, 9, 7, generator=gen) * 0.5 + 2
    out = adain(content, style)
    for got, want in zip(moments(out), moments(style)):
        assert torch.allclose(got, want, atol=1e-4)
    # restricted to a region: the region's statistics move, the positions outside do not count
    where = torch.zeros(12, 10, dtype=torch.bool)
    where[2:8, 3:9] = True
    out = adain(content, style, where)
    assert torch.allclose(moments(out, where)[0], moments(style)[0], atol=1e-4)


def test_wct_gives_the_style_covariance():
    gen = torch.Generator().manual_seed(1)
    mix = torch.randn(6, 6, generator=gen)
    content = torch.randn(1, 6, 20, 20, generator=gen)
    style = (mix @ torch.randn(6, 400, generator=gen)).reshape(1, 6, 20, 20) + 1.5
    out = wct(content, style)
    mean_o, root_o, _ = covariance_roots(out)
    mean_s, root_s, _ = covariance_roots(style)
    assert torch.allclose(mean_o, mean_s, atol=1e-4)
    assert torch.allclose(root_o @ root_o, root_s @ root_s, rtol=0.02, atol=0.02)


@pytest.mark.weights
def test_shipped_decoder_inverts_the_encoder_on_an_unseen_image():
    if not UNSEEN.is_file():
        pytest.skip(f"{UNSEEN} not found (the shared benchmark data)")
    assert model_file.BUNDLED.stat().st_size <= 5 * 1024 * 1024
    codec = Codec(CPU)
    image = small(UNSEEN, 256)
    feats, hw = codec.encode(to_tensor(image))
    back = to_image(codec.decode(feats, hw))
    assert back.shape == image.shape
    psnr = 10 * np.log10(1.0 / float(((back - image) ** 2).mean()))
    assert psnr > 17.0                  # an untrained decoder: 5.8 dB
    # the decoded image's features are the ones it was made from (what every transform relies on)
    again, _ = codec.encode(to_tensor(back))
    assert float((again - feats).norm() / feats.norm()) < 0.75   # untrained: 3.1
    # and a 37×53 image comes back at 37×53 (padded to the encoder's stride, cropped back)
    odd, hw = codec.encode(to_tensor(image[:37, :53]))
    assert codec.decode(odd, hw).shape[-2:] == (37, 53)


def test_missing_or_foreign_decoder_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINTERLY_DECODER", str(tmp_path / "none.pt"))
    with pytest.raises(model_file.DecoderError, match="decoder file not found.*train-decoder"):
        model_file.loaded_decoder(CPU)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a decoder")
    monkeypatch.setenv("PAINTERLY_DECODER", str(junk))
    with pytest.raises(model_file.DecoderError, match="unreadable"):
        model_file.loaded_decoder(CPU)


@pytest.mark.weights
def test_train_decoder_writes_and_resumes(tmp_path):
    out = tmp_path / "dec.pt"
    settings = DecoderSettings(steps=2, size=32, batch=1, half=False)
    train_decoder(out, settings, log=lambda m: None)
    first = model_file.read(out)
    assert first["training"]["step"] == 2 and all(v.dtype == torch.float16 for v in first["state"].values())
    settings.steps = 3
    train_decoder(out, settings, resume=True, log=lambda m: None)
    assert model_file.read(out)["training"]["step"] == 3
    assert isinstance(model_file.build(model_file.read(out), CPU), Decoder)


@pytest.fixture(scope="module")
def demo():
    composite = load_image(EXAMPLES / "demo_composite.png").rgb
    mask = load_mask(EXAMPLES / "demo_mask.png")
    return composite, mask


@pytest.mark.weights
def test_instant_harmonize_paints_the_object_and_leaves_the_background_bit_exact(demo):
    composite, mask = demo
    out = engine.run_output("harmonize", {"composite": composite, "mask": mask}, {"quality": "instant"}, device="cpu")
    visible = out.composite_over(composite)
    outside = out.alpha == 0
    assert outside.mean() > 0.5
    assert np.array_equal(visible[outside], composite[outside])
    inside = mask > 0.5
    # the object changed, towards the painting's colours (the cup is white, the painting blue)
    change = np.abs(visible[inside] - composite[inside]).mean()
    assert change > 0.05
    assert visible[inside][:, 2].mean() - visible[inside][:, 0].mean() > \
        composite[inside][:, 2].mean() - composite[inside][:, 0].mean()


def _coarse_correlation(a, b, sigma=4.0):
    from scipy import ndimage
    la, lb = (ndimage.gaussian_filter(x @ np.array([0.299, 0.587, 0.114], np.float32), sigma) for x in (a, b))
    la, lb = la - la.mean(), lb - lb.mean()
    return float((la * lb).sum() / np.sqrt((la * la).sum() * (lb * lb).sum()))


@pytest.mark.weights
@pytest.mark.parametrize("transform", ["wct", "adain"])
def test_instant_stylize_keeps_the_photo_and_takes_the_style(transform):
    photo, painting = small(EXAMPLES / "coffee.png", 256), small(EXAMPLES / "starry_night.jpg", 256)
    out = engine.run("global", {"content": photo, "style": painting}, {"quality": "instant", "transform": transform},
                     device="cpu")
    assert out.shape == photo.shape
    assert _coarse_correlation(out, photo) > 0.6           # the cup is still there
    # its colours moved to the painting's (mean colour distance at least halved)
    before = np.abs(photo.mean((0, 1)) - painting.mean((0, 1))).sum()
    assert np.abs(out.mean((0, 1)) - painting.mean((0, 1))).sum() < 0.5 * before
    weak = engine.run("global", {"content": photo, "style": painting},
                      {"quality": "instant", "transform": transform, "strength": 0.3}, device="cpu")
    assert np.abs(weak - photo).mean() < np.abs(out - photo).mean()


@pytest.mark.weights
def test_fast_with_the_bundled_painting_keeps_the_photo():
    photo = small(EXAMPLES / "coffee.png", 256)
    out = engine.run("fast", {"content": photo}, {"model": "starry-night", "size": 256}, device="cpu")
    assert _coarse_correlation(out, photo) > 0.6
    assert np.abs(out - photo).mean() > 0.05


def _textured(h, w, colour, seed):
    rng = np.random.default_rng(seed)
    noise = torch.nn.functional.interpolate(torch.from_numpy(rng.random((1, 1, h // 4, w // 4), dtype=np.float32)),
                                            size=(h, w), mode="bicubic", align_corners=False)[0, 0].numpy()
    return np.clip(np.asarray(colour, np.float32) * (0.6 + 0.5 * noise[..., None]), 0, 1)


@pytest.mark.weights
def test_instant_photo_moves_each_label_to_its_own_style_region():
    h, w = 96, 128
    content = np.concatenate([_textured(h, w // 2, (0.7, 0.4, 0.4), 0), _textured(h, w // 2, (0.4, 0.4, 0.7), 1)], 1)
    content_seg = np.zeros((h, w, 3), np.float32)
    content_seg[:, :w // 2, 0] = 1          # left: the red label
    content_seg[:, w // 2:, 2] = 1          # right: the blue label
    green, yellow = (0.2, 0.7, 0.2), (0.8, 0.8, 0.1)
    style = np.concatenate([_textured(h // 2, w, green, 2), _textured(h // 2, w, yellow, 3)], 0)
    style_seg = np.zeros((h, w, 3), np.float32)
    style_seg[:h // 2, :, 0] = 1            # top: red label (green paint)
    style_seg[h // 2:, :, 2] = 1            # bottom: blue label (yellow paint)
    out = engine.run("photo", {"content": content, "style": style, "content_seg": content_seg, "style_seg": style_seg},
                     {"quality": "instant"}, device="cpu")
    left, right = out[:, :w // 2].mean((0, 1)), out[:, w // 2:].mean((0, 1))
    assert np.abs(left - green).sum() < np.abs(left - yellow).sum()
    assert np.abs(right - yellow).sum() < np.abs(right - green).sum()

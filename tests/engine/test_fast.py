"""Fast style networks: the network, model files, training and resume, inference (mask, tiles) and video."""
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from painterly import engine
from painterly.engine import save_image
from painterly.engine.fast import apply as fast_apply
from painterly.engine.fast.models import ModelError, build_network, read_model, save_model
from painterly.engine.fast.network import VARIANTS, TransformNet
from painterly.engine.fast.train import TrainSettings, train_style
from painterly.engine.optimize import CancelToken, Cancelled

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TINY = dict(size=32, batch=1, network="vgg16", content_layer="relu2_1", style_layers=("relu1_1", "relu2_1"),
            checkpoint_every=1, preview_every=0)


def textured(h, w, seed=0):
    """A smooth random colour field with some detail: flow-trackable and not constant."""
    rng = np.random.default_rng(seed)
    small = torch.from_numpy(rng.random((1, 3, h // 8 + 2, w // 8 + 2), dtype=np.float32))
    big = torch.nn.functional.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)
    return np.ascontiguousarray(big[0].permute(1, 2, 0).clamp(0, 1).numpy())


def model_file(tmp_path, variant="slim", output="tanh", seed=0) -> Path:
    torch.manual_seed(seed)
    net = TransformNet(variant, output)
    return save_model(tmp_path / f"{variant}-{output}.pt", {
        "network": net.config(), "state": net.state_dict(), "style": {"name": "test", "sha256": "0"},
        "settings": {}, "step": 0})


@pytest.mark.parametrize("variant", ["slim", "full"])
@pytest.mark.parametrize("hw", [(37, 53), (1, 1), (64, 31), (17, 2)])
def test_network_keeps_any_size(variant, hw):
    net = TransformNet(variant).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, *hw))
    assert out.shape == (2, 3, *hw)


@pytest.mark.parametrize("output", ["tanh", "sigmoid"])
def test_output_activation_stays_in_range(output):
    torch.manual_seed(1)
    net = TransformNet("slim", output).eval()
    with torch.no_grad():
        net.final[-1].weight.mul_(50)  # drive the last layer far into saturation
        out = net(torch.rand(1, 3, 40, 40))
    assert out.min() >= 0 and out.max() <= 1
    assert out.max() - out.min() > 0.5  # it does use the range


def test_slim_is_much_smaller_than_full():
    count = lambda n: sum(p.numel() for p in n.parameters())  # noqa: E731
    assert count(TransformNet("slim")) * 5 < count(TransformNet("full"))


def test_model_file_round_trip(tmp_path):
    path = model_file(tmp_path, "slim", "sigmoid")
    payload = read_model(path)
    net = build_network(payload, path)
    torch.manual_seed(0)
    ref = TransformNet("slim", "sigmoid").eval()
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        assert torch.equal(net(x), ref(x))


def test_model_keeps_the_layout_it_was_trained_with(tmp_path):
    """A model file names its layout (here with skips); files without that record load as the plain variant."""
    torch.manual_seed(0)
    skipped = TransformNet("slim", arch=replace(VARIANTS["slim"], skips=True, blocks=3)).eval()
    path = save_model(tmp_path / "skips.pt", {"network": skipped.config(), "state": skipped.state_dict(),
                                              "style": {"name": "test", "sha256": "0"}, "settings": {}, "step": 0})
    net = build_network(read_model(path), path)
    assert net.arch == skipped.arch and net.arch.skips
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        assert torch.equal(net(x), skipped(x))
    # a file that records no layout, or a layout without the skips field, is the plain network it was
    # trained as (skips add no weights, so the same weights would load either way)
    plain = TransformNet("slim").eval()
    older = {k: v for k, v in asdict(plain.arch).items() if k != "skips"}
    for network in ({"variant": "slim", "output": "tanh"},
                    {"variant": "slim", "output": "tanh", "architecture": older}):
        path = save_model(tmp_path / "plain.pt", {"network": network, "state": plain.state_dict(),
                                                  "style": {"name": "test", "sha256": "0"}, "settings": {}, "step": 0})
        net = build_network(read_model(path), path)
        assert not net.arch.skips
        with torch.no_grad():
            assert torch.equal(net(x), plain(x))
    assert not TransformNet("slim").arch.skips and not TransformNet("full").arch.skips


def test_identity_initialisation_reproduces_photos():
    from painterly.engine.fast.data import CropSampler
    from painterly.engine.fast.train import learn_identity
    torch.manual_seed(0)
    net = TransformNet("slim", arch=replace(VARIANTS["slim"], skips=True))
    photos = [textured(96, 128, seed=i) for i in range(3)]
    held_out = torch.from_numpy(textured(64, 64, seed=9)).permute(2, 0, 1)[None]
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(net.eval()(held_out), held_out)
    learn_identity(net.train(), CropSampler(photos, 48, 2), 60, 3e-3, "cpu")
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(net.eval()(held_out), held_out)
    assert after < 0.1 * before


def test_corrupt_model_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a model" * 10)
    with pytest.raises(ModelError) as err:
        read_model(bad)
    assert "not a painterly style model" in str(err.value) and "\n" not in str(err.value)
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(model_file(tmp_path).read_bytes()[:500])
    with pytest.raises(ModelError, match="cannot read style model"):
        read_model(truncated)


def test_model_of_another_variant_is_refused(tmp_path):
    path = model_file(tmp_path, "slim")
    with pytest.raises(ModelError, match="'slim' network, not 'full'"):
        build_network(read_model(path), path, variant="full")
    # weights that do not fit the variant the file claims
    payload = read_model(path)
    payload["network"] = TransformNet("full").config()
    forged = save_model(tmp_path / "forged.pt", payload)
    with pytest.raises(ModelError, match="do not fit"):
        build_network(read_model(forged), forged)


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    for i in range(3):
        save_image(folder / f"p{i}.png", textured(48, 64, seed=i))
    return folder


@pytest.mark.weights
def test_training_checkpoints_and_resumes_exactly(tmp_path, photos):
    style = EXAMPLES / "starry_night.jpg"
    straight = train_style(style, tmp_path / "a.pt", TrainSettings(steps=4, **TINY), photos=photos, log=lambda m: None)

    cancel = CancelToken()

    def stop_after_two(progress):
        if progress.iteration == 2:
            cancel.cancel()

    with pytest.raises(Cancelled):
        train_style(style, tmp_path / "b.pt", TrainSettings(steps=4, **TINY), photos=photos, progress=stop_after_two,
                    cancel=cancel, log=lambda m: None)
    interrupted = read_model(tmp_path / "b.pt")
    assert interrupted["step"] == 2 and not interrupted["complete"]
    assert interrupted["style"]["sha256"] and interrupted["settings"]["variant"] == "slim"
    train_style(style, tmp_path / "b.pt", TrainSettings(steps=4, **TINY), photos=photos, resume=True, log=lambda m: None)
    a, b = read_model(straight), read_model(tmp_path / "b.pt")
    assert b["step"] == 4 and b["complete"]
    for key in a["state"]:
        torch.testing.assert_close(a["state"][key], b["state"][key], rtol=1e-4, atol=1e-5)


@pytest.mark.weights
def test_resume_refuses_other_style_or_variant(tmp_path, photos):
    train_style(EXAMPLES / "starry_night.jpg", tmp_path / "m.pt", TrainSettings(steps=1, **TINY), photos=photos,
                log=lambda m: None)
    with pytest.raises(ModelError, match="another style image"):
        train_style(EXAMPLES / "coffee.png", tmp_path / "m.pt", TrainSettings(steps=2, **TINY), photos=photos,
                    resume=True, log=lambda m: None)
    with pytest.raises(ModelError, match="not 'full'"):
        train_style(EXAMPLES / "starry_night.jpg", tmp_path / "m.pt",
                    TrainSettings(steps=2, **dict(TINY, variant="full") if False else TINY) if False else
                    TrainSettings(**dict(TINY, steps=2, variant="full")), photos=photos, resume=True,
                    log=lambda m: None)
    with pytest.raises(ModelError, match="already exists"):
        train_style(EXAMPLES / "starry_night.jpg", tmp_path / "m.pt", TrainSettings(steps=2, **TINY), photos=photos,
                    log=lambda m: None)


def test_masked_fast_leaves_outside_untouched(tmp_path):
    content = textured(60, 80)
    mask = np.zeros((60, 80), np.float32)
    mask[20:35, 30:50] = 1
    out = engine.run_output("fast", {"content": content, "mask": mask},
                            {"model": str(model_file(tmp_path)), "dilation": 2, "feather": 2.0}, device="cpu")
    visible = out.composite_over(content)
    outside = out.alpha == 0
    assert outside.sum() > 0.5 * outside.size
    assert np.array_equal(visible[outside], content[outside])
    assert np.abs(visible[mask > 0] - content[mask > 0]).mean() > 0.01  # the inside did change


def test_tiles_reassemble_without_a_seam(tmp_path):
    net = build_network(read_model(model_file(tmp_path)), "m").eval()
    image = textured(200, 260, seed=3)
    t = fast_apply.to_tensor(image, "cpu")
    with fast_apply.frozen_norm_statistics(net, t), torch.no_grad():
        whole = net(t)[0].permute(1, 2, 0).numpy()
    tiled = fast_apply.run_tiled(net, t, tile=128)
    assert np.abs(tiled - whole).max() < 0.01
    # no step across the tile boundaries: the column-to-column change there is the whole image's
    steps = lambda img: np.abs(np.diff(img, axis=1)).mean(axis=(0, 2))  # noqa: E731
    starts = fast_apply._starts(260, 128, 32)
    assert len(starts) == 3
    boundaries = [x - 1 for x in starts[1:]] + [x + 127 for x in starts[:-1]]
    assert np.abs(steps(tiled)[boundaries] - steps(whole)[boundaries]).max() < 2e-3


def test_fast_method_whole_image_and_parameters(tmp_path):
    content = textured(50, 70)
    path = str(model_file(tmp_path))
    out = engine.run("fast", {"content": content}, {"model": path, "size": 32}, device="cpu")
    assert out.shape == content.shape and 0 <= out.min() and out.max() <= 1
    half = engine.run("fast", {"content": content}, {"model": path, "size": 32, "strength": 0.5}, device="cpu")
    np.testing.assert_allclose(half, 0.5 * out + 0.5 * content, atol=1e-5)
    with pytest.raises(engine.ParameterError, match="model must be one of"):
        engine.run("fast", {"content": content}, {"model": "no-such-style"}, device="cpu")
    tiled = engine.run("fast", {"content": textured(300, 200)}, {"model": path, "size": 0, "tile": 128}, device="cpu")
    whole = engine.run("fast", {"content": textured(300, 200)}, {"model": path, "size": 0}, device="cpu")
    assert np.abs(tiled - whole).mean() < 0.01
    with pytest.raises(engine.ParameterError, match="tile must be 0"):
        engine.run("fast", {"content": content}, {"model": path, "tile": 64}, device="cpu")


def test_bundled_styles_are_paintings_and_user_styles_take_either_kind(tmp_path, monkeypatch):
    from painterly.engine.fast.models import BUNDLED_DIR, available_models, is_painting
    bundled = {p.stem: p for p in BUNDLED_DIR.iterdir()}
    assert "starry-night" in bundled and is_painting(bundled["starry-night"])
    assert available_models()["starry-night"] == bundled["starry-night"]
    # the user's folder holds networks and paintings alike, and a user style of the same name wins
    monkeypatch.setenv("PAINTERLY_MODELS", str(tmp_path))
    net = model_file(tmp_path)
    net.rename(tmp_path / "mine.pt")
    save_image(tmp_path / "starry-night.png", textured(32, 32))
    found = available_models()
    assert found["mine"] == tmp_path / "mine.pt" and found["starry-night"] == tmp_path / "starry-night.png"
    content = textured(48, 64)
    out = engine.run("fast", {"content": content}, {"model": "mine", "size": 64}, device="cpu")
    assert out.shape == content.shape

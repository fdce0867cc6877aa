"""``painterly fast`` and ``painterly train-style`` from the command line: results, and one-line errors."""
import sys
from pathlib import Path

import numpy as np
import pytest

from painterly.cli.main import main
from painterly.engine import load_image, save_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from test_fast import model_file, textured  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("painterly: error:") and "\n" not in err and "Traceback" not in err
    return err


def test_fast_image_and_mask(tmp_path):
    image = tmp_path / "in.png"
    save_image(image, textured(40, 56))
    mask = np.zeros((40, 56), np.float32)
    mask[10:20, 10:30] = 1
    save_image(tmp_path / "mask.png", np.repeat(mask[..., None], 3, 2))
    model = str(model_file(tmp_path))
    assert main(["fast", model, str(image), "-o", str(tmp_path / "out.png"), "--quiet"]) == 0
    assert load_image(tmp_path / "out.png").size == (56, 40)
    assert main(["fast", model, str(image), "-o", str(tmp_path / "masked.png"), "--mask", str(tmp_path / "mask.png"),
                 "--dilation", "1", "--feather", "1", "--quiet"]) == 0
    original, masked = load_image(image).rgb, load_image(tmp_path / "masked.png").rgb
    assert np.array_equal(original[:, 40:], masked[:, 40:])


def test_fast_errors_are_one_line(tmp_path, capsys):
    image = tmp_path / "in.png"
    save_image(image, textured(32, 32))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x02garbage")
    assert "not a painterly style model" in one_line_error(capsys, ["fast", str(bad), str(image), "-o", "x.png"])
    assert "no-such-style" in one_line_error(capsys, ["fast", "no-such-style", str(image), "-o", "x.png"])
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\0" * 100)
    pytest.importorskip("cv2")
    assert "cannot read video" in one_line_error(
        capsys, ["fast", str(model_file(tmp_path)), "--video", str(video), "-o", str(tmp_path / "o.mp4")])


def test_fast_video_keeps_frame_rate(tmp_path):
    pytest.importorskip("cv2")
    from painterly.engine.fast.video import FrameWriter, video_info
    writer = FrameWriter(tmp_path / "in.avi", fps=7.0)
    for seed in range(4):
        writer.write(textured(48, 64, seed))
    writer.close()
    assert main(["fast", str(model_file(tmp_path)), "--video", str(tmp_path / "in.avi"), "-o",
                 str(tmp_path / "out.avi"), "--quiet"]) == 0
    fps, count, size = video_info(tmp_path / "out.avi")
    assert fps == pytest.approx(7.0) and count == 4 and size == (64, 48)
    assert main(["fast", str(model_file(tmp_path)), "--frames", str(tmp_path / "none"), "-o",
                 str(tmp_path / "frames"), "--quiet"]) == 2


@pytest.mark.weights
def test_fast_restyles_frames_with_any_painting(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for seed in range(3):
        save_image(frames / f"f{seed}.png", textured(48, 64, seed))
    painting = tmp_path / "painting.png"          # any painting's image, no trained model
    save_image(painting, textured(64, 64, 9)[..., ::-1].copy())
    assert main(["fast", str(painting), "--frames", str(frames), "-o", str(tmp_path / "out"), "--consistency", "0",
                 "--quiet"]) == 0
    outs = sorted((tmp_path / "out").iterdir())
    assert len(outs) == 3
    first = load_image(outs[0]).rgb
    assert first.shape == (48, 64, 3) and np.abs(first - load_image(frames / "f0.png").rgb).mean() > 0.02
    assert main(["fast", "starry-night", str(frames / "f0.png"), "-o", str(tmp_path / "s.png"), "--quiet"]) == 0


@pytest.mark.weights
def test_train_style_resume_of_other_variant_is_one_line_error(tmp_path, capsys):
    photos = tmp_path / "photos"
    save_image(photos / "a.png", textured(48, 48))
    model = str(tmp_path / "m.pt")
    args = ["train-style", str(EXAMPLES / "starry_night.jpg"), "-o", model, "--photos", str(photos), "--size", "32",
            "--batch", "1", "--steps", "1", "--preview-every", "1", "--quiet"]
    assert main(args) == 0
    assert (tmp_path / "m-previews" / "step_000001.png").is_file()
    assert "not 'full'" in one_line_error(capsys, args + ["--resume", "--steps", "2", "--variant", "full"])

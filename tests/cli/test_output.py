"""The command line's output files: checked before any compute, written whole or not at all, never over an
input, transparency into JPEG flattened with a note."""
import numpy as np
import pytest
from PIL import Image

from painterly.cli import main as cli
from painterly.cli.errors import UserError
from painterly.cli.output import check_folder, check_output, write_image


@pytest.fixture
def files(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "content.png")
    Image.fromarray(255 - rgb).save(tmp_path / "style.png")
    (tmp_path / "afile").write_text("not a folder")
    return tmp_path


@pytest.fixture
def no_compute(monkeypatch):
    """Fails the test if a command gets as far as computing."""
    from painterly import engine

    def compute(*args, **kwargs):
        raise AssertionError("computed before checking the output")
    monkeypatch.setattr(engine, "run", compute)


@pytest.mark.parametrize("output, words", [
    ("content.png", "over the input"),
    ("style.png", "over the input"),
    ("afile/x.png", "afile is not a folder"),
    ("afile/x", "afile is not a folder"),
    ("out.xyz", "not an image format"),
    ("out", "not an image format"),
    (".", "is a folder"),
])
def test_bad_outputs_are_refused_before_computing(files, no_compute, capsys, output, words):
    before = {p.name: p.read_bytes() for p in files.iterdir() if p.is_file()}
    code = cli.main(["stylize", str(files / "content.png"), str(files / "style.png"), "-o", str(files / output),
                     "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err, err
    assert {p.name: p.read_bytes() for p in files.iterdir() if p.is_file()} == before


def test_an_output_linked_to_an_input_is_refused(files):
    (files / "link.png").symlink_to(files / "content.png")
    with pytest.raises(UserError, match="over the input"):
        check_output(files / "link.png", files / "content.png")
    assert check_output(files / "new" / "deeper" / "out.png", files / "content.png").name == "out.png"
    with pytest.raises(UserError, match="it is a file"):
        check_folder(files / "afile")


def test_transparency_into_jpeg_is_flattened_onto_white_with_a_note(files, capsys):
    victim = files / "old.jpg"
    Image.new("RGB", (3, 3), "blue").save(victim)
    rgb = np.zeros((8, 8, 3), np.float32)
    alpha = np.zeros((8, 8), np.float32)
    alpha[2:6, 2:6] = 1
    write_image(victim, rgb, alpha)
    assert "flattened onto white" in capsys.readouterr().err
    with Image.open(victim) as im:
        arr = np.asarray(im.convert("RGB")).astype(int)
    assert im.format == "JPEG" and arr.shape == (8, 8, 3)
    assert arr[0, 0].min() > 240 and arr[4, 4].max() < 15
    write_image(files / "opaque.jpg", rgb, np.ones((8, 8), np.float32))   # fully opaque: no note
    assert capsys.readouterr().err == ""


def test_a_failed_write_keeps_the_earlier_file(files, monkeypatch):
    import painterly.engine
    out = files / "result.png"
    out.write_bytes(b"earlier result")

    def broken(path, rgb, alpha=None, bit_depth=8, fileobj=None):
        fileobj.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(painterly.engine, "save_image", broken)
    with pytest.raises(UserError, match="No space left"):
        write_image(out, np.zeros((4, 4, 3), np.float32))
    assert out.read_bytes() == b"earlier result"
    assert sorted(p.name for p in files.iterdir()) == ["afile", "content.png", "result.png", "style.png"]


def test_sixteen_bit_png_round_trip(files):
    rgb = np.linspace(0, 1, 4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
    write_image(files / "deep.png", rgb, None, 16)
    from painterly.engine import load_image
    back = load_image(files / "deep.png")
    assert back.bit_depth == 16 and np.abs(back.rgb - rgb).max() < 1e-4

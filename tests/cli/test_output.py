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
    monkeypatch.setattr(engine, "run_output", compute)


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


def test_every_style_image_is_an_input(files, no_compute, capsys):
    """``--style`` images (the second and third of a blend too) are never overwritten by the result."""
    Image.new("RGB", (16, 16), "green").save(files / "style2.png")
    before = {p.name: p.read_bytes() for p in files.iterdir() if p.is_file()}
    for argv in (["--style", "style.png", "-o", "style.png"],
                 ["style.png", "--style", "style2.png", "-o", "style2.png"],
                 ["--style", "style.png", "--style", "style2.png", "-o", "style2.png"]):
        argv = [str(files / a) if a.endswith(".png") else a for a in argv]
        assert cli.main(["stylize", str(files / "content.png"), *argv, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "over the input" in err and "Traceback" not in err, err
    assert {p.name: p.read_bytes() for p in files.iterdir() if p.is_file()} == before


def test_label_maps_and_masks_are_inputs(files, no_compute, capsys):
    Image.new("L", (16, 16), 255).save(files / "mask.png")
    for extra, victim in ((["--content-seg", "content.png", "--style-seg", "seg.png"], "seg.png"),
                          (["--mask", "mask.png"], "mask.png")):
        Image.new("RGB", (16, 16), "blue").save(files / "seg.png")
        extra = [str(files / a) if a.endswith(".png") else a for a in extra]
        before = (files / victim).read_bytes()
        assert cli.main(["photo", str(files / "content.png"), str(files / "style.png"), *extra,
                         "-o", str(files / victim), "--quiet"]) == 2
        assert "over the input" in capsys.readouterr().err
        assert (files / victim).read_bytes() == before


@pytest.mark.parametrize("victim", ["pass1.png", "post.png"])
def test_saved_passes_never_overwrite_an_input_or_the_result(files, no_compute, capsys, victim):
    Image.new("L", (16, 16), 255).save(files / "mask.png")
    Image.new("RGB", (16, 16), "blue").save(files / victim)
    before = {p.name: p.read_bytes() for p in files.iterdir() if p.is_file()}
    code = cli.main(["harmonize", str(files / victim), "--mask", str(files / "mask.png"), "-o",
                     str(files / "out.png"), "--save-passes", str(files), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and f"over the input {files / victim}" in err and "Traceback" not in err, err
    code = cli.main(["harmonize", str(files / "content.png"), "--mask", str(files / "mask.png"), "-o",
                     str(files / "refine.png"), "--save-passes", str(files), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "written twice" in err, err
    assert {p.name: p.read_bytes() for p in files.iterdir() if p.is_file()} == before


def test_a_pass_named_at_run_time_is_checked_before_it_is_written(files, monkeypatch, capsys):
    """A pass name the engine adds later is checked when it comes, not only the names known up front."""
    from painterly import engine
    Image.new("L", (16, 16), 255).save(files / "mask.png")
    Image.new("RGB", (16, 16), "blue").save(files / "extra.png")
    before = (files / "extra.png").read_bytes()

    def run(method, inputs, params, save_passes=None, **kwargs):
        save_passes("extra", np.zeros((16, 16, 3), np.float32))
        raise AssertionError("went on after writing over an input")
    monkeypatch.setattr(engine, "run", run)
    code = cli.main(["harmonize", str(files / "extra.png"), "--mask", str(files / "mask.png"), "-o",
                     str(files / "out.png"), "--save-passes", str(files), "--quiet"])
    assert code == 2 and "over the input" in capsys.readouterr().err
    assert (files / "extra.png").read_bytes() == before


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
def test_an_existing_output_keeps_its_permissions(files, mode):
    import os
    import stat
    out = files / "private.png"
    out.write_bytes(b"earlier")
    os.chmod(out, mode)
    write_image(out, np.zeros((4, 4, 3), np.float32))
    assert stat.S_IMODE(os.stat(out).st_mode) == mode
    assert Image.open(out).size == (4, 4)
    write_image(files / "fresh.png", np.zeros((4, 4, 3), np.float32))       # a new file: the umask's mode
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(files / "fresh.png").st_mode) == 0o666 & ~umask

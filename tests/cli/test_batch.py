"""``painterly batch`` on a folder of composites: an in-process Dask cluster by default, or a daemon; a run
stopped half-way is finished by running it again, and files that fail are named while the others go on."""
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from PIL import Image


PARAMS = ["--quality", "preview", "--size", "64", "--iterations", "4", "--network", "vgg16"]


@pytest.fixture
def folder():
    path = pathlib.Path(tempfile.mkdtemp(prefix="painterly-batch-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_composites(folder: pathlib.Path, count: int, size: int = 96):
    """``c00.png``... with a square object pasted in, and ``c00_mask.png``... beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:size, :size] / size
    for index in range(count):
        painting = np.stack([xx, yy, rng.random((size, size))], axis=2)
        painting[size // 3: 2 * size // 3, size // 3: 2 * size // 3] = rng.random(3)
        Image.fromarray((painting * 255).astype(np.uint8)).save(folder / f"c{index:02d}.png")
        mask = np.zeros((size, size), np.uint8)
        mask[size // 3: 2 * size // 3, size // 3: 2 * size // 3] = 255
        Image.fromarray(mask).save(folder / f"c{index:02d}_mask.png")


def batch_argv(folder, *extra):
    return [sys.executable, "-m", "painterly.cli", "batch", "harmonize", str(folder / "in"), "--mask-suffix",
            "_mask", "-o", str(folder / "out"), *PARAMS, *extra]


def outputs(folder):
    return {p.name: p.stat().st_mtime_ns for p in (folder / "out").glob("*.png") if not p.name.startswith(".")}


def descendants(pid):
    """The processes started by ``pid`` (and theirs)."""
    children = {}
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid):
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_batch_killed_half_way_then_run_again_computes_only_the_missing(folder):
    make_composites(folder / "in", 12)
    log = open(folder / "first.log", "wb")
    first = subprocess.Popen(batch_argv(folder, "--workers", "2"), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while len(outputs(folder)) < 5:
        assert first.poll() is None, (folder / "first.log").read_text()
        assert time.monotonic() < deadline, (folder / "first.log").read_text()
        time.sleep(0.05)
    helpers = descendants(first.pid)
    first.send_signal(signal.SIGKILL)
    first.wait()
    log.close()
    done_before = outputs(folder)
    assert 5 <= len(done_before) < 12, done_before
    deadline = time.monotonic() + 30   # the in-process cluster's workers go with it
    while any(alive(pid) for pid in helpers):
        assert time.monotonic() < deadline, [pid for pid in helpers if alive(pid)]
        time.sleep(0.1)
    for name in done_before:  # every output there is whole
        assert Image.open(folder / "out" / name).size == (96, 96)

    again = subprocess.run(batch_argv(folder, "--workers", "2"), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    missing = 12 - len(done_before)
    assert f"harmonize on {missing} of 12 images" in again.stderr, again.stderr
    assert f"{missing} written, {len(done_before)} already there, 0 failed" in again.stderr, again.stderr
    after = outputs(folder)
    assert sorted(after) == [f"c{i:02d}.png" for i in range(12)]
    assert all(after[name] == mtime for name, mtime in done_before.items())  # not computed again

    # Each output is what the in-process engine makes of the same inputs, bit for bit.
    import torch
    from painterly import engine
    from painterly.cli.remote import load_file, visible_result
    from painterly.daemon import buffers
    torch.set_num_threads(1)
    name = sorted(set(after) - set(done_before))[0]
    composite = load_file(folder / "in" / name, "rgb")
    mask = buffers.from_uint(buffers.quantize(engine.load_mask(folder / "in" / name.replace(".png", "_mask.png")), 8))
    inputs = {"composite": buffers.to_input(composite, "rgb"), "mask": buffers.to_input(mask, "mask")}
    params = {"quality": "preview", "size": 64, "iterations": 4, "network": "vgg16"}
    output = engine.run_output("harmonize", inputs, params, device="cpu")
    want = visible_result(buffers.result_buffer(output.rgb, output.alpha, composite), composite)
    got = np.asarray(Image.open(folder / "out" / name))
    assert np.array_equal(got, buffers.quantize(want, 8))


def test_batch_names_a_corrupt_image_and_a_missing_mask_and_does_the_rest(folder):
    make_composites(folder / "in", 4)
    (folder / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    os.rename(folder / "in" / "c03_mask.png", folder / "unused_mask.png")
    run = subprocess.run(batch_argv(folder, "--workers", "1"), capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stderr
    assert "3 written, 0 already there, 2 failed" in run.stderr, run.stderr
    failed = dict(re.findall(r"failed: (\S+): (.*)", run.stderr))
    assert set(failed) == {"broken.png", "c03.png"}, run.stderr
    assert "cannot" in failed["broken.png"] and "no mask" in failed["c03.png"]
    assert sorted(outputs(folder)) == ["c00.png", "c01.png", "c02.png"]
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_batch_on_a_video_writes_one_image_per_frame_and_resumes(folder):
    import cv2
    video = folder / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 40))
    for index in range(5):
        frame = np.full((40, 48, 3), 40 * index, np.uint8)
        frame[10:30, 8 + 4 * index: 24 + 4 * index] = (30, 200, 90)
        writer.write(frame)
    writer.release()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / "s.png")
    argv = [sys.executable, "-m", "painterly.cli", "batch", "global", str(video), "--style", str(folder / "s.png"),
            "-o", str(folder / "out"), "--size", "32", "--iterations", "2", "--network", "vgg16", "--workers", "1"]
    (folder / "out").mkdir()
    Image.new("RGB", (48, 40)).save(folder / "out" / "frame_000002.png")  # as if an earlier run wrote it
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "global on 4 of 5 images" in run.stderr and "4 written, 1 already there, 0 failed" in run.stderr
    assert sorted(outputs(folder)) == [f"frame_{n:06d}.png" for n in range(1, 6)]
    assert Image.open(folder / "out" / "frame_000003.png").size == (48, 40)
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "all 5 images" in again.stderr, again.stderr


def test_batch_outputs_never_overwrite_its_inputs(folder, capsys):
    """An output folder holding the masks (same names as the images) or the style image is refused before
    any compute, instead of the masks being taken for finished outputs or overwritten."""
    from painterly.cli import main as cli
    make_composites(folder / "in", 2, size=16)
    (folder / "masks").mkdir()
    for index in range(2):
        shutil.move(folder / "in" / f"c{index:02d}_mask.png", folder / "masks" / f"c{index:02d}.png")
    Image.new("RGB", (16, 16), "blue").save(folder / "masks" / "style.png")
    shutil.copy(folder / "masks" / "style.png", folder / "in" / "style.png")
    before = {p: p.read_bytes() for p in folder.rglob("*.png")}
    for extra in (["--mask-dir", str(folder / "masks"), "-o", str(folder / "masks")],
                  ["--mask-dir", str(folder / "masks"), "--style", str(folder / "masks" / "style.png"),
                   "-o", str(folder / "masks")]):
        code = cli.main(["batch", "harmonize", str(folder / "in"), *extra, *PARAMS, "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and "over the input" in err and "Traceback" not in err, err
    assert {p: p.read_bytes() for p in folder.rglob("*.png")} == before

"""The GIMP 3 plug-in, end to end in real GIMP 3 (apprig chroot) against a real daemon on this host.

* ``gimp_run``: one gimp-console run drives several scenarios non-interactively
  (plugin_gimp/testing/gimp_e2e_driver.py): 8-bit harmonize with layer offsets, 16-bit, a pasted object
  layer whose alpha is the mask, stylize, photo, the test-only method ``dummy_tint`` (declared in
  tests/plugins/dummy_method.py, offered by the test daemon: its procedure and arguments come from the
  daemon's declaration with no plug-in edit), and the error cases.  Its profile holds vendored
  pyzmq/msgpack and the chroot's own copies are hidden, which proves the bundled wheels work in GIMP's Python.
* ``bundled_run``: registration while no daemon answers: the procedures come from the declarations the
  installer bundled.
* ``gui_run``: GIMP with its GUI under Xvfb (gimp_gui_check.sh): the procedure runs, ONE Ctrl+Z is typed
  into the image window and must take the whole result back; then the interactive dialog is screenshot.
Skipped with the rig's reason when the chroot is missing.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import Apprig, apprig_unavailable

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from installer import gimp as gimp_installer  # noqa: E402

TESTING = REPO / "plugin_gimp" / "testing"
DRIVER = TESTING / "gimp_e2e_driver.py"
GUI_FILES = ("gimp_gui_driver.py", "gimp_gui_check.sh", "x11_window_shot.py", "x11_send_key.py")
SCREENSHOT = REPO / "docs" / "images" / "gimp_dialog.png"
W, H = 96, 64
CANVAS = [112, 80, 8, 10]            # the painting layer sits at offset (8, 10) in a larger canvas
SELECTION = [42, 28, 30, 26]         # image coordinates, around the pasted square
OBJECT = (36, 20, 28, 24)            # x, y, w, h of the pasted square in the painting layer
FAST = {"quality": "preview", "iterations": 3, "size": 64}
MAX_PIXELS = 30000                   # the test daemon's limit, so "too large" is cheap to reach
BAND = 12                            # the result may reach this far beyond the selection (dilation + feather)
HARMONIZE = "plug-in-painterly-harmonize"
ENGINE_PROCEDURES = ["plug-in-painterly-global", "plug-in-painterly-harmonize", "plug-in-painterly-masked",
                     "plug-in-painterly-photo"]
DUMMY = "plug-in-painterly-dummy-tint"



def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def rig():
    reason = apprig_unavailable()
    if reason:
        pytest.skip(reason)
    return Apprig()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("gimp")
    yy, xx = np.mgrid[0:H, 0:W]
    rng = np.random.default_rng(0)
    painting = np.stack([150 + 60 * np.sin(xx / 5.0 + yy / 9.0), 110 + 50 * np.sin(yy / 4.0 - xx / 11.0),
                         60 + 30 * np.cos((xx + yy) / 7.0)], -1) + rng.normal(0, 6, (H, W, 3))
    x, y, w, h = OBJECT
    painting[y:y + h, x:x + w] = [70, 110, 190]          # a flat "photo" object pasted in
    Image.fromarray(np.clip(painting, 0, 255).astype(np.uint8), "RGB").save(work / "in.png")
    obj = np.zeros((64, 96, 4), np.uint8)                 # the object alone, transparent around it
    obj[20:44, 34:62] = [200, 60, 40, 255]
    Image.fromarray(obj, "RGBA").save(work / "object.png")
    return work


class Daemon:
    """The real daemon, on a socket in the shared work folder (as on a desktop: a socket only the user
    reaches); it starts (torch import, weights) while GIMP profiles are made."""

    def __init__(self, work):
        self.endpoint = "ipc://%s/daemon.sock" % work
        self.log_path = work / "daemon.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "painterly.cli", "daemon", "--endpoint", self.endpoint,
             "--device", "cpu", "--threads", "1", "--max-pixels", str(MAX_PIXELS),
             "--test-method", "dummy_method:DUMMY"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, env=test_method_env())

    def ready(self):
        deadline = time.monotonic() + 180
        while "listening on" not in self.log_path.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail("daemon did not start:\n" + self.log_path.read_text()[-3000:])
            time.sleep(0.2)
        return self.endpoint


@pytest.fixture(scope="module")
def daemon_process(work):
    started = Daemon(work)
    yield started
    proc, log = started.proc, started.log
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def daemon(daemon_process):
    return daemon_process.ready()


def install_args(*argv):
    parser = argparse.ArgumentParser()
    gimp_installer.add_arguments(parser)
    return parser.parse_args(list(argv))


def make_profile(rig, path, *install_argv):
    """A warm GIMP profile with the plug-in installed by the installer that install.py runs."""
    rig.gimp_profile(path)
    gimp_installer.install(install_args("--gimp-profile", str(path), *install_argv), lambda m: None)
    return path


def test_method_env():
    """The environment of a daemon that can import the test-only method (tests/plugins/dummy_method.py)."""
    paths = [str(Path(__file__).resolve().parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def run_driver(rig, work, profile, scenarios, name, endpoint, env=None, wrapper=None, procedures=()):
    """One GIMP run of the driver; GIMP registers the plug-in asking the daemon at ``endpoint``."""
    cfg = work / (name + ".json")
    result = work / (name + ".result.json")
    cfg.write_text(json.dumps({"result": str(result), "scenarios": scenarios, "procedures": list(procedures)}))
    env = dict(env or {}, PAINTERLY_GIMP_DRIVER=str(cfg), PAINTERLY_CONNECT_TIMEOUT="3",
               PAINTERLY_ENDPOINT=endpoint)
    gimp = ["gimp-console-3.0", "-i", "--batch-interpreter", "python-fu-eval", "-b", "-", "--quit"]
    cmd = wrapper(gimp) if wrapper else gimp
    r = rig.run(*cmd, share=[work], env=dict(env, GIMP3_DIRECTORY=str(profile)), timeout=240,
                stdin=DRIVER.read_bytes())
    (work / (name + ".gimp.log")).write_bytes(r.stdout + r.stderr)
    assert result.exists(), "GIMP wrote no result (exit %d):\n%s" % (r.returncode, r.stderr.decode()[-3000:])
    res = json.loads(result.read_text())
    assert res["status"] == "ok", res.get("error")
    return res, r


def scenario(work, name, endpoint, **extra):
    """One case of the driver: harmonize (quick settings) unless another procedure is named."""
    procedure = extra.pop("procedure", HARMONIZE)
    sc = {"name": name, "input": str(work / "in.png"), "canvas": CANVAS, "selection": SELECTION,
          "procedure": procedure, "dump": str(work / name),
          "args": dict(FAST if procedure == HARMONIZE else {}, endpoint=endpoint)}
    sc["args"].update(extra.pop("args", {}))
    sc.update(extra)
    return sc


# An __init__ that fails, as for a package that is not installed (an empty folder would still import, as a
# namespace package); bind-mounted inside the run's private mount namespace only.
HIDE_SYSTEM_ZMQ = ("mkdir -p /tmp/hidden && echo 'raise ImportError(\"hidden by the test\")' > /tmp/hidden/__init__.py "
                   "&& for m in zmq msgpack; do mount --bind /tmp/hidden /usr/lib/python3/dist-packages/$m || "
                   "exit 97; done && exec \"$@\"")


@pytest.fixture(scope="module")
def gimp_run(rig, work, daemon_process):
    """The plug-in installed with pyzmq/msgpack wheels for GIMP's Python 3.13 (when they can be downloaded),
    the chroot's own copies hidden; then all scenarios in one GIMP run."""
    try:
        profile = make_profile(rig, work / "profile", "--gimp-vendor", "always", "--gimp-python-version", "3.13")
        vendored, wrapper = None, lambda cmd: ["sh", "-c", HIDE_SYSTEM_ZMQ, "sh"] + cmd
    except SystemExit as exc:        # no PyPI here: GIMP's own pyzmq, and the vendoring test skips
        profile = make_profile(rig, work / "profile-plain")
        vendored, wrapper = str(exc), None
    daemon = daemon_process.ready()
    closed = "tcp://127.0.0.1:%d" % free_port()
    scenarios = [
        scenario(work, "harmonize8", daemon),
        scenario(work, "harmonize16", daemon, precision="u16"),
        scenario(work, "alpha_mask", daemon, selection=None, object_layer=[str(work / "object.png"), 12, 14],
                 style_is_painting=True),
        scenario(work, "gray", daemon, grayscale=True),
        scenario(work, "stylize", daemon, procedure="plug-in-painterly-masked", style_is_painting=True,
                 args={"iterations": 2, "size": 64}),
        scenario(work, "photo", daemon, procedure="plug-in-painterly-photo", style_is_painting=True,
                 args={"iterations": 2, "photo-iterations": 1, "size": 64}),
        scenario(work, "dummy", daemon, procedure=DUMMY, style_is_painting=True,
                 args={"amount": 1.0, "tint": "green", "invert": True, "style-mix": 0.0}),
        scenario(work, "no_mask", daemon, selection=None),
        scenario(work, "empty_selection", daemon, small_layer=[16, 16, 92, 60], selection=[0, 0, 20, 20]),
        scenario(work, "too_large", daemon, canvas=[240, 160, 0, 0], resize_layer=True, selection=None,
                 style_is_painting=True, procedure="plug-in-painterly-global"),
        scenario(work, "daemon_down", closed),
    ]
    t0 = time.monotonic()
    res, r = run_driver(rig, work, profile, scenarios, "main", daemon, wrapper=wrapper,
                        procedures=ENGINE_PROCEDURES + [DUMMY])
    res["seconds"] = time.monotonic() - t0
    res["vendor_failure"] = vendored
    res["profile"] = profile
    res["by_name"] = {sc["name"]: sc for sc in res["scenarios"]}
    res["log"] = (r.stdout + r.stderr).decode(errors="replace")
    return res


def load(path, width, height, depth):
    dtype = np.uint8 if depth == 8 else np.dtype("<u2")
    scale = 255.0 if depth == 8 else 65535.0
    return np.frombuffer(Path(path).read_bytes(), dtype).reshape(height, width, 4).astype(np.float64) / scale


def composite_check(work, sc, depth, selection_layer_xy):
    """Visible result (new layer over the original) vs the original, in the original layer's coordinates:
    (mean change inside the selection, number of changed pixels beyond the band around it)."""
    orig, new = sc["original"], sc["new_layer"]
    before = load(work / (sc["name"] + ".before.raw"), orig["width"], orig["height"], depth)
    layer = load(work / (sc["name"] + ".new.raw"), new["width"], new["height"], depth)
    over = np.zeros_like(before)                       # the new layer placed on the original's grid
    dx, dy = new["x"] - orig["x"], new["y"] - orig["y"]
    h, w = over.shape[:2]
    ys, xs = slice(max(0, dy), min(h, dy + new["height"])), slice(max(0, dx), min(w, dx + new["width"]))
    over[ys, xs] = layer[ys.start - dy:ys.stop - dy, xs.start - dx:xs.stop - dx]
    alpha = over[..., 3:]
    visible = alpha * over[..., :3] + (1 - alpha) * before[..., :3]
    change = np.abs(visible - before[..., :3]).max(-1)
    x, y, sw, sh = selection_layer_xy
    inside = np.zeros(change.shape, bool)
    inside[y:y + sh, x:x + sw] = True
    near = np.zeros(change.shape, bool)
    near[max(0, y - BAND):y + sh + BAND, max(0, x - BAND):x + sw + BAND] = True
    return change[inside].mean(), int((change[~near] > 0).sum()), alpha[..., 0]


def one_layer_named(sc, label):
    """One layer was added, named after the method (its label, then the basic parameters' values)."""
    return len(sc["added"]) == 1 and (sc["added"][0] == label or sc["added"][0].startswith(label + " ("))


@pytest.mark.apprig
def test_harmonize_8bit_new_layer_inside_selection_only(gimp_run, work):
    sc = gimp_run["by_name"]["harmonize8"]
    assert sc["status"] == "success", sc["message"]
    assert one_layer_named(sc, "Harmonize Selection") and sc["new_is_added"] and sc["new_above_original"]
    assert sc["layers_after"] == [sc["added"][0], "Background"]
    assert sc["original_unchanged"], "the original layer was modified"
    assert sc["original"]["x"] == CANVAS[2] and sc["original"]["y"] == CANVAS[3]
    sel_local = [SELECTION[0] - CANVAS[2], SELECTION[1] - CANVAS[3], SELECTION[2], SELECTION[3]]
    inside, outside_changed, alpha = composite_check(work, sc, 8, sel_local)
    assert inside > 0.05, "the selection barely changed (mean %.4f)" % inside
    assert outside_changed == 0, "%d pixels changed outside the selection" % outside_changed
    assert alpha[sel_local[1] + 5, sel_local[0] + 5] > 0.9       # the result covers the object
    assert sc["undo_enabled"]
    # The plug-in's changes are one undo group; GIMP warns when a plug-in leaves one open.
    assert "inconsistent state" not in gimp_run["log"], gimp_run["log"][-2000:]


@pytest.mark.apprig
def test_high_bit_depth(gimp_run, work):
    sc = gimp_run["by_name"]["harmonize16"]
    assert sc["status"] == "success", sc["message"]
    assert sc["original_unchanged"] and sc["new_is_added"]
    sel_local = [SELECTION[0] - CANVAS[2], SELECTION[1] - CANVAS[3], SELECTION[2], SELECTION[3]]
    inside, outside_changed, _ = composite_check(work, sc, 16, sel_local)
    assert inside > 0.02 and outside_changed == 0
    # 16-bit data really went through: the result has values between the 8-bit steps.
    new = sc["new_layer"]
    raw = np.frombuffer((work / "harmonize16.new.raw").read_bytes(), "<u2")
    assert (raw % 257 != 0).mean() > 0.2, "16-bit result looks quantised to 8 bits"
    assert new["width"] * new["height"] * 8 == len((work / "harmonize16.new.raw").read_bytes())


@pytest.mark.apprig
def test_grayscale_image(gimp_run, work):
    sc = gimp_run["by_name"]["gray"]
    assert sc["status"] == "success", sc["message"]
    assert one_layer_named(sc, "Harmonize Selection") and sc["original_unchanged"]
    sel_local = [SELECTION[0] - CANVAS[2], SELECTION[1] - CANVAS[3], SELECTION[2], SELECTION[3]]
    inside, outside_changed, _ = composite_check(work, sc, 8, sel_local)
    assert inside > 0.005 and outside_changed == 0          # a grey painting changes less
    new = np.frombuffer((work / "gray.new.raw").read_bytes(), np.uint8).reshape(-1, 4)
    assert (new[:, 0] == new[:, 1]).all() and (new[:, 1] == new[:, 2]).all()     # a grey layer


@pytest.mark.apprig
def test_pasted_layer_alpha_is_the_mask(gimp_run, work):
    sc = gimp_run["by_name"]["alpha_mask"]
    assert sc["status"] == "success", sc["message"]
    assert one_layer_named(sc, "Harmonize Selection") and sc["original_unchanged"]
    # The object occupies x 34..61, y 20..43 of the object layer; with "sample merged" (the default here)
    # the visible picture is harmonized, so the result may blend into the painting just around the object.
    inside, outside_changed, alpha = composite_check(work, sc, 8, [34, 20, 28, 24])
    assert inside > 0.02 and outside_changed == 0
    assert alpha[20:44, 34:62].min() > 0.9 and alpha[:20 - BAND].max() == 0
    assert sc["new_layer"]["x"] >= 12 and sc["new_layer"]["y"] >= 14      # in canvas coordinates


@pytest.mark.apprig
@pytest.mark.parametrize("name, label", [("stylize", "Stylize Selection"), ("photo", "Photo Style Transfer")])
def test_stylize_and_photo_procedures(gimp_run, work, name, label):
    sc = gimp_run["by_name"][name]
    assert sc["status"] == "success", sc["message"]
    assert one_layer_named(sc, label) and sc["new_is_added"] and sc["original_unchanged"]
    sel_local = [SELECTION[0] - CANVAS[2], SELECTION[1] - CANVAS[3], SELECTION[2], SELECTION[3]]
    inside, outside_changed, _ = composite_check(work, sc, 8, sel_local)
    assert inside > 0.005 and outside_changed == 0, (inside, outside_changed)


@pytest.mark.apprig
@pytest.mark.parametrize("name, words", [
    ("no_mask", ["no selection", "no transparency"]),
    ("empty_selection", ["does not cover"]),
    ("too_large", ["too large"]),
    ("daemon_down", ["no painterly daemon", "painterly daemon"]),
])
def test_errors_are_messages_not_tracebacks(gimp_run, name, words):
    sc = gimp_run["by_name"][name]
    assert sc["status"] == "execution-error", sc
    assert all(w in sc["message"].lower() for w in words), sc["message"]
    assert sc["added"] == [] and sc["original_unchanged"]
    assert "Traceback" not in gimp_run["log"]


@pytest.mark.apprig
def test_a_method_declared_only_in_a_test_appears_and_runs_in_gimp(gimp_run, work):
    """dummy_tint exists only in tests/plugins/dummy_method.py and the test daemon: GIMP registered a
    procedure for it with its declared parameters as arguments, and it ran into a new layer with the values
    given to those arguments (tint green, amount 1, inverted: magenta inside the selection)."""
    args = gimp_run["procedures"][DUMMY]
    assert args is not None, "no procedure for the test method: %r" % sorted(gimp_run["procedures"])
    assert {"amount", "tint", "invert", "steps", "style-mix", "style-layer", "sample-merged", "margin",
            "endpoint"} <= set(args["names"]), args
    assert args["menu_label"] == "Dummy Tint..." and args["menu_paths"] == ["<Image>/Filters/Artistic"]
    assert "Double" in args["types"]["amount"] and "Boolean" in args["types"]["invert"], args["types"]
    assert args["choices"]["tint"] == ["red", "green", "blue"], args["choices"]
    sc = gimp_run["by_name"]["dummy"]
    assert sc["status"] == "success", sc["message"]
    assert one_layer_named(sc, "Dummy Tint") and sc["added"][0] == "Dummy Tint (amount 1, green, invert)"
    assert sc["original_unchanged"] and sc["new_is_added"] and sc["new_above_original"]
    new, orig = sc["new_layer"], sc["original"]
    layer = load(work / "dummy.new.raw", new["width"], new["height"], 8)
    x, y = SELECTION[0] - new["x"] + 4, SELECTION[1] - new["y"] + 4
    assert np.allclose(layer[y, x], [1.0, 0.0, 1.0, 1.0]), layer[y, x]     # 1 - green, opaque
    assert layer[0, 0, 3] == 0                                          # transparent outside the selection
    assert all(gimp_run["procedures"][name] is not None for name in ENGINE_PROCEDURES)


@pytest.fixture(scope="module")
def bundled_run(rig, work):
    """GIMP registering the plug-in while no daemon answers (a fresh profile, nothing listening)."""
    profile = make_profile(rig, work / "profile-nodaemon")
    closed = "tcp://127.0.0.1:%d" % free_port()
    res, _ = run_driver(rig, work, profile, [], "bundled", closed, procedures=ENGINE_PROCEDURES + [DUMMY])
    return res


@pytest.mark.apprig
def test_without_a_daemon_the_bundled_declarations_give_the_procedures(bundled_run):
    procs = bundled_run["procedures"]
    assert all(procs[name] is not None for name in ENGINE_PROCEDURES), procs
    assert procs[DUMMY] is None                    # known only to the test daemon
    harmonize = procs[HARMONIZE]
    assert {"quality", "strength", "iterations", "size", "style-layer", "margin"} <= set(harmonize["names"])
    assert harmonize["menu_label"] == "Harmonize Selection..."


@pytest.mark.apprig
def test_main_run_is_quick(gimp_run):
    assert gimp_run["seconds"] < 150, gimp_run["seconds"]     # ~70 s on 2 busy shared cores; a hang fails


@pytest.mark.apprig
def test_vendored_wheels_work_without_gimps_own_zmq(gimp_run):
    """The main run had the chroot's pyzmq/msgpack hidden: the plug-in worked with the bundled wheels."""
    if gimp_run["vendor_failure"]:
        pytest.skip("cannot download pyzmq/msgpack wheels here: %s" % gimp_run["vendor_failure"])
    vendor = gimp_run["profile"] / "plug-ins" / "painterly" / "vendor"
    assert (vendor / "zmq").is_dir() and (vendor / "msgpack").is_dir()
    assert gimp_run["driver_has_zmq"] is False, "the system pyzmq was not hidden"
    assert gimp_run["by_name"]["harmonize8"]["status"] == "success"



@pytest.fixture(scope="module")
def gui_run(rig, work, daemon_process):
    profile = make_profile(rig, work / "profile-gui")
    daemon = daemon_process.ready()
    gui = work / "gui"
    gui.mkdir()
    for name in GUI_FILES:
        (gui / name).write_bytes((TESTING / name).read_bytes())
    sel_local = [SELECTION[0] - CANVAS[2], SELECTION[1] - CANVAS[3], SELECTION[2], SELECTION[3]]
    (gui / "cfg.json").write_text(json.dumps({
        "input": str(work / "in.png"), "selection": sel_local, "procedure": HARMONIZE,
        "dir": str(gui), "result": str(gui / "result.json"), "args": dict(FAST, endpoint=daemon)}))
    png = gui / "gimp_dialog.png"
    r = rig.run("/apprig/bin/apprig-xvfb-run", "sh", gui / "gimp_gui_check.sh", gui, png, share=[work],
                env={"GIMP3_DIRECTORY": profile, "PAINTERLY_GIMP_GUI": gui / "cfg.json", "PAINTERLY_ENDPOINT": daemon,
                     "GDK_CORE_DEVICE_EVENTS": "1"}, timeout=200)
    log = (gui / "gimp-gui.log").read_text(errors="replace") if (gui / "gimp-gui.log").exists() else ""
    result = json.loads((gui / "result.json").read_text()) if (gui / "result.json").exists() else {}
    return {"rc": r.returncode, "out": r.stdout.decode(errors="replace"),
            "err": r.stderr.decode(errors="replace"), "log": log, "result": result, "png": png}


@pytest.mark.apprig
def test_one_undo_step_takes_the_whole_result_back(gui_run):
    res = gui_run["result"]
    assert res.get("status") == "ok", res.get("error") or gui_run["err"][-2000:] + gui_run["log"][-2000:]
    assert res["run_status"] == "success"
    assert len(res["layers_after_run"]) == 2 and res["layers_after_run"][0].startswith("Harmonize Selection")
    assert res["layers_after_run"][1] == "Background"
    assert "sent to" in gui_run["out"], gui_run["err"][-2000:]
    # One Ctrl+Z: the new layer is gone (its insertion, pixels and offsets were one undo group) and the
    # selection made before the filter is still there (the undo went no further).
    assert res["layers_after_undo"] == ["Background"]
    assert res["selection_kept"] and res["original_unchanged"]


@pytest.mark.apprig
def test_interactive_dialog_screenshot(gui_run):
    """The procedure run INTERACTIVELY opens its GimpUi dialog; it is found by its title and screenshot.
    PAINTERLY_UPDATE_SCREENSHOTS=1 copies the picture to docs/images/."""
    assert gui_run["rc"] == 0, gui_run["err"][-2000:] + gui_run["log"][-2000:]
    assert "'Painterly: Harmonize Selection'" in gui_run["out"]
    assert "Traceback" not in gui_run["log"] and "mnemonic" not in gui_run["log"], gui_run["log"][-2000:]
    img = np.asarray(Image.open(gui_run["png"]).convert("RGB"))
    assert img.shape[0] > 200 and img.shape[1] > 300, img.shape
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20, "the dialog looks blank"
    if os.environ.get("PAINTERLY_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(gui_run["png"].read_bytes())


def test_cancel_watcher_cancels_the_job_when_the_plugin_dies(daemon, tmp_path):
    """GIMP's Cancel on the progress bar ends the plug-in process; its watcher must then cancel the job.
    Here the 'plug-in' is this test: it closes the watcher's stdin without saying 'done'."""
    from painterly.wire.client import Client, ImageBuffer
    dest = gimp_installer.install(install_args("--gimp-profile", str(tmp_path), "--gimp-vendor", "never"),
                                  lambda m: None)[0]
    with Client(daemon) as client:
        mask = bytearray(W * H)
        for y in range(20, 44):
            mask[y * W + 36:y * W + 64] = b"\xff" * 28
        job = client.submit("harmonize", {"quality": "preview", "iterations": 5000, "size": 64},
                            {"composite": ImageBuffer(W, H, 3, 8, bytes(range(256)) * (W * H * 3 // 256)),
                             "mask": ImageBuffer(W, H, 1, 8, bytes(mask))})
        env = dict(os.environ, PYTHONPATH=str(dest))
        finished = subprocess.Popen([sys.executable, str(dest / "cancel_watch.py"), daemon, job],
                                    stdin=subprocess.PIPE, env=env)
        finished.communicate(b"done\n", timeout=60)          # the plug-in finished normally: no cancel
        assert finished.returncode == 0
        assert client.status(job)["state"] in ("queued", "running")
        died = subprocess.Popen([sys.executable, str(dest / "cancel_watch.py"), daemon, job],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        died.stdin.close()                                    # the plug-in process is gone
        assert died.wait(60) == 0, died.stderr.read()
        deadline = time.monotonic() + 60
        while client.status(job)["state"] != "cancelled" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.status(job)["state"] == "cancelled"

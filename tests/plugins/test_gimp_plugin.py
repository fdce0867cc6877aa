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
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, Apprig, apprig_unavailable
from gimp_harness import (BAND, CANVAS, DUMMY, ENGINE_PROCEDURES, FAST, GUI_FILES, HARMONIZE, HIDE_SYSTEM_ZMQ, H,
                          OBJECT, SCREENSHOT, SELECTION, TESTING, W, Daemon, composite_check, free_port,
                          gimp_installer, install_args, load, make_profile, one_layer_named, run_driver, scenario)


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


@pytest.mark.apprig
def test_the_dialog_previews_the_instant_result(gui_run):
    """With "Preview (instant)" ticked (the default), the open dialog runs harmonize at instant quality as a
    live job and shows its result (the plug-in logs what it showed)."""
    if not (REPO / "engine" / "instant" / "decoder.pt").is_file():
        pytest.skip("engine/instant/decoder.pt is not in the tree yet: instant quality has no decoder to run")
    assert "preview shown: Harmonize Selection, instant: " in gui_run["log"], gui_run["log"][-2000:]
    assert "preview failed" not in gui_run["log"], gui_run["log"][-2000:]


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

"""End-to-end: the Krita plugin in real Krita 5 (apprig chroot, Xvfb) against the real daemon on the host.

install.py installs the plugin into a fresh Krita profile inside the chroot; Krita opens a painting, a
script adds a pasted "Object" layer, selects it and triggers Tools > Scripts > Harmonize Selection; the
host daemon runs a tiny CPU harmonize job. The daemon also offers ``dummy_tint``, a method declared only in
tests/plugins/dummy_method.py: it must appear in the docker with generated widgets and run.  Checks: the new layer (name, position, pixels changed inside
the selection, transparent outside), the original layers bit-identical, one undo removes the layer.
The second run hides Krita's system pyzmq/msgpack so the plugin must use the copies install.py vendored.
Skipped with the reason when the apprig chroot is not available.
"""
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import REPO

import dummy_method

pytestmark = pytest.mark.apprig
SCRIPT = REPO / "tests" / "plugins" / "krita_e2e_script.py"
SIZE = (96, 64)
OBJECT = [24, 14, 44, 34]          # x, y, w, h of the pasted photo patch
SELECTION = [28, 18, 36, 26]
SETTINGS = {"method": "harmonize", "params": {"quality": "preview", "iterations": 3, "size": 64},
            "sources": {"style": "below"}, "context": 16, "grow": 2, "feather": 2}
LABEL = "Harmonize Selection"
DOCS_SCREENSHOT = REPO / "docs" / "images" / "krita_docker.png"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """The real painterly daemon on the host, CPU, on a socket in a folder of the user's (shared with Krita's
    chroot, as the user's runtime folder is with an app on a desktop)."""
    folder = tmp_path_factory.mktemp("daemon")
    endpoint = "ipc://%s/daemon.sock" % folder
    log = folder / "daemon.log"
    env = dict(dummy_method.daemon_env(), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "painterly.cli", "daemon", "--endpoint", endpoint,
                             "--device", "cpu", "--threads", "1", "--test-method", "dummy_method:DUMMY",
                             "--preview-every", "1"],        # a preview per iteration: these jobs are short
                            stderr=subprocess.PIPE, text=True, env=env)
    ready = threading.Event()
    lines = []

    def read():
        for line in proc.stderr:
            lines.append(line)
            if "listening on" in line:
                ready.set()
    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        pytest.fail("daemon did not start: %s" % "".join(lines)[-2000:])
    yield endpoint
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def named(name, label=LABEL):
    """A result layer's name: the method's label, then its basic parameters' values."""
    return name == label or name.startswith(label + " (")


def install_plugin(home, extra=(), full=False):
    """install.py's plugin step (``--plugins-only``); with full=True install.py's whole run without
    weights, whose package/torch checks take about half a minute on a busy machine."""
    resources = home / ".local" / "share" / "krita"
    cmd = [str(REPO / "install.py"), "--no-weights" if full else "--plugins-only"]
    r = subprocess.run([sys.executable, *cmd, "--krita-resources", str(resources),
                        "--krita-prefix", "/opt/apprig/trixie", *extra],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return resources / "pykrita" / "painterly_krita", r.stdout


def inner(rect, margin=3):
    x, y, w, h = rect
    return [x + margin, y + margin, w - 2 * margin, h - 2 * margin]


def write_scene(path):
    """An OpenRaster file: a painting and, above it, the pasted photo object on its own (active) layer."""
    yy, xx = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    painting = np.stack([90 + xx, 60 + yy * 2, 150 - xx // 2 + (yy % 7) * 8, np.full_like(xx, 255)], -1)
    obj = np.zeros((SIZE[1], SIZE[0], 4), np.uint8)
    x, y, w, h = OBJECT
    oy, ox = np.mgrid[0:h, 0:w]
    checker = (((ox // 4) + (oy // 4)) % 2).astype(bool)
    obj[y:y + h, x:x + w] = np.where(checker[..., None], (230, 200, 40, 255), (30, 60, 230, 255))

    def png(array):
        buf = io.BytesIO()
        Image.fromarray(array.clip(0, 255).astype(np.uint8)).save(buf, "PNG")
        return buf.getvalue()
    stack = ('<?xml version="1.0" encoding="UTF-8"?><image w="%d" h="%d" version="0.0.5"><stack>'
             '<layer name="Object" src="data/object.png" x="0" y="0" selected="true"/>'
             '<layer name="Painting" src="data/painting.png" x="0" y="0"/></stack></image>' % SIZE)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "image/openraster")      # first and stored, as ORA wants
        z.writestr("stack.xml", stack, zipfile.ZIP_DEFLATED)
        z.writestr("data/object.png", png(obj), zipfile.ZIP_DEFLATED)
        z.writestr("data/painting.png", png(painting), zipfile.ZIP_DEFLATED)
        z.writestr("mergedimage.png", png(painting), zipfile.ZIP_DEFLATED)


def run_krita(apprig, tmp_path, home, endpoint, hide_system_zmq=False, screenshot=None, timeout=150,
              scenarios=()):
    """Open the painting in Krita with the driver config for krita_harmonize_script.py; returns result."""
    out = tmp_path / "out"
    out.mkdir()
    scene = tmp_path / "scene.ora"
    write_scene(scene)
    script = tmp_path / SCRIPT.name
    script.write_text(SCRIPT.read_text())
    cfg = {"script": str(script), "result": str(tmp_path / "result.json"), "watchdog": timeout - 20,
           "selection": SELECTION, "endpoint": endpoint, "settings": SETTINGS,
           "out_dir": str(out), "screenshot": str(screenshot) if screenshot else None,
           "scenarios": list(scenarios)}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    krita = "/apprig/bin/apprig-xvfb-run krita --nosplash %s" % scene
    if hide_system_zmq:
        # run-in.sh gives the run a private mount namespace: there only, Debian's python3-zmq/msgpack are
        # replaced by packages that fail to import, as if they were not installed
        hide = " && ".join("mount --bind /tmp/hidden /usr/lib/python3/dist-packages/%s" % m
                           for m in ("zmq", "msgpack"))
        krita = ("mkdir -p /tmp/hidden && echo 'raise ImportError(\"hidden by the test\")' > /tmp/hidden/__init__.py"
                 " && %s && python3 -c 'import zmq' 2>/dev/null && exit 97; %s" % (hide, krita))
    share = [tmp_path] + ([os.path.dirname(endpoint[len("ipc://"):])] if endpoint.startswith("ipc://") else [])
    r = apprig.run("sh", "-c", krita, share=share, timeout=timeout, stdin=b"",
                   env={"HOME": home, "APPRIG_KRITA_DRIVER_CONFIG": tmp_path / "cfg.json",
                        "APPRIG_XVFB_SCREEN": "1400x1000x24"})
    assert r.returncode != 97, "system zmq still importable in the chroot"
    log = (r.stdout + r.stderr).decode(errors="replace")
    assert (tmp_path / "result.json").exists(), "Krita wrote no result (exit %d):\n%s" % (r.returncode, log[-4000:])
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "ok", "%s\n%s" % (result.get("error"), log[-3000:])
    return result, out, log


def check_result(result, out):
    assert result["active_before"] == "Object"
    last = result["last_run"]
    assert last["state"] == "done", last
    assert last["mask_source"] == "selection"
    assert last.get("previews_painted", 0) >= 1, "no live preview reached the preview layer: %r" % last
    assert result["returned_after_s"] < 2.0, "the action blocked Krita while the job ran"
    assert ["Painterly: running %s..." % LABEL, True] in result.get("running_layers", []), \
        "no locked preview layer while the job ran: %r" % result.get("running_layers")
    assert len(result["new_layers"]) == 1 and named(result["new_layers"][0][0]), result["new_layers"]
    assert result["new_layers"][0][2] is False, "result layer left locked"
    assert result["new_layer_above_object"]
    assert result["new_layer_children"] == [["Painterly mask", "transparencymask"]]
    assert result["unchanged"] == {"Painting": True, "Object": True}

    new = np.asarray(Image.open(out / "new_layer.png").convert("RGBA")).astype(int)
    before = np.asarray(Image.open(out / "composite_before.png").convert("RGBA")).astype(int)
    x, y, w, h = SELECTION
    inside = (slice(y + 3, y + h - 3), slice(x + 3, x + w - 3))
    assert (new[inside][..., 3] == 255).all(), "result not opaque inside the selection"
    change = np.abs(new[inside][..., :3] - before[inside][..., :3]).mean()
    assert change > 2.0, "pixels inside the selection did not change (mean |diff| %.2f)" % change
    margin = SETTINGS["grow"] + SETTINGS["feather"] + 2
    outside = np.ones(new.shape[:2], bool)
    outside[y - margin:y + h + margin, x - margin:x + w + margin] = False
    assert (new[outside][..., 3] == 0).all(), "result layer not transparent outside the selection"

    assert result["names_after_undo"] == result["names_before"], \
        "one undo should remove the new layer: %r" % result["names_after_undo"]
    return change


def test_krita_harmonize_selection_end_to_end(apprig, daemon, tmp_path):
    home = apprig.krita_home(tmp_path / "home")
    plugin, stdout = install_plugin(home)
    assert (plugin / "painterly_client" / "wire" / "client.py").is_file()
    assert (plugin / "painterly_client" / "plugin_core" / "declarations.py").is_file()
    assert "enable_painterly_krita=true" in (home / ".config" / "kritarc").read_text()
    assert not (plugin / "vendor").exists(), "the chroot's Krita Python has pyzmq: nothing to vendor\n" + stdout

    shot = tmp_path / "krita_docker.png"
    stylize = {"name": "stylize", "measure": inner(SELECTION),
               "settings": {"method": "masked", "params": {"iterations": 3, "size": 64},
                            "sources": {"style": "Painting"}}}
    dummy = {"name": "dummy", "select": SELECTION, "measure": inner(SELECTION),
             "settings": {"method": "dummy_tint", "params": {"amount": 1.0, "tint": "blue", "invert": False}}}
    result, out, log = run_krita(apprig, tmp_path, home, daemon, screenshot=shot, scenarios=[stylize, dummy])
    change = check_result(result, out)
    assert "painterly_harmonize_selection" in result["scripts_menu"], result["scripts_menu"]
    styled = result["scenarios"]["stylize"]
    assert styled["last_run"]["state"] == "done", styled
    assert styled["last_run"]["method"] == "masked"
    assert named(styled["last_run"]["layer"], "Stylize Selection")
    assert styled["mean_change"] > 0.01 and styled["shown_alpha"] > 0.99, styled
    assert styled["unchanged"] == {"Painting": True, "Object": True}
    assert styled["names_after_undo"] == result["names_before"]
    assert result["last_run"]["zmq"] == "system"
    check_dummy(result)
    assert "Daemon 0.1.0" in result["daemon_label"], result["daemon_label"]
    assert "Done" in result["docker_status"]
    print("job %.1fs, mean change inside %.1f" % (result["job_s"], change))

    assert shot.exists() and Image.open(shot).size[0] > 200
    if os.environ.get("PAINTERLY_UPDATE_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        DOCS_SCREENSHOT.write_bytes(shot.read_bytes())

    r = subprocess.run([sys.executable, "-m", "installer.krita", "--uninstall", "--krita-resources",
                        str(home / ".local/share/krita")], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert not plugin.exists() and not (plugin.parent / "painterly_krita.desktop").exists()
    kritarc = (home / ".config" / "kritarc").read_text()
    assert "enable_painterly_krita" not in kritarc and "[painterly]" not in kritarc
    assert "enable_apprig_test_driver=true" in kritarc       # the rest of kritarc is kept


def check_dummy(result):
    """dummy_tint, declared only in tests/plugins/dummy_method.py, shows in the docker with widgets
    generated from its declaration and runs into a new layer with the values set in those widgets."""
    assert "dummy_tint" in result["methods"] and "harmonize" in result["methods"], result["methods"]
    panel = result["dummy_panel"]
    assert panel["label"] == "Dummy Tint" and panel["sources"] == ["style"]
    assert panel["fields"] == {"amount": "slider", "tint": "combo", "invert": "check", "steps": "spin",
                               "style_mix": "slider"}, panel
    assert panel["shown"] == ["amount", "tint", "invert"], panel        # basic shown, advanced folded
    dummy = result["scenarios"]["dummy"]
    assert dummy["last_run"]["state"] == "done", dummy
    assert dummy["last_run"]["layer"] == "Dummy Tint (amount 1, blue, no invert)"
    assert dummy["last_run"]["params"]["tint"] == "blue" and dummy["last_run"]["params"]["amount"] == 1.0
    assert dummy["centre_rgba"] == [0, 0, 255, 255], dummy["centre_rgba"]   # pure blue inside the selection
    assert dummy["unchanged"] == {"Painting": True, "Object": True}
    assert dummy["names_after_undo"] == [n for n in dummy["names"] if n not in (dummy["last_run"]["layer"],
                                                                                "Painterly mask")]


def test_krita_plugin_uses_vendored_pyzmq_when_krita_python_lacks_it(apprig, daemon, tmp_path):
    home = apprig.krita_home(tmp_path / "home")
    plugin, stdout = install_plugin(home, ["--krita-vendor", "always"])
    assert re.search(r"vendored pyzmq-[\d.]+-cp3\d+-(abi3|cp313)", stdout), stdout
    assert (plugin / "vendor" / "zmq").is_dir() and (plugin / "vendor" / "msgpack").is_dir()

    scenarios = [
        {"name": "daemon_down", "endpoint": "tcp://127.0.0.1:%d" % free_port()},
        {"name": "cancel", "cancel": True},
        {"name": "no_selection", "deselect": True},     # the Object layer's alpha becomes the mask
        {"name": "select_all", "select": [0, 0, SIZE[0], SIZE[1]]},     # full canvas = the whole layer
        {"name": "soft", "select": SELECTION, "value": 128, "measure": inner(SELECTION)},
        {"name": "empty_selection", "select": SELECTION, "value": 0},
        {"name": "rgba16", "select": SELECTION, "color": ["RGBA", "U16"], "measure": inner(SELECTION)},
        {"name": "opaque_no_selection", "deselect": True, "fill_active": [40, 120, 200, 255]},
        {"name": "cmyk", "color": ["CMYKA", "U8"]},
    ]

    result, out, log = run_krita(apprig, tmp_path, home, daemon, hide_system_zmq=True, scenarios=scenarios)
    check_result(result, out)
    cases = result["scenarios"]
    before = result["names_before"]

    down = cases["daemon_down"]
    assert down["last_run"]["state"] == "failed" and down["last_run"]["code"] == "unavailable", down
    assert "not running" in down["status"] and "painterly daemon" in down["status"], down["status"]
    assert down["names"] == before and not down["busy"], "preview layer left behind: %r" % down["names"]

    cancel = cases["cancel"]
    assert cancel["last_run"]["state"] == "cancelled", cancel
    assert cancel["names"] == before and not cancel["busy"]
    # the job's layer was taken back by Krita's own Undo: no add/remove pair left in the history
    assert cancel["last_run"]["taken_back"] == "undone", cancel

    alpha = cases["no_selection"]
    assert alpha["last_run"]["state"] == "done", alpha
    assert alpha["last_run"]["mask_source"] == "layer alpha"
    x, y, w, h = OBJECT
    x0, y0 = max(0, x - 16), max(0, y - 16)                 # object bounds + context, inside the canvas
    x1, y1 = min(SIZE[0], x + w + 16), min(SIZE[1], y + h + 16)
    assert alpha["last_run"]["region"] == [x0, y0, x1 - x0, y1 - y0]
    assert alpha["names_after_undo"] == [n for n in before if n != "Selection Mask"]
    assert alpha["unchanged"] == {"Painting": True, "Object": True}

    whole = cases["select_all"]
    assert whole["last_run"]["state"] == "done" and whole["last_run"]["mask_source"] == "whole layer", whole
    assert whole["last_run"]["region"] == alpha["last_run"]["region"]      # the layer's painted area
    assert whole["unchanged"] == {"Painting": True, "Object": True}

    soft = cases["soft"]
    assert soft["last_run"]["state"] == "done", soft
    assert soft["last_run"]["mask_max"] == 128 and soft["last_run"]["mask_soft"]
    assert abs(soft["shown_alpha"] - 128 / 255) < 0.05, soft      # the layer shows through a half mask
    assert soft["unchanged"] == {"Painting": True, "Object": True}

    deep = cases["rgba16"]
    assert deep["color"] == ["RGBA", "U16"]
    assert deep["last_run"]["state"] == "done", deep
    assert deep["layer_depth"] == "U16" and deep["opaque"] and deep["shown_alpha"] > 0.99
    assert deep["mean_change"] > 0.01, deep        # harmonized, not a copy of the object
    assert deep["names_after_undo"] == [n for n in deep["names"]
                                        if n not in (deep["last_run"]["layer"], "Painterly mask")]

    empty = cases["empty_selection"]
    assert empty["last_run"]["state"] == "failed", empty
    assert empty["last_run"]["code"] == "empty_selection" and "does not cover any pixel" in empty["status"], empty

    opaque = cases["opaque_no_selection"]
    assert opaque["last_run"]["state"] == "failed" and opaque["last_run"]["code"] == "no_selection", opaque
    assert "no transparency" in opaque["status"] and opaque["names"] == ["Painting", "Object"]

    cmyk = cases["cmyk"]
    assert cmyk["last_run"]["state"] == "failed" and cmyk["last_run"]["code"] == "color_model", cmyk
    assert "Convert Image Color Space" in cmyk["status"]
    assert not any(n.startswith("Painterly") for n in cmyk["names"])
    assert result["last_run"]["zmq"] == "vendored"
    assert "/pykrita/painterly_krita/vendor/zmq/" in result["zmq_file"], result["zmq_file"]
    assert "/pykrita/painterly_krita/vendor/msgpack/" in result["msgpack_file"], result["msgpack_file"]


@pytest.mark.slow
def test_install_py_installs_and_removes_the_krita_plugin(tmp_path):
    """The full install.py path (slow: its package checks) into a plain folder, then --uninstall."""
    home = tmp_path / "home"
    plugin, stdout = install_plugin(home, ["--krita-vendor", "never"], full=True)
    assert (plugin / "painterly_client" / "__init__.py").is_file(), stdout
    assert "enable_painterly_krita=true" in (home / ".config" / "kritarc").read_text()
    r = subprocess.run([sys.executable, str(REPO / "install.py"), "--uninstall", "--krita-resources",
                        str(home / ".local/share/krita")], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert not plugin.exists()

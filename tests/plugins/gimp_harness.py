"""What the GIMP end-to-end tests (test_gimp_plugin.py) share: the test scene's numbers, the daemon on this
host (with the test-only method), a GIMP profile with the plug-in installed, one run of the batch driver
(plugin_gimp/testing/gimp_e2e_driver.py), and reading back the pixels it dumped."""
import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dummy_method

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
            stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, env=dummy_method.daemon_env())

    def ready(self):
        deadline = time.monotonic() + 180
        while "listening on" not in self.log_path.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail("daemon did not start:\n" + self.log_path.read_text()[-3000:])
            time.sleep(0.2)
        return self.endpoint


def install_args(*argv):
    parser = argparse.ArgumentParser()
    gimp_installer.add_arguments(parser)
    return parser.parse_args(list(argv))


def make_profile(rig, path, *install_argv):
    """A warm GIMP profile with the plug-in installed by the installer that install.py runs."""
    rig.gimp_profile(path)
    gimp_installer.install(install_args("--gimp-profile", str(path), *install_argv), lambda m: None)
    return path


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

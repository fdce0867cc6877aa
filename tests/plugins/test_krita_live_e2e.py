"""End-to-end: Krita's live mode in real Krita 5 (apprig chroot, Xvfb) against the real daemon on the host,
over the daemon's ipc socket and shared memory in the socket's folder (shared with the chroot).

Live on with dummy_tint (declared in tests/plugins/dummy_method.py), the selection moved twice and a
slider changed: the preview layer is updated each time (its pixels change), the layer count stays the same,
the runs add no step to the undo history (read from Krita's History docker), and Apply adds one result
layer, which one Undo removes. A screenshot of the docker in Live mode goes to docs/images/krita_live.png
with PAINTERLY_UPDATE_SCREENSHOT=1. Skipped with the reason when the apprig chroot is not available.
"""
import json
import os

import pytest
from PIL import Image

from conftest import REPO
from test_krita_e2e import daemon, install_plugin, write_scene  # noqa: F401  (daemon: the fixture)

pytestmark = pytest.mark.apprig
SCRIPT = REPO / "tests" / "plugins" / "krita_live_script.py"
SELECTIONS = [[28, 18, 20, 14], [44, 30, 20, 14], [30, 34, 16, 10]]
PREVIEW = "Painterly live preview"
DOCS_SCREENSHOT = REPO / "docs" / "images" / "krita_live.png"


def test_krita_live_mode_follows_the_selection_and_a_slider_in_one_preview_layer(apprig, daemon, tmp_path):  # noqa: F811
    home = apprig.krita_home(tmp_path / "home")
    install_plugin(home)
    scene = tmp_path / "scene.ora"
    write_scene(scene)
    script = tmp_path / SCRIPT.name
    script.write_text(SCRIPT.read_text())
    shot = tmp_path / "krita_live.png"
    cfg = {"script": str(script), "result": str(tmp_path / "result.json"), "watchdog": 160, "endpoint": daemon,
           "selections": SELECTIONS, "out_dir": str(tmp_path), "screenshot": str(shot)}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    share = [tmp_path, os.path.dirname(daemon[len("ipc://"):])]
    r = apprig.run("sh", "-c", "/apprig/bin/apprig-xvfb-run krita --nosplash %s" % scene, share=share, timeout=180,
                   stdin=b"", env={"HOME": home, "APPRIG_KRITA_DRIVER_CONFIG": tmp_path / "cfg.json",
                                   "APPRIG_XVFB_SCREEN": "1400x1000x24"})
    log = (r.stdout + r.stderr).decode(errors="replace")
    assert (tmp_path / "result.json").exists(), "Krita wrote no result (exit %d):\n%s" % (r.returncode, log[-4000:])
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "ok", "%s\n%s" % (result.get("error"), log[-3000:])

    before = result["layers_before"]
    assert before == ["Painting", "Object"], before
    runs = [s for s in result["steps"] if "digest" in s]
    assert [s["what"] for s in runs] == ["live on", "selection 1", "selection 2", "slider"]
    assert all(s["layers"] == before + [PREVIEW] for s in runs), [s["layers"] for s in runs]   # one layer, kept
    digests = [s["digest"] for s in runs]
    assert None not in digests and len(set(digests)) == 4, digests        # its pixels changed each time
    assert [s["rect"][:2] for s in runs[:3]] != [runs[0]["rect"][:2]] * 3   # it followed the selection
    assert all(s["locked"] for s in runs)
    history = [s["history"] for s in result["steps"]]
    assert None not in history, "Krita's undo history could not be read: %r" % history
    # Each run leaves the undo history as the change before it left it (Krita records a selection change
    # itself); the preview layer's own add is the one step Live made, once.
    steps = result["steps"]
    for index, step in enumerate(steps[1:], 1):
        if "digest" in step and steps[index - 1].get("what", "").endswith(" set"):
            assert step["history"] == steps[index - 1]["history"], (steps[index - 1], step)
    assert runs[3]["history"] == runs[2]["history"]                         # the slider's run: nothing new
    added = len(runs[0]["history"]) - len(result["history_before"])
    assert added == 1, (result["history_before"], runs[0]["history"])
    assert result["live"]["placed"] == 4 and result["live"]["failed"] == 0, result["live"]
    assert result["toggle_checked"]

    applied = result["apply"]
    assert applied["last_run"]["state"] == "done", applied
    assert applied["last_run"]["layer"] == "Dummy Tint (amount 0.5, blue, no invert)"
    assert applied["layers"] == before + [applied["last_run"]["layer"]], applied["layers"]   # one result layer
    assert applied["discarded"] == "removed" or applied["discarded"] == "undone"
    assert not applied["toggle_checked"]
    assert result["layers_after_undo"] == before, result["layers_after_undo"]     # one undo takes it back

    assert shot.exists() and Image.open(shot).size[0] > 200
    if os.environ.get("PAINTERLY_UPDATE_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        DOCS_SCREENSHOT.write_bytes(shot.read_bytes())

"""The Krita plugin's Qt code under PyQt6 (Krita 6), outside Krita: the docker is built and driven, the
preview conversions run, and an action without a document reports an error instead of raising.
Skipped where PyQt6 is not installed (real Krita 5 / PyQt5 is covered by tests/test_krita_e2e.py)."""
import subprocess
import sys

import pytest

from conftest import REPO

CHECK = r'''
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from PyQt6 import QtGui, QtWidgets
app = QtWidgets.QApplication([])
import krita, painterly_krita
from painterly_krita import docker, harmonize, qt_compat
assert qt_compat.QT_API == "PyQt6"
assert isinstance(krita.Krita.instance().ext, painterly_krita.PainterlyExtension)
d = docker.PainterlyDocker()
d.show()
app.processEvents()
assert d.values() == harmonize.DEFAULTS, d.values()
d.strength.setValue(70)
d.method.setCurrentIndex(d.method.findData("stylize"))
settings = harmonize.load_settings()
assert (settings["strength"], settings["method"]) == (70, "stylize"), settings
image = QtGui.QImage(bytes(range(48)), 4, 4, 12, qt_compat.FMT_RGB888).copy()
d.on_preview(image)
d.on_progress(3, 10)
assert d.progress.value() == 3
scaled = image.scaled(8, 8, qt_compat.IGNORE_ASPECT, qt_compat.SMOOTH)
assert len(qt_compat.image_bytes(scaled.convertToFormat(qt_compat.FMT_ARGB32))) == 8 * 8 * 4
assert len(qt_compat.image_bytes(scaled.convertToFormat(qt_compat.FMT_RGBA64))) == 8 * 8 * 8
krita.Krita.instance().ext.run()          # no document open: an error message, no exception
assert harmonize.LAST_RUN["state"] == "failed", harmonize.LAST_RUN
print("OK")
'''


def test_plugin_qt_code_runs_under_pyqt6():
    pytest.importorskip("PyQt6.QtWidgets", reason="PyQt6 not installed (pip install PyQt6 to run this check)")
    r = subprocess.run([sys.executable, "-c", CHECK, str(REPO / "tests" / "plugins" / "krita_stub"),
                        str(REPO / "plugin_krita")], capture_output=True, text=True, timeout=120,
                       env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stdout[-2000:] + r.stderr[-3000:]

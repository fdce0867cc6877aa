"""The Krita plugin loaded outside Krita for fast tests: installed by the real installer into a temporary
profile, run against the pixel-bearing ``krita`` mock (mock_krita/krita.py) on PyQt6 without a display,
and a daemon in this process offering the engine's methods and the test-only ``dummy_tint``."""
import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MOCK = HERE / "mock_krita"


def install_plugin(resources):
    """The installer's Krita step into ``resources`` (no vendored wheels); returns the pykrita folder."""
    from installer import krita as krita_installer
    parser = argparse.ArgumentParser()
    krita_installer.add_arguments(parser)
    args = parser.parse_args(["--krita-resources", str(resources), "--krita-vendor", "never",
                              "--krita-python-version", "3.13", "--krita-config", str(resources / "kritarc")])
    assert krita_installer.install(args, lambda message: None)
    return resources / "pykrita"


def load_plugin(resources):
    """Import the installed plugin with the mock ``krita``; returns (krita module, painterly_krita)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6 import QtWidgets
    if QtWidgets.QApplication.instance() is None:
        load_plugin.app = QtWidgets.QApplication([])
    sys.path[:0] = [str(MOCK), str(install_plugin(resources))]
    import krita
    import painterly_krita
    return krita, painterly_krita


class InProcessDaemon(object):
    """The real daemon in a thread of this process, with the test methods (echo, dummy_tint)."""

    def __init__(self, results_dir):
        from painterly.daemon.config import DaemonConfig
        from painterly.daemon.server import Daemon
        self.daemon = Daemon(DaemonConfig(endpoint="ipc://%s/daemon.sock" % results_dir, devices=("cpu",),
                                          results_dir=results_dir,
                                          allow_test_methods=True, test_methods=("dummy_method:DUMMY",),
                                          preview_every=1))
        ready = threading.Event()
        self.thread = threading.Thread(target=self.daemon.serve_forever, kwargs={"ready": lambda ep: ready.set()},
                                       daemon=True)
        self.thread.start()
        assert ready.wait(120), "the in-process daemon did not start"
        self.endpoint = self.daemon.endpoint

    def stop(self):
        self.daemon.running = False
        self.thread.join(10)


def pump(seconds=0.0, until=None, timeout=30.0):
    """Run Qt's event loop (queued signals from the plugin's threads) for ``seconds``, or until
    ``until()`` is true (at most ``timeout`` seconds)."""
    from PyQt6 import QtWidgets
    app = QtWidgets.QApplication.instance()
    end = time.monotonic() + (timeout if until else seconds)
    while time.monotonic() < end:
        app.processEvents()
        if until is not None and until():
            return True
        time.sleep(0.005)
    return until is None


def scene(krita, width=48, height=32, depth="U8"):
    """A document with a painting and, above it, a pasted "Object" layer (the active one): a flat square
    of colour at x 16..31, y 8..23, transparent around it."""
    full = 255 if depth == "U8" else 65535
    yy, xx = np.mgrid[0:height, 0:width]
    painting = np.stack([40 + 3 * xx, 60 + 4 * yy, 200 - 2 * xx, np.full_like(xx, 255)], -1) * (full // 255)
    obj = np.zeros((height, width, 4), np.int64)
    obj[8:24, 16:32] = np.array([250, 200, 20, 255]) * (full // 255)
    doc = krita.Document(width, height, depth)
    base = doc.add_layer("Painting", painting)
    doc.add_layer("Object", obj, above=base)
    return krita.Krita.instance().open(doc)

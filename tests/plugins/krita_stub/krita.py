"""A minimal stand-in for Krita's ``krita`` module built on PyQt6, so tests/test_krita_qt6.py can build
the plugin's docker outside Krita, the way Krita 6 (Qt 6) would load it."""
from PyQt6 import QtCore, QtWidgets
_settings = {}
class _Notifier(QtCore.QObject):
    viewCreated = QtCore.pyqtSignal()
class Krita(QtCore.QObject):
    _inst = None
    @classmethod
    def instance(cls):
        if cls._inst is None:
            cls._inst = cls(); cls._inst._n = _Notifier()
        return cls._inst
    def readSetting(self, g, k, d): return _settings.get((g, k), d)
    def writeSetting(self, g, k, v): _settings[(g, k)] = v
    def notifier(self): return self._n
    def batchmode(self): return True
    def activeDocument(self): return None
    def documents(self): return []
    def activeWindow(self): return None
    def addExtension(self, e): self.ext = e
    def addDockWidgetFactory(self, f): self.factory = f
class DockWidget(QtWidgets.QDockWidget):
    pass
class Extension(QtCore.QObject):
    def __init__(self, parent): QtCore.QObject.__init__(self, parent)
class DockWidgetFactoryBase:
    class DockPosition:
        DockRight = 2
class DockWidgetFactory:
    def __init__(self, i, p, k): self.args = (i, p, k)
class Selection: pass

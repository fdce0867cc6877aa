"""The one place that imports Qt: PyQt5 in Krita 5, PyQt6 in Krita 6.

Whichever binding Krita itself loaded wins (importing the other one would load a second Qt).
Enum members are looked up scoped first (PyQt6 only accepts ``QImage.Format.Format_ARGB32``) and
unscoped as a fallback (older PyQt5).
"""
import sys

QT_API = None
for _name in (("PyQt6",) if "PyQt6" in sys.modules else ()) + (("PyQt5",) if "PyQt5" in sys.modules else ()) \
        + ("PyQt5", "PyQt6"):
    try:
        QtCore = __import__(_name + ".QtCore", fromlist=["QtCore"])
        QtGui = __import__(_name + ".QtGui", fromlist=["QtGui"])
        QtWidgets = __import__(_name + ".QtWidgets", fromlist=["QtWidgets"])
    except ImportError:
        continue
    QT_API = _name
    break
if QT_API is None:
    raise ImportError("painterly_krita needs PyQt5 (Krita 5) or PyQt6 (Krita 6)")

QT6 = QT_API == "PyQt6"
Signal = QtCore.pyqtSignal
QAction = getattr(QtGui, "QAction", None) or QtWidgets.QAction   # moved to QtGui in Qt 6


def enum(owner, scope, member):
    """``enum(QtGui.QImage, "Format", "Format_ARGB32")`` on PyQt5 and PyQt6."""
    scoped = getattr(owner, scope, None)
    if scoped is not None and hasattr(scoped, member):
        return getattr(scoped, member)
    return getattr(owner, member)


def exec_(obj, *args):
    """QDialog/QMessageBox/QMenu exec on both bindings (``exec_`` is gone in PyQt6)."""
    method = getattr(obj, "exec", None) or getattr(obj, "exec_")
    return method(*args)


def image_bytes(image):
    """A QImage's pixel bytes (rows as stored, bytesPerLine apart)."""
    ptr = image.constBits()
    size = image.sizeInBytes() if hasattr(image, "sizeInBytes") else image.byteCount()
    ptr.setsize(size)
    return bytes(ptr)


FMT_ARGB32 = enum(QtGui.QImage, "Format", "Format_ARGB32")          # = Krita's 8-bit BGRA on little endian
FMT_RGBA8888 = enum(QtGui.QImage, "Format", "Format_RGBA8888")
FMT_RGB888 = enum(QtGui.QImage, "Format", "Format_RGB888")
FMT_RGBA64 = enum(QtGui.QImage, "Format", "Format_RGBA64")          # Qt >= 5.12
SMOOTH = enum(QtCore.Qt, "TransformationMode", "SmoothTransformation")
KEEP_ASPECT = enum(QtCore.Qt, "AspectRatioMode", "KeepAspectRatio")
IGNORE_ASPECT = enum(QtCore.Qt, "AspectRatioMode", "IgnoreAspectRatio")

"""A stand-in for Krita's ``krita`` module with documents that hold real pixels, so the plugin's logic
(reading the document, building the request, placing the result, undo) runs in fast tests without Krita.

The documents (mock_document.py) composite their visible layers with normal alpha-over through their
transparency masks; adding and removing nodes are undo steps, undone and redone by the ``edit_undo`` /
``edit_redo`` actions as in Krita. Only what the plugin uses is here. Built on PyQt6 (the host's Qt),
which the plugin's qt_compat accepts.
"""
from PyQt6 import QtCore, QtWidgets

from mock_document import Document, Node, Rect, Selection  # noqa: F401


class Action(QtCore.QObject):
    triggered = QtCore.pyqtSignal()

    def __init__(self, name, run=None):
        QtCore.QObject.__init__(self)
        self._name = name
        if run is not None:
            self.triggered.connect(run)

    def trigger(self):
        self.triggered.emit()


class Notifier(QtCore.QObject):
    viewCreated = QtCore.pyqtSignal()


class Krita(QtCore.QObject):
    _instance = None

    @classmethod
    def instance(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self):
        QtCore.QObject.__init__(self)
        self.settings, self.docs, self.active_doc, self.extensions, self.factories = {}, [], None, [], []
        self._notifier = Notifier()
        self._actions = {"edit_undo": Action("edit_undo", self._undo), "edit_redo": Action("edit_redo", self._redo)}

    def open(self, doc):
        """Test helper: make ``doc`` the open, active document."""
        self.docs.append(doc)
        self.active_doc = doc
        return doc

    def _undo(self):
        doc = self.active_doc
        if doc is not None and doc.undo_stack:
            step = doc.undo_stack.pop()
            step[2]()
            doc.redo_stack.append(step)

    def _redo(self):
        doc = self.active_doc
        if doc is not None and doc.redo_stack:
            step = doc.redo_stack.pop()
            step[1]()
            doc.undo_stack.append(step)

    def readSetting(self, group, key, default):
        return self.settings.get((group, key), default)

    def writeSetting(self, group, key, value):
        self.settings[(group, key)] = value

    def action(self, name):
        return self._actions.get(name)

    def notifier(self):
        return self._notifier

    def batchmode(self):
        return True

    def activeDocument(self):
        return self.active_doc

    def documents(self):
        return list(self.docs)

    def activeWindow(self):
        return None

    def addExtension(self, extension):
        self.extensions.append(extension)

    def addDockWidgetFactory(self, factory):
        self.factories.append(factory)


class DockWidget(QtWidgets.QDockWidget):
    def canvasChanged(self, canvas):
        pass


class Extension(QtCore.QObject):
    def __init__(self, parent):
        QtCore.QObject.__init__(self)


class DockWidgetFactoryBase(object):
    class DockPosition(object):
        DockRight = 2


class DockWidgetFactory(object):
    def __init__(self, name, position, widget_class):
        self.args = (name, position, widget_class)


class InfoObject(object):
    pass

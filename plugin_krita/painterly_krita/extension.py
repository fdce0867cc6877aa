"""The menu action: Tools > Scripts > Harmonize Selection (action id ``painterly_harmonize_selection``,
assignable to a shortcut in Settings > Configure Krita > Keyboard Shortcuts). It runs the method chosen in
the Painterly docker (harmonize until another is chosen) with the docker's settings."""
from krita import Extension

from .job import controller

ACTION_ID = "painterly_harmonize_selection"
ACTION_TEXT = "Harmonize Selection"


class PainterlyExtension(Extension):
    def __init__(self, parent):
        Extension.__init__(self, parent)

    def setup(self):
        pass

    def createActions(self, window):
        action = window.createAction(ACTION_ID, ACTION_TEXT, "tools/scripts")
        action.setToolTip("Run the Painterly docker's method (Harmonize Selection unless another is chosen) on the "
                          "selection, or the active layer's opaque area, into a new layer")
        action.triggered.connect(self.run)

    def run(self, *_checked):
        controller().start()   # never raises: errors are shown in Krita

"""The menu action: Tools > Scripts > Harmonize Selection (action id ``painterly_harmonize_selection``,
assignable to a shortcut in Settings > Configure Krita > Keyboard Shortcuts)."""
from krita import Extension

from . import harmonize

ACTION_ID = "painterly_harmonize_selection"
ACTION_TEXT = "Harmonize Selection"


class PainterlyExtension(Extension):
    def __init__(self, parent):
        Extension.__init__(self, parent)

    def setup(self):
        pass

    def createActions(self, window):
        action = window.createAction(ACTION_ID, ACTION_TEXT, "tools/scripts")
        action.setToolTip("Harmonize the selection (or the active layer's opaque area) with the painting "
                          "into a new layer, with the settings of the Painterly docker")
        action.triggered.connect(self.run)

    def run(self, *_checked):
        harmonize.controller().start()   # never raises: errors are shown in Krita

"""The procedure's dialog, built by GimpUi from the procedure's arguments (themselves generated from the
method's declaration): the image inputs and the basic parameters shown, the advanced parameters and the
plug-in's margin and endpoint folded in an expander. Floats with a range get a slider. Below, the instant
preview (live_preview.py) where the run gives one."""
import gi

from painterly_client.plugin_core import declarations
from painterly_client.plugin_core.errors import log

import procedures

ADVANCED_BOX, ADVANCED_TITLE, ADVANCED = "painterly-advanced-box", "painterly-advanced-title", "painterly-advanced"


def show(procedure, config, method, preview=None):
    """Run the dialog; True when the user pressed its OK button. ``preview(dialog)`` adds the preview and
    returns it (closed when the dialog ends)."""
    gi.require_version('GimpUi', '3.0')
    from gi.repository import GimpUi
    GimpUi.init("painterly")
    dialog = GimpUi.ProcedureDialog.new(procedure, config, "Painterly: " + method.label)
    dialog.set_ok_label(procedures.labels(method)["ok"])
    for spec in method.params:
        if spec.widget == declarations.SLIDER:
            dialog.get_scale_entry(procedures.argument(spec.name), 1.0)
    basic, advanced = procedures.dialog_arguments(method)
    dialog.fill_box(ADVANCED_BOX, advanced)
    dialog.get_label(ADVANCED_TITLE, "Advanced", False, False)      # an expander's title needs no mnemonic
    dialog.fill_expander(ADVANCED, ADVANCED_TITLE, False, ADVANCED_BOX)
    dialog.fill(basic + [ADVANCED])
    shown = None
    if preview is not None:
        try:
            shown = preview(dialog)
        except Exception as exc:   # noqa: BLE001 - the dialog works without its preview
            log("no preview in the dialog: %s" % exc, "painterly-gimp")
    try:
        return dialog.run()
    finally:
        if shown is not None:
            shown.close()
        dialog.destroy()

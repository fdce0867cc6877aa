"""The procedure's dialog, built by GimpUi from the procedure's arguments (themselves generated from the
method's declaration): the image inputs and the basic parameters shown, the advanced parameters and the
plug-in's margin and endpoint folded in an expander. Floats with a range get a slider."""
import gi

from painterly_client.plugin_core import declarations

import procedures

ADVANCED_BOX, ADVANCED_TITLE, ADVANCED = "painterly-advanced-box", "painterly-advanced-title", "painterly-advanced"


def show(procedure, config, method):
    """Run the dialog; True when the user pressed its OK button."""
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
    ok = dialog.run()
    dialog.destroy()
    return ok

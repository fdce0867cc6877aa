#!/usr/bin/env python3
"""Painterly for GIMP 3: one procedure per method of the painterly daemon, under Filters > Artistic.

The procedures and their arguments are generated from the methods' declarations: the daemon's handshake
when GIMP registers the plug-in (cached next to it), else the last cached one, else the declarations the
installer bundled. So a method the daemon offers appears here with no edit (after GIMP registers the
plug-in again: at its next start once the plug-in was reinstalled, or after a run that found new
methods). Each run reads the active layer in the region the plugin core chooses (the selection, else the
layer's transparency), the chosen layers, sends them to the daemon through the bundled client and puts the
result in a NEW layer above the active one, in one undo group. The original layers are never written.

Installed by ``python install.py`` as <GIMP profile>/plug-ins/painterly/ with the wire and the plugin core
(painterly_client/) next to this file, and vendor/ with pyzmq + msgpack when GIMP's Python lacks them.
"""
import os
import sys
import traceback

import gi
gi.require_version('Gimp', '3.0')
gi.require_version('Gegl', '0.4')
from gi.repository import GLib, GObject, Gimp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from painterly_client.plugin_core import catalog as catalogs  # noqa: E402
from painterly_client.plugin_core import messaging, request  # noqa: E402
from painterly_client.plugin_core.errors import UserError, explain, is_cancelled, log  # noqa: E402

import daemon_job  # noqa: E402
import image_io  # noqa: E402
import procedures  # noqa: E402

QUERY_TIMEOUT = 2.0         # how long GIMP's registration of the plug-in waits for the daemon
_CATALOG = []               # the methods this process knows


def catalog():
    """The cached handshake (or the bundled declarations), once per process."""
    if not _CATALOG:
        _CATALOG.append(catalogs.load(HERE))
    return _CATALOG[0]


def method_for(procedure_name):
    for method in catalog().methods:
        if procedures.procedure_name(method.name) == procedure_name:
            return method
    return None


def say(message):
    log(message, "painterly-gimp")


def client_module():
    try:
        return messaging.client_module(HERE)
    except UserError as exc:
        raise UserError(exc.code, "%s (GIMP's Python cannot load it: reinstall the plug-in with 'python install.py "
                        "--gimp-vendor always --gimp-python-version 3.X', GIMP's Python version.)" % exc)


def notice_new_methods(known, offered):
    """When the daemon's methods differ from the registered ones, touch this script so that GIMP registers
    the procedures again (asking the daemon) at its next start. The cache stays as registered: this
    session's procedures keep the arguments GIMP knows."""
    if offered.signature() == known.signature():
        return
    try:
        os.utime(os.path.abspath(__file__))
        Gimp.message("Painterly: the daemon's methods have changed; restart GIMP to see them in the menu.")
    except OSError as exc:
        say("could not mark the plug-in for registration: %s" % exc)


def run(procedure, run_mode, image, drawables, config, data):
    method = method_for(procedure.get_name())
    interactive = run_mode == Gimp.RunMode.INTERACTIVE
    try:
        if method is None:
            raise UserError("method_missing", "Painterly does not know the method of %s any more: restart GIMP."
                            % procedure.get_name())
        if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer):
            raise UserError("drawables", "Select exactly one layer (got %d drawables)." % len(drawables))
        drawable = drawables[0]
        if interactive:
            import dialog
            import live_preview
            preview = lambda d: live_preview.attach(d, config, method, image, drawable, client_module())  # noqa: E731
            if not dialog.show(procedure, config, method, preview):
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        try:
            params = procedures.read_params(method, config)
        except ValueError as exc:
            raise UserError("bad_params", str(exc))
        sources = procedures.read_sources(method, config)
        client = client_module()
        endpoint = (config.get_property("endpoint") or "").strip() or None
        conn, info = daemon_job.connect(client, endpoint, interactive)
        try:
            offered = catalogs.Catalog.from_handshake(info)
            notice_new_methods(catalog(), offered)
            if offered.get(method.name) is None:
                raise UserError("method_missing", "The Painterly daemon at %s does not offer the method %r (it has: "
                                "%s). Update Painterly." % (conn.endpoint, method.name, ", ".join(offered.names())))
            images, choice = image_io.gather(client, image, drawable, method, sources,
                                             config.get_property("sample-merged"), config.get_property("margin"))
            images = request.check_inputs(method, images)
            request.check_limits(images, offered.limits)
            say("%s of %r (%s) sent to %s" % (method.label, drawable.get_name(), choice.source, conn.endpoint))
            result = daemon_job.run_job(conn, method, params, images)
        finally:
            conn.close()
        layer = image_io.insert_result(image, drawable, result, request.result_name(method, params),
                                       choice.source == "selection" and not method.masks)
    except Exception as exc:   # noqa: BLE001 - every failure is a message, never a traceback dialog
        code, message = explain(exc)
        if code == "internal":
            say(traceback.format_exc())
            message += " Details are in GIMP's error console."
        cancelled = is_cancelled(exc)
        if run_mode == Gimp.RunMode.NONINTERACTIVE and not cancelled:
            # From the menu GIMP itself shows the returned error once ("Execution error for ...").
            Gimp.message("Painterly: " + message)
        status = Gimp.PDBStatusType.CANCEL if cancelled else Gimp.PDBStatusType.EXECUTION_ERROR
        return procedure.new_return_values(status, GLib.Error(message))
    retval = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    retval.remove(1)
    retval.insert(1, GObject.Value(Gimp.Layer, layer))
    return retval


class Painterly(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False

    def do_query_procedures(self):
        # GIMP registers the plug-in: ask the daemon for its methods now, briefly
        try:
            found = catalogs.refresh(messaging.client_module(HERE), HERE, timeout=QUERY_TIMEOUT)
        except UserError as exc:
            say("%s; using the methods known so far" % exc)
            found = catalogs.load(HERE)
        _CATALOG[:] = [found]
        for problem in found.problems:
            say("method left out: %s" % problem)
        return [procedures.procedure_name(m.name) for m in found.methods]

    def do_create_procedure(self, name):
        method = method_for(name)
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label(method.label + "...")
        procedure.add_menu_path(procedures.MENU)
        procedure.set_documentation(
            method.summary[:1].upper() + method.summary[1:],
            "Sends the layer's pixels around the selection (the selection, else the layer's transparency, is the "
            "mask) and the chosen layers to the local Painterly daemon, and adds the result as a new layer above. "
            "The original layers are not modified. Needs 'painterly daemon'.", name)
        procedure.set_attribution("Painterly", "Painterly", "2026")
        procedures.add_arguments(procedure, method, messaging.default_endpoint())
        procedure.add_layer_return_value("new-layer", "New layer", "The layer holding the result", False,
                                         GObject.ParamFlags.READWRITE)
        return procedure


if __name__ == "__main__":
    Gimp.main(Painterly.__gtype__, sys.argv)

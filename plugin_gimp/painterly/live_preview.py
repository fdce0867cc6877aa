"""The dialog's preview: with "Preview" ticked, each change of an argument (debounced) runs the method at
``instant`` quality (when it has that quality) on the region the run would send, as a ``live`` job, and
shows the result in the dialog, scaled by GdkPixbuf. A change while a job runs cancels it. Nothing is
written to the image: GIMP 3's plug-in API has no on-canvas preview for a Python plug-in's own pixels
(docs/gimp.md), so the preview lives in the dialog.

The image is read on GTK's thread (GIMP's API is not thread-safe); the daemon conversation runs in a worker
thread with one client kept while the dialog is open (its shared-memory mappings reused), whose answer comes
back through GLib.idle_add.
"""
import threading
import traceback

import gi
gi.require_version('Gtk', '3.0')
gi.require_version('GdkPixbuf', '2.0')
from gi.repository import GdkPixbuf, GLib, Gtk  # noqa: E402

from painterly_client.plugin_core import pixels  # noqa: E402
from painterly_client.plugin_core.errors import UserError, explain, log  # noqa: E402

import image_io  # noqa: E402
import procedures  # noqa: E402

DEBOUNCE_MS = 300
SIDE = 300             # the preview's longest side in the dialog


class DialogPreview(object):
    def __init__(self, config, method, image, drawable, client_module):
        self.config, self.method, self.image, self.drawable = config, method, image, drawable
        self.client_module, self.client = client_module, None
        self.timer = None
        self.instant = False
        self.run = None            # (cancel event) of the job running now
        self.pending = False
        self.toggle = Gtk.CheckButton.new_with_mnemonic("_Preview (instant)")
        self.toggle.set_active(True)
        self.picture = Gtk.Image()
        self.picture.set_size_request(SIDE, SIDE * 2 // 3)
        self.status = Gtk.Label(label="")
        self.status.set_line_wrap(True)
        self.status.set_max_width_chars(48)
        self.box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        for widget in (self.toggle, self.picture, self.status):
            self.box.pack_start(widget, False, False, 0)
        self.toggle.connect("toggled", self.changed)
        self.handler = config.connect("notify", self.changed)

    def attach(self, dialog):
        dialog.get_content_area().pack_start(self.box, False, False, 6)
        self.box.show_all()
        self.changed()

    def close(self):
        self.config.disconnect(self.handler)
        if self.timer is not None:
            GLib.source_remove(self.timer)
            self.timer = None
        if self.run is not None:
            self.run.set()
        elif self.client is not None:
            self.client.close()
            self.client = None
        self.toggle = None

    def changed(self, *_):
        if self.timer is not None:
            GLib.source_remove(self.timer)
        self.timer = GLib.timeout_add(DEBOUNCE_MS, self.fire)

    def fire(self):
        self.timer = None
        if self.toggle is None or not self.toggle.get_active():
            return False
        if self.run is not None:          # a change while a job runs cancels it
            self.run.set()
            self.pending = True
            return False
        try:
            self.start()
        except Exception as exc:   # noqa: BLE001 - a preview is never worth an error dialog
            code, message = explain(exc)
            if code == "internal":
                log(traceback.format_exc(), "painterly-gimp")
            self.status.set_text(message)
        return False

    def start(self):
        params = procedures.read_params(self.method, self.config)
        spec = self.method.param("quality")
        self.instant = spec is not None and bool(spec.choices) and "instant" in spec.choices
        if self.instant:
            params["quality"] = "instant"
        client = self.client_module
        images, _ = image_io.gather(client, self.image, self.drawable, self.method,
                                    procedures.read_sources(self.method, self.config),
                                    self.config.get_property("sample-merged"), self.config.get_property("margin"))
        if self.client is None:
            endpoint = (self.config.get_property("endpoint") or "").strip() or None
            self.client = client.Client(endpoint, timeout=30.0)
        cancel = self.run = threading.Event()
        self.status.set_text("Previewing...")
        threading.Thread(target=self.work, args=(self.client, params, images, cancel), daemon=True).start()

    def work(self, conn, params, images, cancel):
        """Worker thread: the live job. Touches nothing of GIMP or GTK."""
        try:
            job_id = conn.submit(self.method.name, params, images, live=True)
            result = conn.wait(job_id, cancel_event=cancel)
            shown = (result.image.width, result.image.height, pixels.to_8bit(result.image.data, result.image.depth))
            del result
            GLib.idle_add(self.done, cancel, shown, None)
        except Exception as exc:   # noqa: BLE001
            GLib.idle_add(self.done, cancel, None, exc)

    def done(self, cancel, shown, error):
        self.run = None
        if self.toggle is None:            # the dialog closed meanwhile
            if self.client is not None:
                self.client.close()
                self.client = None
            return False
        if shown is not None and not cancel.is_set():
            width, height, data = shown
            pixbuf = GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(data), GdkPixbuf.Colorspace.RGB, True, 8,
                                                     width, height, width * 4)
            scale = float(SIDE) / max(width, height)       # to the preview's size, by GdkPixbuf
            pixbuf = pixbuf.scale_simple(max(1, int(width * scale)), max(1, int(height * scale)),
                                         GdkPixbuf.InterpType.BILINEAR)
            self.picture.set_from_pixbuf(pixbuf)
            text = "%s%s: %d\u00d7%d px" % (self.method.label, ", instant" if self.instant else "", width, height)
            self.status.set_text(text)
            log("preview shown: %s" % text, "painterly-gimp")
        elif error is not None and not cancel.is_set():
            code, message = explain(error)
            log("preview failed: %s" % message, "painterly-gimp")
            self.status.set_text(message)
        if self.pending:
            self.pending = False
            self.fire()
        return False


def attach(dialog, config, method, image, drawable, client_module):
    """Add the preview to ``dialog``; returns it (close() it once the dialog is gone)."""
    preview = DialogPreview(config, method, image, drawable, client_module)
    preview.attach(dialog)
    return preview


__all__ = ["attach", "DialogPreview", "UserError"]

"""The job's layer in the document. Once the daemon has taken the job, a locked layer is added right above
the active one, masked by the selection grown and feathered (the job's one undo step); live previews are
drawn into it and the result replaces them. A job that ends without a result takes the layer back with
Krita's own Undo, so the undo history is as it was before the job (a later Redo brings back an
unlocked "Painterly preview (cancelled)" layer, nothing else). The source layers are only ever read.
"""
import time
import traceback

from krita import Krita

from .document import compositing_selection
from .painterly_client.plugin_core import pixels
from .painterly_client.plugin_core.errors import log
from .qt_compat import FMT_ARGB32, FMT_RGBA64, IGNORE_ASPECT, SMOOTH, image_bytes

PREVIEW_REFRESH_S = 0.3      # at most this often is a preview drawn into the layer
TAKEN_BACK_NAME = "Painterly preview (cancelled)"
MASK_NAME = "Painterly mask"


class JobLayer(object):
    def __init__(self, job):
        self.job, self.node, self.last_paint = job, None, 0.0

    def add(self, name):
        """Add the locked layer (with its transparency mask) above the active layer: one undo step."""
        job = self.job
        layer = job.doc.createNode(name, "paintlayer")
        selection = compositing_selection(job)
        if selection is not None:
            tmask = job.doc.createTransparencyMask(MASK_NAME)
            tmask.setSelection(selection)
            layer.addChildNode(tmask, None)         # not in the document yet: no undo step
        job.node.parentNode().addChildNode(layer, job.node)
        layer.setLocked(True)
        job.doc.setActiveNode(job.node)
        self.node = layer
        return layer

    def paint_preview(self, image):
        """Draw a preview QImage over the region (at most every PREVIEW_REFRESH_S); True when drawn."""
        now = time.monotonic()
        if self.node is None or now - self.last_paint < PREVIEW_REFRESH_S:
            return False
        self.last_paint = now
        x, y, w, h = self.job.region
        try:
            scaled = image.scaled(w, h, IGNORE_ASPECT, SMOOTH)
            if self.job.depth == 8:
                data = image_bytes(scaled.convertToFormat(FMT_ARGB32))
            else:
                data = pixels.swap_red_blue(image_bytes(scaled.convertToFormat(FMT_RGBA64)), 16)
            self.node.setPixelData(data, x, y, w, h)
            self.job.doc.refreshProjection()
        except Exception:   # noqa: BLE001 - a preview is never worth an error
            log("preview not shown: %s" % traceback.format_exc())
            return False
        return True

    def place(self, image, name):
        """The result (an RGBA ImageBuffer at the document's depth) into the layer, renamed and unlocked."""
        data = pixels.swap_red_blue(image.data, image.depth)
        self.node.setPixelData(data, image.x, image.y, image.width, image.height)
        self.node.setName(name)
        self.node.setLocked(False)
        self.job.doc.refreshProjection()

    def take_back(self):
        """Remove the layer leaving no undo step: "undone" (Krita's Undo took back the add), "removed" (the
        last undo step was not ours: the layer was removed, one more step), or None (no layer)."""
        layer, doc = self.node, self.job.doc
        if layer is None:
            return None
        self.node = None
        try:
            layer.setName(TAKEN_BACK_NAME)     # what a Redo would bring back
            return remove_layer_without_undo_step(doc, layer)
        except Exception:   # noqa: BLE001 - the document may have been closed meanwhile
            log("could not remove the job's layer: %s" % traceback.format_exc())
            return None


def remove_layer_without_undo_step(doc, layer):
    """Take ``layer`` out of ``doc``: with Krita's Undo when adding it was the last undo step ("undone", the
    history as before), else by removing it ("removed": the last step was the user's, given back by Redo)."""
    layer.setLocked(False)
    app = Krita.instance()
    if app.activeDocument() == doc:   # Undo works on the active document
        app.action("edit_undo").trigger()
        doc.waitForDone()
        if layer.parentNode() is None:
            doc.refreshProjection()
            return "undone"
        app.action("edit_redo").trigger()   # the last step was the user's: give it back
        doc.waitForDone()
    layer.remove()
    doc.refreshProjection()
    return "removed"

"""Live mode: while the docker's "Live" toggle is on, each change of the selection, the active layer or a
parameter (debounced) runs the docker's method again at ``instant`` quality (when the method has it) as a
``live`` job, and its result replaces the last one in ONE preview layer at the top of the stack. A change
while a job runs cancels it. Drawing into the preview layer makes no undo step (Node.setPixelData); the
layer itself is added once (one step) and taken back with Krita's own Undo when Live goes off, so the undo
history is as before. "Apply" turns Live off and runs the normal job at the chosen quality (its layer is
the usual one undo step).

Krita's Python API has no signal for selection changes: a cheap signature (document, active layer,
selection bounds) is polled a few times a second. The preview layer is hidden while the document is read,
so a preview never feeds the next job. Everything touching Krita runs on the GUI thread; the daemon
conversation runs in a worker thread with one client kept for the session (its shared-memory mappings are
reused from job to job). ``LIVE`` records what happened (read by the tests).
"""
import threading
import traceback

from krita import Krita

from . import document, settings
from .job_layer import remove_layer_without_undo_step
from .painterly_client.plugin_core import messaging, pixels
from .painterly_client.plugin_core.errors import UserError, explain, log
from .qt_compat import QtCore, Signal

PREVIEW_NAME = "Painterly live preview"
DEBOUNCE_MS = 250
POLL_MS = 200
LIVE = {}


class Bridge(QtCore.QObject):
    done = Signal(object, object)        # run, JobResult
    failed = Signal(object, str, str)    # run, code, message


class Run(object):
    def __init__(self, job):
        self.job, self.cancel = job, threading.Event()


class PreviewLayer(object):
    """The one layer live results are drawn into."""

    def __init__(self):
        self.node = self.doc = self.rect = None

    def exists(self, doc=None):
        return self.node is not None and self.node.parentNode() is not None and (doc is None or self.doc == doc)

    def hidden(self):
        """A context in which the preview layer does not show (while the document is read)."""
        layer = self

        class Hidden(object):
            def __enter__(self):
                self.shown = layer.exists() and layer.node.visible()
                if self.shown:
                    layer.node.setVisible(False)
                    layer.doc.refreshProjection()
                    layer.doc.waitForDone()

            def __exit__(self, *exc):
                if self.shown and layer.exists():
                    layer.node.setVisible(True)
                    layer.doc.refreshProjection()
        return Hidden()

    def show(self, job, image):
        """Draw ``image`` (RGBA ImageBuffer at the document's depth), clearing the last one."""
        if not self.exists(job.doc):
            self.discard()
            root = job.doc.rootNode()
            node = job.doc.createNode(PREVIEW_NAME, "paintlayer")
            layers = [n for n in root.childNodes() if not n.type().endswith("mask")]
            root.addChildNode(node, layers[-1] if layers else None)     # at the top: the session's one undo step
            node.setLocked(True)
            job.doc.setActiveNode(job.node)
            self.node, self.doc, self.rect = node, job.doc, None
        if self.rect is not None:
            x, y, w, h = self.rect
            self.node.setPixelData(bytes(w * h * 4 * job.depth // 8), x, y, w, h)
        self.node.setPixelData(pixels.swap_red_blue(image.data, image.depth), image.x, image.y, image.width,
                               image.height)
        self.rect = (image.x, image.y, image.width, image.height)
        self.doc.refreshProjection()

    def discard(self):
        """Remove the layer leaving no undo step where Krita's Undo can take it back (see job_layer)."""
        node, doc = self.node, self.doc
        self.node = self.doc = self.rect = None
        if node is None or node.parentNode() is None:
            return None
        try:
            return remove_layer_without_undo_step(doc, node)
        except Exception:   # noqa: BLE001 - the document may have been closed meanwhile
            log("could not remove the live preview layer: %s" % traceback.format_exc(), "painterly_krita")
            return None


class LiveSession(QtCore.QObject):
    status = Signal(str)
    active = Signal(bool)

    def __init__(self, controller):
        QtCore.QObject.__init__(self)
        self.ctl = controller
        self.enabled = False
        self.run = None          # the job running now
        self.pending = False     # a change came while it ran: run again once it ended
        self.client = None
        self.signature = None
        self.preview = PreviewLayer()
        self.bridge = Bridge()
        self.bridge.done.connect(self._on_done)
        self.bridge.failed.connect(self._on_failed)
        self.debounce = QtCore.QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)
        self.debounce.timeout.connect(self.fire)
        self.poller = QtCore.QTimer(self)
        self.poller.setInterval(POLL_MS)
        self.poller.timeout.connect(self.poll)

    # -- on and off
    def set_enabled(self, on):
        on = bool(on)
        if on == self.enabled:
            return
        self.enabled = on
        if on:
            LIVE.clear()
            LIVE.update(runs=0, placed=0, cancelled=0, failed=0)
            self.signature = self._signature()
            self.poller.start()
            self.changed()
        else:
            self.poller.stop()
            self.debounce.stop()
            self.pending = False
            if self.run is not None:
                self.run.cancel.set()
            LIVE["discarded"] = self.preview.discard()
            self.status.emit("Live off.")
        self.active.emit(on)

    def apply(self):
        """Live off (its preview taken back), then the normal job at the chosen quality: one undo step."""
        self.set_enabled(False)
        self.ctl.start()

    # -- what changed
    def changed(self, *_):
        if self.enabled:
            self.debounce.start()

    def poll(self):
        signature = self._signature()
        if signature != self.signature:
            self.signature = signature
            self.changed()

    def _signature(self):
        try:
            doc = Krita.instance().activeDocument()
            if doc is None:
                return None
            node, sel = doc.activeNode(), doc.selection()
            return (doc.rootNode().uniqueId(), node.uniqueId() if node is not None else None,
                    None if sel is None else (sel.x(), sel.y(), sel.width(), sel.height()))
        except Exception:   # noqa: BLE001 - a document being closed
            return None

    # -- running
    def fire(self):
        if not self.enabled:
            return
        if self.ctl.busy():                # a normal job runs: try again after it
            self.debounce.start()
            return
        if self.run is not None:           # a change while a job runs cancels it
            self.run.cancel.set()
            self.pending = True
            return
        try:
            self._start()
        except UserError as exc:
            LIVE["message"] = str(exc)
            self.status.emit("Live: %s" % exc)
        except Exception:   # noqa: BLE001 - never let Krita show its exception dialog
            text = traceback.format_exc()
            log(text, "painterly_krita")
            self.status.emit("Live failed: %s" % text.strip().splitlines()[-1])

    def _start(self):
        app = Krita.instance()
        doc = app.activeDocument()
        if doc is not None and self.preview.exists(doc) and doc.activeNode() is not None \
                and doc.activeNode().uniqueId() == self.preview.node.uniqueId():
            raise UserError("live_layer", "select the layer to work on (not the live preview).")
        method = self.ctl.method()
        if method is None:
            raise UserError("no_methods", "the daemon's methods are not known yet: start the daemon.")
        client = messaging.client_module(settings.PLUGIN_DIR)
        plugin = settings.load()
        with self.preview.hidden():
            job = document.gather(doc, method, settings.load_method(method), plugin, client)
        spec = method.param("quality")
        if spec is not None and spec.choices and "instant" in spec.choices:
            job.params["quality"] = "instant"
        job.params = method.settle(job.params)
        endpoint = plugin["endpoint"] or None
        if self.client is None or self.client.endpoint != (endpoint or messaging.default_endpoint()):
            self._close_client()
            self.client = client.Client(endpoint, timeout=30.0)
        run = self.run = Run(job)
        LIVE["runs"] = LIVE.get("runs", 0) + 1
        self.status.emit("Live: %s..." % method.label)
        threading.Thread(target=self._work, args=(run, self.client), name="painterly-live", daemon=True).start()

    def _work(self, run, conn):
        """Worker thread: the live job through the session's client. Touches nothing of Krita."""
        try:
            job_id = conn.submit(run.job.method.name, run.job.params, run.job.images, live=True)
            result = conn.wait(job_id, cancel_event=run.cancel)
        except Exception as exc:   # noqa: BLE001
            code, message = explain(exc)
            self.bridge.failed.emit(run, code, message)
        else:
            self.bridge.done.emit(run, result)

    def _on_done(self, run, result):
        self.run = None
        try:
            if self.enabled and not run.cancel.is_set() and any(d == run.job.doc for d in Krita.instance().documents()):
                self.preview.show(run.job, result.image)
                LIVE["placed"] = LIVE.get("placed", 0) + 1
                LIVE["rect"] = list(self.preview.rect)
                quality = run.job.params.get("quality")
                self.status.emit("Live: %s%s shown." % (run.job.method.label, " (%s)" % quality if quality else ""))
        except Exception:   # noqa: BLE001
            log("live preview not shown: %s" % traceback.format_exc(), "painterly_krita")
        finally:
            del result           # its pixels may be a view of the client's mapping: let it be reused
            self._next()

    def _on_failed(self, run, code, message):
        self.run = None
        if code == "cancelled":
            LIVE["cancelled"] = LIVE.get("cancelled", 0) + 1
        else:
            LIVE["failed"] = LIVE.get("failed", 0) + 1
            LIVE["message"] = message
            self.status.emit("Live: %s" % message)
            if code == "unavailable":
                self._close_client()
        self._next()

    def _next(self):
        if self.pending and self.enabled:
            self.pending = False
            self.fire()
        elif not self.enabled:
            self._close_client()

    def _close_client(self):
        if self.client is not None and self.run is None:
            self.client.close()
            self.client = None

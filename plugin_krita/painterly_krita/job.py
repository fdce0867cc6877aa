"""Running a method on the daemon from Krita: one job at a time, shared by the menu action and the docker.

Everything that touches Krita runs on the GUI thread; only the daemon conversation runs in worker
threads, which report back through queued Qt signals, so Krita never freezes. A job: read the document
(document.gather), ask the daemon whether it takes the job (method offered, inputs, size limits) - a
refusal leaves the document untouched -, add the job's layer (job_layer), send the job and draw the
live previews, then place the result, or take the layer back.

``LAST_RUN`` says what the last job did (read by the tests and the docker).
"""
import threading
import traceback

from krita import Krita

from . import document, settings
from .job_layer import JobLayer
from .painterly_client.plugin_core import catalog as catalogs
from .painterly_client.plugin_core import messaging, pixels, request
from .painterly_client.plugin_core.errors import UserError, explain, log
from .painterly_client.plugin_core.launcher import start_daemon
from .qt_compat import FMT_RGB888, FMT_RGBA8888, QtCore, QtGui, QtWidgets, Signal, enum, exec_

PLUGIN_DIR = settings.PLUGIN_DIR
LAST_RUN = {}


def say_log(msg):
    log(msg, "painterly_krita")


class Bridge(QtCore.QObject):
    """Signals from the worker threads, delivered on the GUI thread (queued connections)."""
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str, str)
    handshake = Signal(object, str)
    accepted = Signal(object)            # the daemon takes the job: add its layer


class Controller(QtCore.QObject):
    status = Signal(str)                 # a sentence for the status line
    progress = Signal(int, int)          # iteration, total
    preview = Signal(object)             # QImage
    running = Signal(bool)
    daemon_status = Signal(str, bool)    # text, reachable
    catalog_changed = Signal()           # the daemon's methods differ from those shown

    def __init__(self):
        QtCore.QObject.__init__(self)
        self.bridge = Bridge()
        self.bridge.progress.connect(self._on_progress)
        self.bridge.finished.connect(self._on_finished)
        self.bridge.failed.connect(self._on_failed)
        self.bridge.handshake.connect(self._on_handshake)
        self.bridge.accepted.connect(self._on_accepted)
        self.catalog = catalogs.load(PLUGIN_DIR)
        self.job = None

    # -- helpers
    def say(self, text):
        LAST_RUN["message"] = text
        say_log(text)
        self.status.emit(text)

    def error(self, code, message, offer_start=False):
        LAST_RUN.update(state="failed", code=code, message=message)
        self.say(message)
        if Krita.instance().batchmode():
            return
        window = Krita.instance().activeWindow()
        parent = window.qwindow() if window is not None else None
        if offer_start:
            box = QtWidgets.QMessageBox(parent)
            box.setWindowTitle("Painterly")
            box.setText(message)
            start = box.addButton("Start the daemon", enum(QtWidgets.QMessageBox, "ButtonRole", "AcceptRole"))
            box.addButton(enum(QtWidgets.QMessageBox, "StandardButton", "Close"))
            exec_(box)
            if box.clickedButton() == start:
                self.start_daemon()
        else:
            QtWidgets.QMessageBox.warning(parent, "Painterly", message)

    def method(self):
        """The method the docker shows (the stored choice when the daemon offers it)."""
        return self.catalog.default(settings.load()["method"])

    def start_daemon(self):
        plugin = settings.load()
        try:
            self.say(start_daemon(PLUGIN_DIR, plugin["endpoint"] or None, plugin["device"]))
        except UserError as exc:
            self.say(str(exc))
            return
        QtCore.QTimer.singleShot(3000, self.check_daemon)

    # -- the daemon's state and methods (background)
    def check_daemon(self):
        endpoint = settings.load()["endpoint"] or None
        try:
            client = messaging.client_module(PLUGIN_DIR)
        except UserError as exc:
            self.daemon_status.emit(str(exc), False)
            return
        bridge = self.bridge

        def ask():
            try:
                with client.Client(endpoint, timeout=5.0) as conn:
                    bridge.handshake.emit(conn.handshake(), conn.endpoint)
            except Exception as exc:   # noqa: BLE001 - any failure means "not reachable"
                bridge.handshake.emit(None, "%s" % exc)
        threading.Thread(target=ask, name="painterly-handshake", daemon=True).start()

    def _on_handshake(self, info, detail):
        if info is None:
            self.daemon_status.emit("Daemon not running (%s)" % detail, False)
            return
        before = self.catalog.signature()
        self.catalog = catalogs.remember(PLUGIN_DIR, info)
        if before != self.catalog.signature():
            self.catalog_changed.emit()
        self.daemon_status.emit("Daemon %s on %s; devices: %s; zmq: %s" % (
            info.get("version", "?"), detail, ", ".join(info.get("devices") or []) or "?",
            messaging.zmq_origin(PLUGIN_DIR)), True)

    # -- the job
    def busy(self):
        return self.job is not None

    def start(self):
        """Run the chosen method on the active document with the docker's settings (GUI thread). Never
        raises: every problem becomes a message."""
        try:
            self._start()
        except UserError as exc:
            self.error(exc.code, str(exc))
        except Exception:   # noqa: BLE001 - never let Krita show its exception dialog
            text = traceback.format_exc()
            say_log(text)
            self.error("internal", "Painterly failed unexpectedly: %s" % text.strip().splitlines()[-1])

    def _start(self):
        if self.job is not None:
            raise UserError("busy", "A Painterly job is already running: wait for it or press Cancel.")
        LAST_RUN.clear()
        LAST_RUN.update(state="starting")
        client = messaging.client_module(PLUGIN_DIR)
        method = self.method()
        if method is None:
            raise UserError("no_methods", "Painterly does not know the daemon's methods yet: start the daemon "
                            "(Start daemon in the Painterly docker) and try again.")
        plugin = settings.load()
        job = document.gather(Krita.instance().activeDocument(), method, settings.load_method(method), plugin, client)
        job.client, job.endpoint = client, plugin["endpoint"] or None
        job.shown_endpoint = job.endpoint or messaging.default_endpoint()
        job.cancel, job.layer = threading.Event(), JobLayer(job)
        LAST_RUN.update(mask_max=max(job.mask) if job.mask else 0, mask_soft=bool(job.mask) and pixels.is_soft(job.mask),
                        region=list(job.region), mask_source=job.mask_source, method=method.name,
                        zmq=messaging.zmq_origin(PLUGIN_DIR), endpoint=job.shown_endpoint)
        self.job = job
        self.running.emit(True)
        self.progress.emit(0, 0)
        self.say("Asking the daemon at %s..." % job.shown_endpoint)
        threading.Thread(target=self._probe, args=(job,), name="painterly-probe", daemon=True).start()

    def cancel(self):
        if self.job is not None:
            self.job.cancel.set()
            self.say("Cancelling...")

    def _probe(self, job):
        """Worker thread: does the daemon take this job? Touches nothing of Krita."""
        def probe():
            with job.client.Client(job.endpoint, timeout=3.0) as conn:
                offered = catalogs.Catalog.from_handshake(conn.handshake())
            method = offered.get(job.method.name)
            if method is None:
                raise UserError("method_missing", "The daemon at %s has no method %r (it offers %s): update "
                                "painterly." % (job.shown_endpoint, job.method.name, ", ".join(offered.names())))
            job.method, job.params = method, method.settle(job.params)
            job.images = request.check_inputs(method, job.images)
            request.check_limits(job.images, offered.limits)
            return job
        self._guarded(probe, self.bridge.accepted.emit)

    def _on_accepted(self, job):
        """The daemon takes the job: add its layer, then send the job (GUI thread)."""
        if job is not self.job:
            return
        if job.cancel.is_set():
            self._on_failed("cancelled", "Cancelled.")
            return
        if not self._document_open(job):
            self._finish()
            LAST_RUN.update(state="failed", code="closed", message="The document was closed.")
            return
        try:
            job.layer.add("Painterly: running %s..." % job.method.label)
        except Exception:   # noqa: BLE001
            self._on_failed("internal", "Painterly could not add its layer: %s" % traceback.format_exc())
            return
        self.say("Sending %s of %r (%s) to %s..." % (job.region.extent, job.node.name(), job.mask_source,
                                                  job.shown_endpoint))
        threading.Thread(target=self._run_job, args=(job,), name="painterly-job", daemon=True).start()

    def _run_job(self, job):
        """Worker thread: submit the job and wait for it, forwarding progress. Touches nothing of Krita."""
        def run():
            with job.client.Client(job.endpoint, timeout=30.0) as conn:
                job.id = conn.submit(job.method.name, job.params, job.images)
                return conn.wait(job.id, on_progress=self.bridge.progress.emit, cancel_event=job.cancel)
        self._guarded(run, self.bridge.finished.emit)

    def _guarded(self, work, on_success):
        """Run work() and pass its value on; every failure becomes a failed signal with a sentence."""
        try:
            value = work()
        except Exception as exc:   # noqa: BLE001
            code, message = explain(exc)
            if code == "internal":
                say_log(traceback.format_exc())
            self.bridge.failed.emit(code, message)
        else:
            on_success(value)

    def _on_progress(self, event):
        job = self.job
        if job is None:
            return
        LAST_RUN["progress_events"] = LAST_RUN.get("progress_events", 0) + 1
        self.progress.emit(int(event.iteration), int(event.total))
        if event.stage:
            self.say("%s: %d/%d" % (event.stage, event.iteration, event.total))
        p = event.preview
        if p is None:
            return
        image = QtGui.QImage(bytes(p.data), p.width, p.height, p.width * p.channels,
                             FMT_RGB888 if p.channels == 3 else FMT_RGBA8888).copy()
        self.preview.emit(image)
        if job.layer.paint_preview(image):
            LAST_RUN["previews_painted"] = LAST_RUN.get("previews_painted", 0) + 1

    def _finish(self):
        job, self.job = self.job, None
        self.running.emit(False)
        return job

    def _document_open(self, job):
        return any(d == job.doc for d in Krita.instance().documents())

    def _on_finished(self, result):
        job = self._finish()
        if not self._document_open(job):
            LAST_RUN.update(state="failed", code="closed", message="The document was closed before the job ended.")
            self.say(LAST_RUN["message"])
            return
        try:
            img = result.image
            if img.channels != 4 or img.depth != job.depth:
                raise UserError("job_failed", "The daemon answered with a %d-channel %d-bit image; expected RGBA "
                                "%d-bit." % (img.channels, img.depth, job.depth))
            name = request.result_name(job.method, job.params)
            job.layer.place(img, name)
            self.progress.emit(1, 1)
            LAST_RUN.update(state="done", layer=name, params=job.params, meta=result.meta,
                            result_rect=[img.x, img.y, img.width, img.height])
            self.say("Done: added layer %r." % name)
        except Exception as exc:   # noqa: BLE001
            LAST_RUN["taken_back"] = job.layer.take_back()
            code, message = explain(exc)
            self.error(code, message if code != "internal" else "Painterly could not place the result: %s"
                       % traceback.format_exc())

    def _on_failed(self, code, message):
        job = self._finish()
        taken_back = job.layer.take_back() if job is not None else None
        self.progress.emit(0, 1)
        if code == "cancelled":
            LAST_RUN.update(state="cancelled", code=code, message=message, taken_back=taken_back)
            self.say("Cancelled: nothing was added.")
            return
        LAST_RUN["taken_back"] = taken_back
        self.error(code, message, offer_start=(code == "unavailable"))


_CONTROLLER = []


def controller():
    if not _CONTROLLER:
        _CONTROLLER.append(Controller())
    return _CONTROLLER[0]

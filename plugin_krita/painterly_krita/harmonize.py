"""Harmonize Selection: read the document, run the job on the painterly daemon, place the result.

Everything that touches Krita runs on the GUI thread; only the daemon conversation runs in a worker
thread, which reports back through queued Qt signals, so the UI never freezes.

Job life cycle:
 1. ``gather()`` reads the region to send (selection bounds, or the active layer's opaque area, grown by
    the context margin), the mask, the base image and the style image.  User errors raise ``UserError``.
 2. A locked preview layer (with a transparency mask = the selection grown and feathered by Krita) is
    added above the active layer: this is the job's only undo step.  Live previews are drawn into it.
 3. On success the result pixels replace the previews and the layer is renamed and unlocked; on cancel
    or failure the preview layer is removed.  The source layers are only ever read.
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback

from krita import Krita, Selection

from . import pixels
from .qt_compat import (FMT_ARGB32, FMT_RGB888, FMT_RGBA64, FMT_RGBA8888, IGNORE_ASPECT, KEEP_ASPECT,
                        SMOOTH, QtCore, QtGui, QtWidgets, Signal, enum, exec_, image_bytes)

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
SETTINGS_GROUP = "painterly"
# docker method -> (engine method, name of the input that carries the base image)
METHODS = {
    "harmonize": ("harmonize", "composite"),
    "stylize": ("masked", "content"),
    "photo": ("photo", "content"),
}
METHOD_LABELS = {"harmonize": "Harmonize", "stylize": "Stylize", "photo": "Photo style"}
STYLE_SOURCES = {"below": "Visible layers below", "layer": "A chosen layer", "file": "An image file"}
QUALITIES = ("preview", "final")
DEVICES = ("auto", "cpu", "cuda")
STYLE_MAX_SIDE = 1024        # the style painting is only used for its statistics: send it reduced
PREVIEW_REFRESH_S = 0.3      # at most this often is the preview layer repainted
DEFAULTS = {
    "method": "harmonize", "style_source": "below", "style_layer": "", "style_file": "",
    "strength": 50, "quality": "final", "endpoint": "", "device": "auto",
    "context": 32, "grow": 4, "feather": 4, "iterations": 0, "size": 0,
}
LAST_RUN = {}                # what the last job did (read by tests and the docker)


def log(msg):
    sys.stderr.write("painterly_krita: %s\n" % msg)
    sys.stderr.flush()


class UserError(Exception):
    """Something the user can fix: ``code`` for programs, ``str()`` a sentence for people."""

    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


# --- settings --------------------------------------------------------------------------------------

def load_settings():
    app = Krita.instance()
    out = {}
    for key, default in DEFAULTS.items():
        raw = app.readSetting(SETTINGS_GROUP, key, str(default))
        try:
            out[key] = int(raw) if isinstance(default, int) else raw
        except ValueError:
            out[key] = default
    return out


def save_settings(values):
    app = Krita.instance()
    for key in DEFAULTS:
        if key in values:
            app.writeSetting(SETTINGS_GROUP, key, str(values[key]))


def endpoint_of(settings):
    return settings.get("endpoint") or load_client().default_endpoint()


# --- the daemon client (vendored pyzmq/msgpack only when Krita's Python lacks them) ------------------

def load_client():
    """The ``painterly_client`` package installed next to this plugin, or UserError."""
    if not _have_messaging():
        vendor = os.path.join(PLUGIN_DIR, "vendor")
        if os.path.isdir(vendor):
            for name in list(sys.modules):      # drop what the failed import left behind
                if name.split(".")[0] in ("zmq", "msgpack"):
                    del sys.modules[name]
            if vendor in sys.path:
                sys.path.remove(vendor)
            sys.path.insert(0, vendor)          # ahead of a broken or partial system copy
            log("Krita's Python lacks pyzmq/msgpack: using the copies bundled in %s" % vendor)
    try:
        from . import painterly_client
    except ImportError as exc:
        what = "pyzmq/msgpack for Krita's Python" if not _have_messaging() else "the daemon client"
        raise UserError("missing_dependency", "Painterly cannot talk to its daemon (%s). Run install.py again "
                        "so it installs %s." % (exc, what))
    return painterly_client


def _have_messaging():
    try:
        import zmq
        import msgpack
        return hasattr(zmq, "Context") and hasattr(msgpack, "packb")
    except ImportError:
        return False


def zmq_origin():
    """Where zmq was imported from: 'system' or 'vendored' (for the status line and tests)."""
    mod = sys.modules.get("zmq")
    if mod is None:
        return None
    return "vendored" if os.path.join(PLUGIN_DIR, "vendor") in os.path.abspath(mod.__file__) else "system"


def daemon_command():
    """How to run the ``painterly`` command from here: recorded by install.py, else found on PATH."""
    info = os.path.join(PLUGIN_DIR, "install_info.json")
    try:
        with open(info) as f:
            cmd = json.load(f).get("painterly_command")
        if cmd:
            return list(cmd)
    except (IOError, OSError, ValueError):
        pass
    exe = shutil.which("painterly")
    return [exe] if exe else None


def start_daemon(endpoint, device):
    """Start a local daemon in the background; returns a sentence for the status line."""
    cmd = daemon_command()
    if not cmd:
        raise UserError("no_daemon_command", "The painterly command was not found: run install.py, or start "
                        "the daemon yourself with: painterly daemon --endpoint %s" % endpoint)
    args = cmd + ["daemon", "--endpoint", endpoint, "--device", device or "auto", "--detach"]
    log("starting the daemon: %s" % " ".join(args))
    # Krita's own Python settings (e.g. the AppImage's PYTHONHOME) must not leak into the daemon's Python
    env = dict((k, v) for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH"))
    subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True, env=env)
    return "Starting the painterly daemon on %s (device %s)..." % (endpoint, device or "auto")


# --- reading the document --------------------------------------------------------------------------

def paint_node(node):
    """The layer to work on: masks (e.g. the selection mask Krita adds) give way to their parent."""
    while node is not None and node.type().endswith("mask"):
        node = node.parentNode()
    return node


def all_nodes(node):
    for child in node.childNodes():
        yield child
        for sub in all_nodes(child):
            yield sub


def find_layer(doc, name):
    for node in all_nodes(doc.rootNode()):
        if node.name() == name and not node.type().endswith("mask"):
            return node
    return None


def qimage_from_krita(data, width, height, depth):
    """A QImage (copy) of Krita BGRA pixels, 8-bit."""
    raw = pixels.to_8bit(data, depth)
    return QtGui.QImage(raw, width, height, width * 4, FMT_ARGB32).copy()


def rgba8_buffer(client, image):
    """An 8-bit RGBA ImageBuffer of a QImage, reduced to STYLE_MAX_SIDE."""
    if max(image.width(), image.height()) > STYLE_MAX_SIDE:
        image = image.scaled(STYLE_MAX_SIDE, STYLE_MAX_SIDE, KEEP_ASPECT, SMOOTH)
    image = image.convertToFormat(FMT_RGBA8888)
    return client.ImageBuffer(image.width(), image.height(), 4, 8, packed_bytes(image, 4))


def packed_bytes(image, bytes_per_pixel):
    """A QImage's pixels without row padding."""
    raw = image_bytes(image)
    stride, row = image.bytesPerLine(), image.width() * bytes_per_pixel
    if stride != row:
        raw = b"".join(raw[r * stride:r * stride + row] for r in range(image.height()))
    return raw


def layers_at_and_above(node):
    """The node and every sibling above it, up to the top of the stack."""
    out = []
    first = True
    while node is not None and node.parentNode() is not None:
        parent = node.parentNode()
        siblings = parent.childNodes()
        index = [s.uniqueId() for s in siblings].index(node.uniqueId())
        out.extend(s for s in siblings[index + (0 if first else 1):] if not s.type().endswith("mask"))
        first = False
        node = parent
    return out


def visible_below(doc, node, rect):
    """The canvas as it looks without the active layer and what is above it (Krita composites it)."""
    parent = node.parentNode()
    stack = [s for s in parent.childNodes() if not s.type().endswith("mask")]
    if parent.uniqueId() == doc.rootNode().uniqueId() and stack and stack[0].uniqueId() == node.uniqueId():
        raise UserError("no_style", "There are no layers below the active layer to take the style from: "
                        "choose a style layer or an image file in the Painterly docker.")
    hidden = [n for n in layers_at_and_above(node) if n.visible()]
    try:
        for n in hidden:
            n.setVisible(False)
        doc.refreshProjection()
        doc.waitForDone()
        return doc.projection(*rect)
    finally:
        for n in hidden:
            n.setVisible(True)
        doc.refreshProjection()


def style_image(doc, node, settings, rect):
    """The style painting as a QImage: the canvas area rect of the chosen source (an image file: all of it)."""
    source = settings["style_source"]
    if source == "file":
        path = settings["style_file"]
        image = QtGui.QImage(path) if path else QtGui.QImage()
        if image.isNull():
            raise UserError("no_style", "The style image file %r cannot be read: choose a PNG or JPEG painting "
                            "in the Painterly docker." % path if path else
                            "No style image file chosen: pick one in the Painterly docker.")
        return image
    if source == "layer":
        layer = find_layer(doc, settings["style_layer"]) if settings["style_layer"] else None
        if layer is None:
            raise UserError("no_style", "The style layer %r does not exist: pick one in the Painterly docker."
                            % settings["style_layer"])
        if not layer.hasExtents():
            raise UserError("no_style", "The style layer %r is empty." % layer.name())
        depth = pixels.bit_depth(doc.colorModel(), doc.colorDepth())
        return qimage_from_krita(layer.projectionPixelData(*rect), rect[2], rect[3], depth)
    return visible_below(doc, node, rect)


def rect_of(qrect):
    return (qrect.x(), qrect.y(), qrect.width(), qrect.height())


class Request(object):
    """Everything a job needs, read on the GUI thread."""


def gather(doc, settings, client):
    """Read the document into a Request (or raise UserError)."""
    if doc is None:
        raise UserError("no_document", "Open an image first.")
    depth = pixels.bit_depth(doc.colorModel(), doc.colorDepth())
    if depth is None:
        raise UserError("color_model", "Painterly works on RGB/Alpha 8-bit or 16-bit integer images; this one "
                        "is %s %s. Convert it with Image > Convert Image Color Space (RGB/Alpha, 16-bit "
                        "integer keeps the most detail) and run it again." % (doc.colorModel(), doc.colorDepth()))
    node = paint_node(doc.activeNode())
    if node is None:
        raise UserError("no_layer", "Select a layer to harmonize in the Layers docker.")
    method = settings["method"]
    if method not in METHODS:
        raise UserError("bad_method", "Unknown method %r." % method)
    canvas = (0, 0, doc.width(), doc.height())

    sel = doc.selection()
    whole_layer = False
    if sel is not None:
        sel_rect = pixels.intersect((sel.x(), sel.y(), sel.width(), sel.height()), canvas)
        sel_bytes = bytes(sel.pixelData(*sel_rect)) if sel_rect[2] and sel_rect[3] else b""
        tight = pixels.mask_bounds(sel_bytes, sel_rect[2], sel_rect[3]) if sel_bytes else None
        if tight is None:
            raise UserError("empty_selection", "The selection is empty: select the area to harmonize, or "
                            "deselect (Ctrl+Shift+A) to use the active layer's transparency.")
        if sel_rect == canvas and pixels.is_all(sel_bytes):
            whole_layer = True      # Select All means "the whole layer"
        else:
            mask_rect = (sel_rect[0] + tight[0], sel_rect[1] + tight[1], tight[2], tight[3])
            mask_source = "selection"

            def mask_for(rect):
                return bytes(sel.pixelData(*rect))
    if sel is None or whole_layer:
        layer_rect = pixels.intersect(rect_of(node.bounds()), canvas)
        if layer_rect[2] == 0 or layer_rect[3] == 0:
            raise UserError("empty_layer", "The active layer %r is empty." % node.name())
        alpha = pixels.alpha_mask(node.pixelData(*layer_rect), depth)
        tight = pixels.mask_bounds(alpha, layer_rect[2], layer_rect[3])
        if tight is None:
            raise UserError("empty_layer", "The active layer %r is fully transparent." % node.name())
        # Select All means the whole layer: everything painted on it, i.e. its alpha, as with no selection
        if not whole_layer and pixels.is_all(alpha) and layer_rect == canvas:
            raise UserError("no_selection", "Nothing is selected and the active layer %r has no transparency: "
                            "select the pasted object (or the area to harmonize) first." % node.name())
        mask_rect = (layer_rect[0] + tight[0], layer_rect[1] + tight[1], tight[2], tight[3])
        mask_source = "whole layer" if whole_layer else "layer alpha"

        def mask_for(rect):
            return pixels.alpha_mask(node.pixelData(*rect), depth)

    region = pixels.grow_rect(mask_rect, max(0, int(settings["context"])), canvas)
    x, y, w, h = region
    engine_method, base_name = METHODS[method]
    base_pixels = doc.pixelData(*region) if base_name == "composite" else node.pixelData(*region)
    mask = mask_for(region)
    images = {
        base_name: client.ImageBuffer(w, h, 4, depth, pixels.swap_red_blue(base_pixels, depth), x, y),
        "mask": client.ImageBuffer(w, h, 1, 8, mask, x, y),
    }
    # harmonize wants the clean painting under the region (same place and size); the other methods
    # want the whole painting, whose statistics are all that matters
    aligned = method == "harmonize"
    try:
        if aligned and settings["style_source"] != "file":
            style = style_image(doc, node, settings, region).convertToFormat(FMT_RGBA8888)
            images["style"] = client.ImageBuffer(w, h, 4, 8, packed_bytes(style, 4), x, y)
        elif not aligned:
            images["style"] = rgba8_buffer(client, style_image(doc, node, settings, canvas))
    except UserError:
        if not aligned:                 # harmonize can do without a separate clean painting
            raise

    req = Request()
    req.doc, req.node, req.depth, req.region = doc, node, depth, region
    req.method, req.engine_method, req.images = method, engine_method, images
    req.mask, req.mask_source, req.settings = mask, mask_source, dict(settings)
    return req


def method_params(req, declared):
    """Parameters for the engine method, limited to those it declares."""
    s = req.settings
    wanted = {"quality": s["quality"], "strength": max(0, min(100, int(s["strength"]))) / 100.0,
              "dilation": int(s["grow"]), "feather": float(s["feather"])}
    if int(s["iterations"]) > 0:
        wanted["iterations"] = int(s["iterations"])
    if int(s["size"]) > 0:
        wanted["size"] = int(s["size"])
    types = dict((p["name"], p.get("type")) for p in declared)
    out = {}
    for key, value in wanted.items():
        if key in types:
            out[key] = int(value) if types[key] == "int" else value
    return out


def layer_name(req):
    s = req.settings
    parts = ["strength %d%%" % int(s["strength"]), s["quality"]]
    if int(s["iterations"]) > 0:
        parts.append("%d it" % int(s["iterations"]))
    return "%s (%s)" % (METHOD_LABELS[req.method], ", ".join(parts))


# every selected level -> fully selected: the result's own alpha already carries a soft selection's levels
COVERAGE = bytes([0] + [255] * 255)


def compositing_selection(req):
    """The selection the new layer is masked with: where the job's mask is non-zero, grown and feathered
    by Krita.  It bounds the result and softens its edge; soft levels inside come from the result's alpha
    (masking with the soft levels again would square them)."""
    x, y, w, h = req.region
    sel = Selection()
    sel.setPixelData(bytes(req.mask).translate(COVERAGE), x, y, w, h)
    grow, feather = int(req.settings["grow"]), int(req.settings["feather"])
    if grow > 0:
        sel.grow(grow, grow)
    if feather > 0:
        sel.feather(feather)
    return sel


# --- the job -----------------------------------------------------------------------------------------

class Bridge(QtCore.QObject):
    """Signals from the worker thread, delivered on the GUI thread (queued connections)."""
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str, str)
    handshake = Signal(object, str)
    accepted = Signal(object)            # the daemon can take the job: add the preview layer


class Controller(QtCore.QObject):
    """One job at a time, shared by the menu action and the docker."""
    status = Signal(str)                 # a sentence for the status line
    progress = Signal(int, int)          # iteration, total
    preview = Signal(object)             # QImage
    running = Signal(bool)
    daemon_status = Signal(str, bool)    # text, reachable

    def __init__(self):
        QtCore.QObject.__init__(self)
        self.bridge = Bridge()
        self.bridge.progress.connect(self._on_progress)
        self.bridge.finished.connect(self._on_finished)
        self.bridge.failed.connect(self._on_failed)
        self.bridge.handshake.connect(self._on_handshake)
        self.bridge.accepted.connect(self._on_accepted)
        self.job = None
        self.last_preview_paint = 0.0

    # -- helpers
    def say(self, text):
        LAST_RUN["message"] = text
        log(text)
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

    def start_daemon(self):
        settings = load_settings()
        try:
            self.say(start_daemon(endpoint_of(settings), settings["device"]))
        except (UserError, OSError) as exc:
            self.say(str(exc))
            return
        QtCore.QTimer.singleShot(3000, self.check_daemon)

    # -- daemon status (background)
    def check_daemon(self):
        endpoint = endpoint_of(load_settings())
        try:
            client_mod = load_client()
        except UserError as exc:
            self.daemon_status.emit(str(exc), False)
            return
        bridge = self.bridge

        def ask():
            try:
                client = client_mod.Client(endpoint, timeout=5.0)
                try:
                    bridge.handshake.emit(client.handshake(), endpoint)
                finally:
                    client.close()
            except Exception as exc:   # noqa: BLE001 - any failure means "not reachable"
                bridge.handshake.emit(None, "%s" % exc)
        threading.Thread(target=ask, name="painterly-handshake", daemon=True).start()

    def _on_handshake(self, info, detail):
        if info is None:
            self.daemon_status.emit("Daemon not running (%s)" % detail, False)
            return
        self.daemon_status.emit("Daemon %s on %s; devices: %s; zmq: %s" % (
            info.get("version", "?"), detail, ", ".join(info.get("devices") or []) or "?", zmq_origin()), True)

    # -- the job
    def busy(self):
        return self.job is not None

    def start(self, settings=None):
        """Start Harmonize Selection on the active document (GUI thread).  Never raises."""
        try:
            self._start(settings or load_settings())
        except UserError as exc:
            self.error(exc.code, str(exc))
        except Exception:   # noqa: BLE001 - never let Krita show its exception dialog
            text = traceback.format_exc()
            log(text)
            self.error("internal", "Painterly failed unexpectedly: %s" % text.strip().splitlines()[-1])

    def _start(self, settings):
        if self.job is not None:
            raise UserError("busy", "A Painterly job is already running: wait for it or press Cancel.")
        LAST_RUN.clear()
        LAST_RUN.update(state="starting")
        client_mod = load_client()
        doc = Krita.instance().activeDocument()
        req = gather(doc, settings, client_mod)
        endpoint = endpoint_of(settings)
        LAST_RUN.update(mask_max=max(req.mask) if req.mask else 0,
                        mask_soft=len(req.mask.translate(None, b"\x00\xff")) > 0)
        LAST_RUN.update(region=list(req.region), mask_source=req.mask_source, method=req.method,
                        engine_method=req.engine_method, zmq=zmq_origin(), endpoint=endpoint)

        req.layer = None
        req.client_mod, req.endpoint = client_mod, endpoint
        req.cancel = threading.Event()
        self.job = req
        self.running.emit(True)
        self.progress.emit(0, 0)
        self.say("Asking the daemon at %s..." % endpoint)
        # first make sure the daemon takes the job, so a refusal leaves nothing in the undo history
        threading.Thread(target=self._probe, args=(req,), name="painterly-probe", daemon=True).start()

    def _on_accepted(self, req):
        """The daemon can take the job: add the locked preview layer, then send the job (GUI thread)."""
        if req is not self.job:
            return
        if req.cancel.is_set():
            self._on_failed("cancelled", "Cancelled.")
            return
        if not self._document_open(req):
            self._finish()
            LAST_RUN.update(state="failed", code="closed", message="The document was closed.")
            return
        try:
            doc = req.doc
            layer = doc.createNode("Painterly: running %s..." % METHOD_LABELS[req.method], "paintlayer")
            tmask = doc.createTransparencyMask("Painterly mask")
            tmask.setSelection(compositing_selection(req))
            layer.addChildNode(tmask, None)
            req.node.parentNode().addChildNode(layer, req.node)   # the job's one undo step
            layer.setLocked(True)
            doc.setActiveNode(req.node)
            req.layer = layer
        except Exception:   # noqa: BLE001
            self._on_failed("internal", "Painterly could not add its preview layer: %s" % traceback.format_exc())
            return
        self.say("Sending %s of %r (%s) to %s..." % (pixels.fmt_size(req.region), req.node.name(),
                                                  req.mask_source, req.endpoint))
        threading.Thread(target=self._run_job, args=(req,), name="painterly-job", daemon=True).start()

    def cancel(self):
        if self.job is not None:
            self.job.cancel.set()
            self.say("Cancelling...")

    def _probe(self, req):
        """Worker thread: handshake, then check the method, inputs and limits.  Touches nothing of Krita."""
        def check(info):
            endpoint = req.endpoint
            described = dict((m["name"], m) for m in info.get("methods") or [])
            if req.engine_method not in described:
                return ("method_missing", "The daemon at %s has no %r method (it offers %s): update painterly."
                        % (endpoint, req.engine_method, ", ".join(sorted(described))))
            declared_inputs = set(i["name"] for i in described[req.engine_method].get("inputs") or [])
            req.images = dict((k, v) for k, v in req.images.items() if k in declared_inputs)
            limits = info.get("limits") or {}
            total = sum(im.width * im.height for im in req.images.values())
            longest = max(max(im.width, im.height) for im in req.images.values())
            if limits.get("max_side") and longest > limits["max_side"]:
                return ("too_large", "The region is %s, over the daemon's limit of %d px a side: select a "
                        "smaller area or lower the context margin." % (pixels.fmt_size(req.region), limits["max_side"]))
            if limits.get("max_pixels") and total > limits["max_pixels"]:
                return ("too_large", "The region is %s (%d pixels with the style image), over the daemon's "
                        "limit of %d: select a smaller area or lower the context margin."
                        % (pixels.fmt_size(req.region), total, limits["max_pixels"]))
            req.params = method_params(req, described[req.engine_method].get("params") or [])
            return None

        def probe():
            client = req.client_mod.Client(req.endpoint, timeout=3.0)
            try:
                return check(client.handshake())
            finally:
                client.close()
        self._guarded(req, probe, lambda refusal: self.bridge.failed.emit(*refusal) if refusal
                      else self.bridge.accepted.emit(req))

    def _run_job(self, req):
        """Worker thread: submit the job and wait for it, forwarding progress.  Touches nothing of Krita."""
        def run():
            client = req.client_mod.Client(req.endpoint, timeout=30.0)
            try:
                steps = int(req.settings["iterations"])
                # about 20 previews per job; the daemon's default when the preset decides the steps
                every = max(1, steps // 20) if steps > 0 else None
                req.job_id = client.submit(req.engine_method, req.params, req.images, preview_every=every)
                return client.wait(req.job_id, on_progress=self.bridge.progress.emit, cancel_event=req.cancel)
            finally:
                client.close()
        self._guarded(req, run, self.bridge.finished.emit)

    def _guarded(self, req, work, on_success):
        """Run work() and pass its value on; every failure becomes a failed signal with a sentence."""
        client_mod, bridge = req.client_mod, self.bridge
        try:
            value = work()
        except client_mod.JobCancelled:
            bridge.failed.emit("cancelled", "Cancelled.")
        except client_mod.DaemonUnavailable as exc:
            bridge.failed.emit("unavailable", "The painterly daemon is not running at %s (%s)." % (req.endpoint, exc))
        except client_mod.DaemonError as exc:
            code = getattr(exc, "code", "failed")
            bridge.failed.emit(code if code == "too_large" else "job_failed", "The job failed: %s" % exc)
        except Exception:   # noqa: BLE001
            bridge.failed.emit("internal", "Painterly failed unexpectedly: %s" % traceback.format_exc())
        else:
            on_success(value)

    def _on_progress(self, event):
        req = self.job
        if req is None:
            return
        LAST_RUN["progress_events"] = LAST_RUN.get("progress_events", 0) + 1
        self.progress.emit(int(event.iteration), int(event.total))
        if event.stage:
            self.say("%s: %d/%d" % (event.stage, event.iteration, event.total))
        if event.preview is None:
            return
        p = event.preview
        image = QtGui.QImage(bytes(p.data), p.width, p.height, p.width * p.channels,
                             FMT_RGB888 if p.channels == 3 else FMT_RGBA8888).copy()
        self.preview.emit(image)
        now = time.monotonic()
        if now - self.last_preview_paint < PREVIEW_REFRESH_S:
            return
        self.last_preview_paint = now
        try:
            x, y, w, h = req.region
            scaled = image.scaled(w, h, IGNORE_ASPECT, SMOOTH)
            if req.depth == 8:
                data = image_bytes(scaled.convertToFormat(FMT_ARGB32))
            else:
                data = pixels.swap_red_blue(image_bytes(scaled.convertToFormat(FMT_RGBA64)), 16)
            req.layer.setPixelData(data, x, y, w, h)
            req.doc.refreshProjection()
            LAST_RUN["previews_painted"] = LAST_RUN.get("previews_painted", 0) + 1
        except Exception:   # noqa: BLE001 - a preview is never worth an error
            log("preview not shown: %s" % traceback.format_exc())

    def _finish(self):
        req, self.job = self.job, None
        self.running.emit(False)
        return req

    def _document_open(self, req):
        return any(d == req.doc for d in Krita.instance().documents())

    def _on_finished(self, result):
        req = self._finish()
        if not self._document_open(req):
            LAST_RUN.update(state="failed", code="closed", message="The document was closed before the job ended.")
            self.say(LAST_RUN["message"])
            return
        try:
            img = result.image
            if img.channels != 4 or img.depth != req.depth:
                raise UserError("job_failed", "The daemon answered with a %d-channel %d-bit image; expected RGBA "
                                "%d-bit." % (img.channels, img.depth, req.depth))
            data = pixels.swap_red_blue(img.data, img.depth)
            req.layer.setPixelData(data, img.x, img.y, img.width, img.height)
            name = layer_name(req)
            req.layer.setName(name)
            req.layer.setLocked(False)
            req.doc.refreshProjection()
            self.progress.emit(1, 1)
            LAST_RUN.update(state="done", layer=name, params=req.params, meta=result.meta,
                            result_rect=[img.x, img.y, img.width, img.height])
            self.say("Done: added layer %r." % name)
        except UserError as exc:
            self._remove_layer(req)
            self.error(exc.code, str(exc))
        except Exception:   # noqa: BLE001
            self._remove_layer(req)
            self.error("internal", "Painterly could not place the result: %s" % traceback.format_exc())

    def _on_failed(self, code, message):
        req = self._finish()
        self._remove_layer(req)
        self.progress.emit(0, 1)
        if code == "cancelled":
            LAST_RUN.update(state="cancelled", code=code, message=message)
            self.say("Cancelled: the preview layer was removed.")
            return
        if code == "unavailable":
            message += " Start it with: painterly daemon"
        self.error(code, message, offer_start=(code == "unavailable"))

    def _remove_layer(self, req):
        if req is None or getattr(req, "layer", None) is None or not self._document_open(req):
            return
        try:
            req.layer.setLocked(False)
            req.layer.remove()
            req.doc.refreshProjection()
        except Exception:   # noqa: BLE001 - the document may have been closed meanwhile
            log("could not remove the preview layer: %s" % traceback.format_exc())


_CONTROLLER = []


def controller():
    if not _CONTROLLER:
        _CONTROLLER.append(Controller())
    return _CONTROLLER[0]

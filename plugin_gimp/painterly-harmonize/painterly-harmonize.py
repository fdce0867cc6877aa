#!/usr/bin/env python3
"""Painterly for GIMP 3: harmonize a pasted object with a painting, stylize, photo style transfer.

Procedures (image procedures, menu Filters > Artistic):
  plug-in-painterly-harmonize  "Harmonize Selection..."   methods harmonize | masked
  plug-in-painterly-stylize    "Painterly Stylize..."      methods masked | global
  plug-in-painterly-photo      "Photo Style Transfer..."   method photo

The plug-in is app glue only: it reads the drawable's pixels in the needed region, the selection (or
the layer's alpha) as the mask and the chosen style layer, sends them to the Painterly daemon through the
bundled client (painterly_client), and puts the result in a NEW layer above the drawable, in one undo
group.  The original layers are never written.  All image computation happens in the daemon.

Installed by ``python install.py`` as <GIMP profile>/plug-ins/painterly-harmonize/ with the
painterly_client package next to this file (and vendor/ with pyzmq + msgpack when GIMP's Python lacks them).
"""
import json
import os
import subprocess
import sys
import threading
import time
import traceback

import gi
gi.require_version('Gimp', '3.0')
gi.require_version('Gegl', '0.4')
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
VENDOR = os.path.join(HERE, "vendor")
SETTINGS_FILE = os.path.join(HERE, "painterly_settings.json")   # written by the installer
WATCHER = os.path.join(HERE, "painterly_cancel_watch.py")
sys.path.insert(0, HERE)


def _import_client():
    """painterly_client with GIMP's own pyzmq/msgpack, else the vendored copies."""
    try:
        import zmq  # noqa: F401
        import msgpack  # noqa: F401
    except ImportError:
        if os.path.isdir(VENDOR):
            sys.path.insert(1, VENDOR)
            for name in [m for m in sys.modules if m == "zmq" or m.startswith(("zmq.", "msgpack"))]:
                del sys.modules[name]   # forget a half-imported system copy
    try:
        import painterly_client
    except ImportError as exc:
        raise PlugInError("GIMP's Python cannot load the Painterly client (%s). Reinstall the plug-in with "
                          "'python install.py --gimp-vendor always --gimp-python-version 3.X' (GIMP's Python "
                          "version) to bundle pyzmq and msgpack." % exc)
    return painterly_client


# What each procedure offers: (menu label, methods the user may choose, name suffix of the new layer).
PROCEDURES = {
    "plug-in-painterly-harmonize": {
        "label": "Harmonize Selection...", "methods": ("harmonize", "masked"), "suffix": "harmonized",
        "verb": "harmonizing", "ok": "Harmoni_ze",
        "blurb": "Harmonize the selected (pasted) object with the painting around it",
        "needs_mask": True},
    "plug-in-painterly-stylize": {
        "label": "Painterly Stylize...", "methods": ("masked", "global"), "suffix": "stylized",
        "verb": "stylizing", "ok": "St_ylize",
        "blurb": "Restyle the selection (or the whole layer) like a painting layer",
        "needs_mask": False},
    "plug-in-painterly-photo": {
        "label": "Photo Style Transfer...", "methods": ("photo",), "suffix": "photo style",
        "verb": "transferring the style", "ok": "_Apply",
        "blurb": "Photorealistic style transfer from another photo layer",
        "needs_mask": False},
}
METHOD_LABELS = {"harmonize": "Deep painterly harmonization", "masked": "Local style transfer (masked)",
                 "global": "Global style transfer", "photo": "Photorealistic style transfer"}
QUALITIES = (("preview", "Preview (fast)"), ("final", "Final (slow)"))
DIALOG_ARGS = ["method", "style-layer", "sample-merged", "strength", "quality", "endpoint"]
MAX_CONTEXT = 4096
AUTO_CONTEXT = -1
# Inputs that must cover the same canvas rectangle as the base input (the engine says "same size").
SAME_REGION_INPUTS = {"harmonize": ("style",), "photo": ("content_seg",)}
CONNECT_TIMEOUT = float(os.environ.get("PAINTERLY_CONNECT_TIMEOUT") or 10.0)


class PlugInError(Exception):
    """A problem the user can fix: shown as a message, the procedure fails, no traceback."""


def log(msg):
    sys.stderr.write("painterly-harmonize: %s\n" % msg)
    sys.stderr.flush()


# --- pixels in and out -------------------------------------------------------------------------------

def pixel_format(image):
    """Babl format and depth for exchanging pixels.  The primes mean gamma-encoded (sRGB) values, as the
    engine expects; "RGBA u8" would be linear light.  Images above 8 bits go as 16-bit."""
    precision = image.get_precision()
    if precision in (Gimp.Precision.U8_LINEAR, Gimp.Precision.U8_NON_LINEAR, Gimp.Precision.U8_PERCEPTUAL):
        return "R'G'B'A u8", 8
    return "R'G'B'A u16", 16


def wire_order(data, fmt):
    """Babl's u16 is the machine's byte order; the protocol's 16-bit samples are little-endian."""
    if sys.byteorder == "big" and fmt.endswith("u16"):
        import array
        samples = array.array("H", data)
        samples.byteswap()
        return samples.tobytes()
    return data


def read_pixels(drawable, x, y, w, h, fmt):
    """Bytes of the drawable's (layer-local) rectangle in the Babl format ``fmt``, protocol byte order."""
    rect = Gegl.Rectangle.new(x, y, w, h)
    return wire_order(bytes(drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.NONE)), fmt)


def read_selection(image, x, y, w, h):
    """8-bit selection mask of an image-coordinate rectangle."""
    rect = Gegl.Rectangle.new(x, y, w, h)
    return bytes(image.get_selection().get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.NONE))


def read_alpha(drawable, x, y, w, h):
    """8-bit alpha of the drawable's (layer-local) rectangle."""
    return read_pixels(drawable, x, y, w, h, "Y'A u8")[1::2]


def nonzero_bounds(mask, w, h):
    """(x, y, w, h) of the non-zero bytes of a w*h mask, or None when it is all zero."""
    rows = [r for r in range(h) if mask[r * w:(r + 1) * w].strip(b"\0")]
    if not rows:
        return None
    left, right = w, 0
    for r in rows:
        row = mask[r * w:(r + 1) * w]
        left = min(left, len(row) - len(row.lstrip(b"\0")))
        right = max(right, len(row.rstrip(b"\0")))
    return left, rows[0], right - left, rows[-1] - rows[0] + 1


def grow(bounds, margin, width, height):
    """``bounds`` grown by ``margin`` px on each side (AUTO_CONTEXT: half the object's longest side plus
    room for the engine's dilation and feathering), clipped to width x height."""
    x, y, w, h = bounds
    if margin == AUTO_CONTEXT:
        margin = max(w, h) // 2 + 32
    x0, y0 = max(0, x - margin), max(0, y - margin)
    x1, y1 = min(width, x + w + margin), min(height, y + h + margin)
    return x0, y0, x1 - x0, y1 - y0


# --- what to send ------------------------------------------------------------------------------------

class Request(object):
    """The region, mask and images gathered from GIMP for one job."""

    def __init__(self):
        self.region = None         # (x, y, w, h) in the drawable's coordinates
        self.mask = None           # bytes w*h, or None for "the whole region"
        self.from_selection = False


def gather_region(image, drawable, needs_mask, context):
    """Region to send (drawable coordinates) and its mask, from the selection or the drawable's alpha."""
    req = Request()
    dw, dh = drawable.get_width(), drawable.get_height()
    ox, oy = drawable.get_offsets()[1:]
    if not Gimp.Selection.is_empty(image):
        non_empty, sx, sy, sw, sh = drawable.mask_intersect()
        if not non_empty or sw <= 0 or sh <= 0:
            raise PlugInError("The selection does not cover any pixel of the layer '%s'. Select the area to "
                              "process on this layer, or pick another layer." % drawable.get_name())
        region = grow((sx, sy, sw, sh), context, dw, dh)
        mask = read_selection(image, ox + region[0], oy + region[1], region[2], region[3])
        if not mask.strip(b"\0"):
            raise PlugInError("The selection is empty on the layer '%s' (it is fully transparent there)."
                              % drawable.get_name())
        req.region, req.mask, req.from_selection = region, mask, True
        return req
    if needs_mask:
        if not drawable.has_alpha():
            raise PlugInError("Nothing tells which part to harmonize: there is no selection and the layer '%s' "
                              "has no transparency. Select the pasted object (or paste it as a layer with "
                              "transparency around it) and try again." % drawable.get_name())
        alpha = read_alpha(drawable, 0, 0, dw, dh)
        bounds = nonzero_bounds(alpha, dw, dh)
        if bounds is None:
            raise PlugInError("The layer '%s' is fully transparent: nothing to harmonize." % drawable.get_name())
        if alpha.count(b"\xff") == len(alpha):
            raise PlugInError("Nothing tells which part to harmonize: there is no selection and the layer '%s' "
                              "is fully opaque. Select the pasted object and try again." % drawable.get_name())
        region = grow(bounds, context, dw, dh)
        x, y, w, h = region
        req.region = region
        req.mask = b"".join(alpha[(y + r) * dw + x:(y + r) * dw + x + w] for r in range(h))
        return req
    req.region = (0, 0, dw, dh)     # no selection: the whole layer
    return req


def buffer_of(client_mod, drawable, region, fmt, depth):
    """ImageBuffer of the drawable's (layer-local) rectangle, placed at its canvas position."""
    x, y, w, h = region
    data = read_pixels(drawable, x, y, w, h, fmt)
    ox, oy = drawable.get_offsets()[1:]
    return client_mod.ImageBuffer(w, h, 4, depth, data, x=ox + x, y=oy + y)


def buffer_at(client_mod, layer, like, fmt, depth):
    """ImageBuffer of ``layer`` over the same canvas rectangle as the buffer ``like`` (transparent where
    the layer does not reach)."""
    ox, oy = layer.get_offsets()[1:]
    return client_mod.ImageBuffer(like.width, like.height, 4, depth,
                                  read_pixels(layer, like.x - ox, like.y - oy, like.width, like.height, fmt),
                                  x=like.x, y=like.y)


def visible_buffer(client_mod, image, like, fmt, depth):
    """What is visible (all layers merged, as GIMP composites them) over the canvas rectangle of ``like``:
    the composite to harmonize when the object was pasted as its own layer."""
    visible = Gimp.Layer.new_from_visible(image, image, "painterly visible")
    try:
        return buffer_at(client_mod, visible, like, fmt, depth)
    finally:
        visible.delete()            # never added to the image: no undo step, nothing left behind


def build_images(client_mod, method_info, req, image, drawable, style_layer, seg_layers, fmt, depth,
                 harmonizing=False, sample_merged=False):
    """The method's inputs, named as the engine declares them (from the daemon's handshake)."""
    same_region = SAME_REGION_INPUTS.get(method_info["name"], ())
    names = [i["name"] for i in method_info["inputs"]]
    required = set(i["name"] for i in method_info["inputs"] if i.get("required", True))
    base = names[0] if names else "content"
    base = "composite" if "composite" in names else ("content" if "content" in names else base)
    images = {base: buffer_of(client_mod, drawable, req.region, fmt, depth)}
    if sample_merged:
        images[base] = visible_buffer(client_mod, image, images[base], fmt, depth)
    x, y, w, h = req.region
    if "mask" in names and req.mask is not None:
        images["mask"] = client_mod.ImageBuffer(w, h, 1, 8, req.mask, x=images[base].x, y=images[base].y)
    elif "mask" in required:
        images["mask"] = client_mod.ImageBuffer(w, h, 1, 8, b"\xff" * (w * h), x=images[base].x,
                                                y=images[base].y)
    if "style" in names:
        if style_layer is not None and "style" in same_region:
            images["style"] = buffer_at(client_mod, style_layer, images[base], fmt, depth)
        elif style_layer is not None:
            whole = (0, 0, style_layer.get_width(), style_layer.get_height())
            images["style"] = buffer_of(client_mod, style_layer, whole, fmt, depth)
        elif "style" in required and harmonizing:
            # Harmonize: the painting is the layer the object was pasted into.
            images["style"] = buffer_of(client_mod, drawable, (0, 0, drawable.get_width(), drawable.get_height()),
                                        fmt, depth)
            if sample_merged:
                images["style"] = visible_buffer(client_mod, image, images["style"], fmt, depth)
        elif "style" in required:
            raise PlugInError("Choose the style source: the layer holding the painting (or photo) whose style "
                              "should be used.")
    for name, layer in seg_layers.items():
        if name not in names:
            continue
        source_layer = drawable if name == "content_seg" else style_layer
        if layer is not None and name in same_region:
            images[name] = buffer_at(client_mod, layer, images[base], fmt, depth)
        elif layer is not None:
            images[name] = buffer_of(client_mod, layer, (0, 0, layer.get_width(), layer.get_height()), fmt, depth)
        elif name in required and source_layer is not None:
            # No segmentation given: one label covering everything (plain white).
            sw, sh = (w, h) if name == "content_seg" else (source_layer.get_width(), source_layer.get_height())
            images[name] = client_mod.ImageBuffer(sw, sh, 3, 8, b"\xff" * (sw * sh * 3))
    return images


def build_params(method_info, config):
    """Parameters the method declares, from the procedure's arguments (+ the free-form JSON)."""
    declared = set(p["name"] for p in method_info.get("params", []))
    params = {}
    if "quality" in declared:
        params["quality"] = config.get_property("quality")
    if "strength" in declared:
        params["strength"] = float(config.get_property("strength"))
    extra = (config.get_property("params-json") or "").strip()
    if extra:
        try:
            more = json.loads(extra)
        except ValueError as exc:
            raise PlugInError("The extra parameters are not valid JSON (%s): %s" % (exc, extra))
        if not isinstance(more, dict):
            raise PlugInError("The extra parameters must be a JSON object like {\"iterations\": 100}.")
        params.update(more)
    return params


# --- the daemon --------------------------------------------------------------------------------------

def resolve_endpoint(config, client_mod):
    return (config.get_property("endpoint") or "").strip() or os.environ.get("PAINTERLY_ENDPOINT") \
        or client_mod.DEFAULT_ENDPOINT


def load_settings():
    try:
        with open(SETTINGS_FILE) as f:
            return json.load(f)
    except (IOError, OSError, ValueError):
        return {}


def offer_to_start_daemon(endpoint, reason):
    """Interactive only: ask whether to start the daemon; True once it answers."""
    command = load_settings().get("daemon_command")
    if not command:
        return False
    gi.require_version('Gtk', '3.0')
    from gi.repository import Gtk
    dialog = Gtk.MessageDialog(message_type=Gtk.MessageType.QUESTION, buttons=Gtk.ButtonsType.YES_NO,
                               text="The Painterly daemon is not running")
    dialog.format_secondary_text("%s\n\nStart it now at %s?" % (reason, endpoint))
    answer = dialog.run()
    dialog.destroy()
    if answer != Gtk.ResponseType.YES:
        return False
    try:
        subprocess.Popen(list(command) + ["--endpoint", endpoint], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        raise PlugInError("Could not start the Painterly daemon (%s): %s" % (" ".join(command), exc))
    Gimp.progress_init("Starting the Painterly daemon...")
    return True


def connect(client_mod, endpoint, interactive):
    """A Client and the daemon's handshake; offers to start the daemon when it is down (interactive)."""
    client = client_mod.Client(endpoint, timeout=CONNECT_TIMEOUT)
    try:
        return client, client.handshake()
    except client_mod.DaemonUnavailable as exc:
        client.close()
        if not (interactive and offer_to_start_daemon(endpoint, str(exc))):
            raise PlugInError("%s Start it with 'painterly daemon' and run the filter again." % exc
                              if "painterly daemon" not in str(exc) else str(exc))
    deadline = time.monotonic() + 120     # a fresh daemon imports torch and loads the weights
    last = None
    while time.monotonic() < deadline:
        client = client_mod.Client(endpoint, timeout=3.0)
        try:
            info = client.handshake()
            client.timeout = CONNECT_TIMEOUT
            return client, info
        except client_mod.DaemonUnavailable as exc:
            last = exc
            client.close()
            Gimp.progress_pulse()
    raise PlugInError("The Painterly daemon did not start within 2 minutes: %s" % last)


def start_cancel_watcher(endpoint, job_id):
    """GIMP's Cancel button on the progress bar ends the plug-in process; this small helper process then
    cancels the daemon's job, so nothing keeps computing for nobody.  Told 'done' when we finish."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, VENDOR if VENDOR in sys.path else None,
                                                    env.get("PYTHONPATH")) if p)
    try:
        return subprocess.Popen([sys.executable, WATCHER, endpoint, job_id], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, env=env, start_new_session=True)
    except OSError as exc:
        log("cancel watcher not started: %s" % exc)
        return None


def stop_cancel_watcher(watcher):
    if watcher is None:
        return
    try:
        watcher.stdin.write(b"done\n")
        watcher.stdin.close()
        watcher.wait(5)
    except Exception as exc:  # the watcher only matters when we die; never fail the filter for it
        log("cancel watcher: %s" % exc)


class Progress(object):
    """Daemon progress events -> GIMP's progress bar."""

    def __init__(self, verb):
        self.verb = verb
        Gimp.progress_init("Painterly: %s..." % verb)

    def __call__(self, event):
        total = max(1, int(event.total or 0))
        Gimp.progress_update(min(1.0, float(event.iteration) / total))
        stage = (" (%s)" % event.stage) if event.stage else ""
        Gimp.progress_set_text("Painterly: %s%s %d/%d" % (self.verb, stage, event.iteration, total))


def run_job(client_mod, client, endpoint, method, params, images, verb):
    progress = Progress(verb)
    job_id = client.submit(method, params, images)
    watcher = start_cancel_watcher(endpoint, job_id)
    cancel = threading.Event()
    try:
        return client.wait(job_id, on_progress=progress, cancel_event=cancel)
    finally:
        stop_cancel_watcher(watcher)
        Gimp.progress_end()


# --- the result --------------------------------------------------------------------------------------

def insert_result(image, drawable, result, fmt, name, selection_mask):
    """The result as a new layer right above ``drawable``, in one undo group; the drawable is untouched."""
    res = result.image
    layer_type = (Gimp.ImageType.GRAYA_IMAGE if image.get_base_type() == Gimp.ImageBaseType.GRAY
                  else Gimp.ImageType.RGBA_IMAGE)
    image.undo_group_start()
    try:
        layer = Gimp.Layer.new(image, name, res.width, res.height, layer_type, 100.0, Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, drawable.get_parent(), image.get_item_position(drawable))
        layer.set_offsets(res.x, res.y)
        buf = layer.get_buffer()
        buf.set(Gegl.Rectangle.new(0, 0, res.width, res.height), fmt, wire_order(bytes(res.data), fmt))
        buf.flush()
        if selection_mask:
            # The method ignores the selection (global): the layer mask limits the result to it.
            layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
        layer.update(0, 0, res.width, res.height)
    finally:
        image.undo_group_end()
    Gimp.displays_flush()
    return layer


# --- the procedure -----------------------------------------------------------------------------------

def show_dialog(procedure, config, spec):
    gi.require_version('GimpUi', '3.0')
    from gi.repository import GimpUi
    GimpUi.init("painterly-harmonize")
    dialog = GimpUi.ProcedureDialog.new(procedure, config, "Painterly: " + spec["label"].rstrip("."))
    dialog.set_ok_label(spec["ok"])
    dialog.get_scale_entry("strength", 1.0)      # a slider rather than a bare spin button
    names = list(DIALOG_ARGS)
    if procedure.get_name() == "plug-in-painterly-photo":
        names[2:2] = ["content-seg-layer", "style-seg-layer"]
    dialog.fill(names)
    ok = dialog.run()
    dialog.destroy()
    return ok


def run(procedure, run_mode, image, drawables, config, data):
    name = procedure.get_name()
    spec = PROCEDURES[name]
    interactive = run_mode == Gimp.RunMode.INTERACTIVE
    try:
        if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer):
            raise PlugInError("Select exactly one layer (got %d drawables)." % len(drawables))
        drawable = drawables[0]
        if interactive and not show_dialog(procedure, config, spec):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        method = config.get_property("method")
        if method not in spec["methods"]:
            raise PlugInError("Method %r is not offered here; choose one of %s." % (method, ", ".join(spec["methods"])))
        style_layer = config.get_property("style-layer")
        seg_layers = {}
        if name == "plug-in-painterly-photo":
            seg_layers = {"content_seg": config.get_property("content-seg-layer"),
                          "style_seg": config.get_property("style-seg-layer")}

        client_mod = _import_client()
        endpoint = resolve_endpoint(config, client_mod)
        client, info = connect(client_mod, endpoint, interactive)
        try:
            methods = dict((m["name"], m) for m in info.get("methods", []))
            if method not in methods:
                raise PlugInError("The Painterly daemon at %s does not offer the method '%s' (it has: %s). "
                                  "Update Painterly." % (endpoint, method, ", ".join(sorted(methods)) or "none"))
            method_info = methods[method]
            input_names = [i["name"] for i in method_info["inputs"]]
            req = gather_region(image, drawable, spec["needs_mask"], config.get_property("context"))
            fmt, depth = pixel_format(image)
            images = build_images(client_mod, method_info, req, image, drawable, style_layer, seg_layers,
                                  fmt, depth, harmonizing=spec["needs_mask"],
                                  sample_merged=config.get_property("sample-merged"))
            check_size(images, info.get("limits") or {})
            params = build_params(method_info, config)
            result = run_job(client_mod, client, endpoint, method, params, images, spec["verb"])
        finally:
            client.close()
        layer = insert_result(image, drawable, result, fmt,
                              "%s %s" % (drawable.get_name(), spec["suffix"]),
                              req.from_selection and "mask" not in input_names)
    except Exception as exc:
        message = described(exc)
        if not isinstance(exc, PlugInError) and not _is_daemon_error(exc):
            log(traceback.format_exc())
        cancelled = type(exc).__name__ == "JobCancelled"
        if run_mode == Gimp.RunMode.NONINTERACTIVE and not cancelled:
            # From the menu (interactive, repeat) GIMP itself shows the returned error once, as
            # "Execution error for ...": a second message box would only repeat it.
            Gimp.message("Painterly: " + message)
        status = Gimp.PDBStatusType.CANCEL if cancelled else Gimp.PDBStatusType.EXECUTION_ERROR
        return procedure.new_return_values(status, GLib.Error(message))

    retval = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    retval.remove(1)
    retval.insert(1, GObject.Value(Gimp.Layer, layer))
    return retval


def _is_daemon_error(exc):
    return any(cls.__name__ == "DaemonError" for cls in type(exc).__mro__)


def described(exc):
    if isinstance(exc, PlugInError) or _is_daemon_error(exc):
        return str(exc)
    return "unexpected error (%s: %s); details are in GIMP's error console." % (type(exc).__name__, exc)


def check_size(images, limits):
    max_pixels = limits.get("max_pixels")
    total = sum(im.width * im.height for im in images.values())
    if max_pixels and total > max_pixels:
        base = max(images.values(), key=lambda im: im.width * im.height)
        raise PlugInError("Too large: the images to send hold {:,} pixels (largest {}x{}), the daemon accepts "
                          "at most {:,}. Select a smaller area or scale the style layer down."
                          .format(total, base.width, base.height, max_pixels))
    max_bytes = limits.get("max_message_bytes")
    nbytes = sum(im.nbytes for im in images.values())
    if max_bytes and nbytes > max_bytes:
        raise PlugInError("Too large: %d MB of pixels to send, the daemon accepts %d MB. Select a smaller area."
                          % (nbytes >> 20, max_bytes >> 20))


class PainterlyHarmonize(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False

    def do_query_procedures(self):
        return list(PROCEDURES)

    def do_create_procedure(self, name):
        spec = PROCEDURES[name]
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label(spec["label"])
        procedure.add_menu_path("<Image>/Filters/Artistic")
        procedure.set_documentation(
            spec["blurb"],
            "Sends the layer's pixels in the selection's neighbourhood (the selection, or else the layer's "
            "transparency, is the mask) and the style layer to the local Painterly daemon, and adds the "
            "result as a new layer above. The original layers are not modified. Needs 'painterly daemon'.",
            name)
        procedure.set_attribution("Painterly", "Painterly", "2026")

        methods = Gimp.Choice.new()
        for i, method in enumerate(spec["methods"]):
            methods.add(method, i, METHOD_LABELS[method], "")
        procedure.add_choice_argument("method", "_Method", "Engine method", methods, spec["methods"][0],
                                      GObject.ParamFlags.READWRITE)
        procedure.add_layer_argument("style-layer", "Style so_urce",
                                     "Layer holding the painting whose style to use (harmonize: optional, "
                                     "default = the layer itself around the selection)",
                                     True, GObject.ParamFlags.READWRITE)
        if name == "plug-in-painterly-photo":
            procedure.add_layer_argument("content-seg-layer", "_Content segmentation",
                                         "Colour-labelled segmentation of the content (optional)",
                                         True, GObject.ParamFlags.READWRITE)
            procedure.add_layer_argument("style-seg-layer", "S_tyle segmentation",
                                         "Colour-labelled segmentation of the style layer (optional)",
                                         True, GObject.ParamFlags.READWRITE)
        procedure.add_boolean_argument("sample-merged", "Sample m_erged",
                                       "Send what is visible (all layers) as the picture to work on, e.g. an "
                                       "object pasted as its own layer over the painting",
                                       spec["needs_mask"], GObject.ParamFlags.READWRITE)
        procedure.add_double_argument("strength", "Stren_gth", "How strongly the style is applied (0..1)",
                                      0.0, 1.0, 0.5, GObject.ParamFlags.READWRITE)
        qualities = Gimp.Choice.new()
        for i, (nick, label) in enumerate(QUALITIES):
            qualities.add(nick, i, label, "")
        procedure.add_choice_argument("quality", "_Quality", "Quality preset", qualities, "final",
                                      GObject.ParamFlags.READWRITE)
        procedure.add_string_argument("endpoint", "_Daemon address",
                                      "Painterly daemon endpoint (empty: $PAINTERLY_ENDPOINT, else your "
                                      "own daemon's socket)", "", GObject.ParamFlags.READWRITE)
        procedure.add_int_argument("context", "Conte_xt",
                                   "Pixels of surroundings sent around the selection (-1 = automatic)",
                                   AUTO_CONTEXT, MAX_CONTEXT, AUTO_CONTEXT, GObject.ParamFlags.READWRITE)
        procedure.add_string_argument("params-json", "Extra parameters",
                                      "Further engine parameters as a JSON object, e.g. {\"iterations\": 100}",
                                      "", GObject.ParamFlags.READWRITE)
        procedure.add_layer_return_value("new-layer", "New layer", "The layer holding the result",
                                         False, GObject.ParamFlags.READWRITE)
        return procedure


if __name__ == "__main__":
    Gimp.main(PainterlyHarmonize.__gtype__, sys.argv)

# GIMP batch driver for the Painterly plug-in's end-to-end tests (tests/plugins/test_gimp_plugin.py).
# Runs inside real GIMP 3 as
#   GIMP3_DIRECTORY=<profile> gimp-console-3.0 -i --batch-interpreter python-fu-eval -b - --quit < this
# with PAINTERLY_GIMP_DRIVER=<config.json>:
#   {"result": "result.json", "scenarios": [{"name", "input": PNG, "canvas": [w, h, dx, dy] | null,
#     "precision": "u8" | "u16", "flatten": bool, "selection": [x, y, w, h] | null,
#     "small_layer": [w, h, x, y] | null, "object_layer": [PNG, x, y] | null, "style_is_painting": bool,
#     "resize_layer": bool, "grayscale": bool, "procedure", "args": {...}, "dump": prefix}, ...],
#    "procedures": [name, ...]}
# For each of "procedures" the result says whether GIMP registered it, and its arguments (names, types,
# choices) and menu entry.
# Each scenario opens the PNG, prepares the image, runs the procedure NON-INTERACTIVELY and records what
# happened; the raw pixels of the original layer (before/after) and of the new layer go to <dump>.*.raw.
# gimp-console exits 0 whatever the script does: the test reads result.json.  Never sys.exit() here.
import json
import os
import sys
import traceback

import gi
gi.require_version('Gimp', '3.0')
gi.require_version('Gegl', '0.4')
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

FORMATS = {"u8": "R'G'B'A u8", "u16": "R'G'B'A u16"}


def pixels(drawable, fmt):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.NONE))


def geometry(layer):
    _, x, y = layer.get_offsets()
    return {"name": layer.get_name(), "x": x, "y": y, "width": layer.get_width(),
            "height": layer.get_height(), "has_mask": layer.get_mask() is not None}


def scenario(sc):
    out = {"name": sc["name"]}
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(sc["input"]))
    layer = image.get_layers()[0]
    if sc.get("canvas"):
        w, h, dx, dy = sc["canvas"]
        image.resize(w, h, dx, dy)            # moves the layer: offsets (dx, dy)
        if sc.get("resize_layer"):
            layer.resize_to_image_size()
    if sc.get("grayscale"):
        image.convert_grayscale()
    if sc.get("precision") == "u16":
        image.convert_precision(Gimp.Precision.U16_NON_LINEAR)
    if sc.get("flatten") and layer.has_alpha():
        layer.flatten()                        # no alpha channel
    if sc.get("small_layer"):
        w, h, x, y = sc["small_layer"]
        small = Gimp.Layer.new(image, "Small", w, h, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
        image.insert_layer(small, None, 0)
        small.set_offsets(x, y)
        small.fill(Gimp.FillType.WHITE)
        layer = small
    painting = image.get_layers()[-1]
    if sc.get("object_layer"):                 # a pasted object: a layer with transparency around it
        png, x, y = sc["object_layer"]
        obj = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(png))
        obj.set_name("Object")
        image.insert_layer(obj, None, 0)
        obj.set_offsets(x, y)
        layer = obj
    image.set_selected_layers([layer])
    if sc.get("selection"):
        x, y, w, h = sc["selection"]
        image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
    else:
        Gimp.Selection.none(image)
    fmt = FORMATS[sc.get("precision", "u8")]
    before = pixels(layer, fmt)
    layers_before = [lay.get_name() for lay in image.get_layers()]
    ids_before = {lay.get_id() for lay in image.get_layers()}
    out["original"] = geometry(layer)
    out["canvas"] = [image.get_width(), image.get_height()]

    proc = Gimp.get_pdb().lookup_procedure(sc["procedure"])
    if proc is None:
        raise RuntimeError("procedure %s not found: plug-in not installed or failed to register"
                           % sc["procedure"])
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", [layer])
    for key, value in sc.get("args", {}).items():
        cfg.set_property(key, value)
    if sc.get("style_is_painting"):
        cfg.set_property("style-layer", painting)
    result = proc.run(cfg)
    status = result.index(0)
    out["status"] = status.value_nick
    out["message"] = result.index(1) if status != Gimp.PDBStatusType.SUCCESS and result.length() > 1 else ""
    after = pixels(layer, fmt)
    out["original_unchanged"] = before == after
    out["undo_enabled"] = image.undo_is_enabled()
    out["layers_before"] = layers_before
    out["layers_after"] = [lay.get_name() for lay in image.get_layers()]
    added = [lay for lay in image.get_layers() if lay.get_id() not in ids_before]
    out["added"] = [lay.get_name() for lay in added]
    if status == Gimp.PDBStatusType.SUCCESS:
        new = result.index(1)
        out["new_layer"] = geometry(new)
        out["new_is_added"] = [lay.get_id() for lay in added] == [new.get_id()]
        out["new_above_original"] = (image.get_item_position(new) + 1 == image.get_item_position(layer))
        if sc.get("dump"):
            with open(sc["dump"] + ".before.raw", "wb") as f:
                f.write(before)
            with open(sc["dump"] + ".new.raw", "wb") as f:
                f.write(pixels(new, fmt))
    image.delete()
    return out


def describe_procedure(name):
    proc = Gimp.get_pdb().lookup_procedure(name)
    if proc is None:
        return None
    args = proc.get_arguments()
    choices = {}
    for spec in args:
        if type(spec).__name__ == "ParamChoice" or "Choice" in type(spec).__name__:
            choices[spec.get_name()] = list(Gimp.param_spec_choice_get_choice(spec).list_nicks())
    return {"names": [spec.get_name() for spec in args],
            "types": {spec.get_name(): type(spec).__name__ for spec in args}, "choices": choices,
            "menu_label": proc.get_menu_label(), "menu_paths": list(proc.get_menu_paths())}


def main():
    with open(os.environ["PAINTERLY_GIMP_DRIVER"]) as f:
        cfg = json.load(f)
    res = {"status": "error", "gimp_version": Gimp.version(), "python": sys.version.split()[0],
           "scenarios": []}
    try:
        try:
            import zmq  # noqa: F401
            res["driver_has_zmq"] = True
        except ImportError:
            res["driver_has_zmq"] = False
        res["procedures"] = {name: describe_procedure(name) for name in cfg.get("procedures", [])}
        for sc in cfg["scenarios"]:
            res["scenarios"].append(scenario(sc))
        res["status"] = "ok"
    except Exception:
        res["error"] = traceback.format_exc()
        sys.stderr.write(res["error"])
    with open(cfg["result"] + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.rename(cfg["result"] + ".tmp", cfg["result"])
    print("painterly gimp driver: %s" % res["status"], flush=True)


main()

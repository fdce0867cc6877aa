# GIMP (GUI, under Xvfb) batch script for the undo and dialog tests (run by gimp_gui_check.sh):
#  1. opens the image in a display, selects a rectangle, runs the Painterly procedure NON-INTERACTIVELY;
#  2. asks (marker file DIR/ready-for-undo) for ONE Ctrl+Z to be typed into the image window, and records
#     what that single undo step took back (result file);
#  3. runs the procedure INTERACTIVELY, so its dialog opens for the screenshot (the run is then ended).
# PAINTERLY_GIMP_GUI=<config.json>: {"input", "selection", "procedure", "args", "dir", "result"}.
import json
import os
import time
import traceback

import gi
gi.require_version('Gimp', '3.0')
gi.require_version('Gegl', '0.4')
from gi.repository import Gegl, Gimp, Gio  # noqa: E402


def pixels(drawable):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.NONE))


def names(image):
    return [lay.get_name() for lay in image.get_layers()]


with open(os.environ["PAINTERLY_GIMP_GUI"]) as f:
    cfg = json.load(f)
res = {"status": "error"}
try:
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(cfg["input"]))
    layer = image.get_layers()[0]
    Gimp.Display.new(image)
    x, y, w, h = cfg["selection"]
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
    before = pixels(layer)
    proc = Gimp.get_pdb().lookup_procedure(cfg["procedure"])
    pcfg = proc.create_config()
    pcfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    pcfg.set_property("image", image)
    pcfg.set_core_object_array("drawables", [layer])
    for key, value in cfg["args"].items():
        pcfg.set_property(key, value)
    result = proc.run(pcfg)
    res["run_status"] = result.index(0).value_nick
    res["layers_after_run"] = names(image)
    Gimp.displays_flush()
    open(os.path.join(cfg["dir"], "ready-for-undo"), "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(cfg["dir"], "undo-sent")) and time.monotonic() < deadline:
        time.sleep(0.1)
    deadline = time.monotonic() + 15
    while len(image.get_layers()) == len(res["layers_after_run"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)                        # a second undo step, if any, would show up meanwhile
    res["layers_after_undo"] = names(image)
    res["selection_kept"] = not Gimp.Selection.is_empty(image)
    res["original_unchanged"] = pixels(image.get_layers()[-1]) == before
    res["status"] = "ok"
except Exception:
    res["error"] = traceback.format_exc()
with open(cfg["result"] + ".tmp", "w") as f:
    json.dump(res, f, indent=1)
os.rename(cfg["result"] + ".tmp", cfg["result"])
print("painterly gui driver: undo check %s" % res["status"], flush=True)
if res["status"] == "ok":
    pcfg = proc.create_config()
    pcfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    pcfg.set_property("image", image)
    pcfg.set_core_object_array("drawables", [layer])
    proc.run(pcfg)                         # the dialog stays open until the run is ended

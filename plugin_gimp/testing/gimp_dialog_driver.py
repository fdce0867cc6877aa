# GIMP (GUI) batch script for the dialog screenshot: opens the image in a display, selects a rectangle and
# runs the Painterly procedure INTERACTIVELY, so its dialog opens (and stays open: the test takes the
# screenshot, then ends the run).  PAINTERLY_GIMP_DIALOG=<config.json>: {"input", "selection", "procedure"}.
import json
import os

import gi
gi.require_version('Gimp', '3.0')
from gi.repository import Gimp, Gio  # noqa: E402

with open(os.environ["PAINTERLY_GIMP_DIALOG"]) as f:
    cfg = json.load(f)
image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(cfg["input"]))
layer = image.get_layers()[0]
Gimp.Display.new(image)
x, y, w, h = cfg["selection"]
image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
proc = Gimp.get_pdb().lookup_procedure(cfg["procedure"])
print("painterly dialog driver: procedure %s" % ("found" if proc else "MISSING"), flush=True)
pcfg = proc.create_config()
pcfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
pcfg.set_property("image", image)
pcfg.set_core_object_array("drawables", [layer])
result = proc.run(pcfg)
print("painterly dialog driver: returned %s" % result.index(0).value_nick, flush=True)

"""A method that exists only in the tests: declared here, offered by a test daemon
(``painterly daemon --test-method dummy_method:DUMMY``), it must appear and run in Krita and GIMP with
no edit to either plugin.

It tints the base image towards a colour inside the mask: quick, and every parameter shows in the
pixels, so a test can tell that the values set in an app's widgets or arguments reached the daemon.
"""
import numpy as np

from painterly.engine.methods.base import InputSpec, Method, Output, Param

TINTS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


def run_tint(inputs, params, ctx):
    base = inputs["content"]
    rgb = (1.0 - params["amount"]) * base + params["amount"] * np.array(TINTS[params["tint"]], np.float32)
    if params["invert"]:
        rgb = 1.0 - rgb
    if inputs.get("style") is not None:       # the style's mean colour, weighted by style_mix
        rgb = (1.0 - params["style_mix"]) * rgb + params["style_mix"] * inputs["style"].mean(axis=(0, 1))
    rgb = np.clip(rgb, 0.0, 1.0).astype(np.float32)
    if ctx.progress is not None:
        from painterly.engine.optimize import Progress
        for step in range(1, params["steps"] + 1):
            ctx.progress(Progress(step, params["steps"], "tint", {}, rgb))
    return Output(rgb, inputs["mask"].astype(np.float32))


DUMMY = Method(
    name="dummy_tint",
    label="Dummy Tint",
    summary="test method: tints the masked area towards a colour",
    inputs=(InputSpec("content", "rgb", help="the picture to tint"),
            InputSpec("mask", "mask", help="where to tint"),
            InputSpec("style", "rgb", required=False, help="a picture whose mean colour is mixed in")),
    params=(Param("amount", float, 0.5, "how far towards the tint colour", 0.0, 1.0, group="basic"),
            Param("tint", str, "red", "the tint colour", choices=tuple(TINTS), group="basic"),
            Param("invert", bool, False, "invert the tinted colours", group="basic"),
            Param("steps", int, 2, "progress steps to report (each with a preview)", 0, 50),
            Param("style_mix", float, 0.0, "how much of the style's mean colour", 0.0, 1.0)),
    run=run_tint,
)


def daemon_env():
    """The environment of a daemon process that can import this module (``--test-method dummy_method:DUMMY``)."""
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    paths = [here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))

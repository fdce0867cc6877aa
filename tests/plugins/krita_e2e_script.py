"""Runs INSIDE Krita (apprig_test_driver calls run(ctx)) for tests/plugins/test_krita_e2e.py.

The opened .ora holds the painting and, above it, the active "Object" layer (a pasted photo patch).  It
selects the object, sets the Painterly docker's widgets, triggers Tools > Scripts > Harmonize Selection,
keeps Qt's event loop running until the job ends (the plugin works in the background), grabs the docker,
exports what the host test checks, then undoes once.  Config keys: selection [x, y, w, h], endpoint,
settings {"method", "params": {name: value}, "sources": {input: "below" | layer name}, and the docker's
own "context", "grow", "feather"}, out_dir, screenshot (optional path), scenarios (further cases).
"""
import hashlib
from array import array
import os
import sys
import time

from krita import InfoObject, Selection
from PyQt5.QtCore import QRect
from PyQt5.QtWidgets import QApplication


def nodes(doc):
    out = []

    def walk(node, depth):
        for child in node.childNodes():
            out.append(child)
            walk(child, depth + 1)
    walk(doc.rootNode(), 0)
    return out


def digest(node, w, h):
    return hashlib.sha256(bytes(node.pixelData(0, 0, w, h))).hexdigest()


def pump(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def save_node(doc, node, path):
    if os.path.exists(path):
        os.remove(path)
    node.save(path, doc.xRes() / 72.0, doc.yRes() / 72.0, InfoObject(), QRect(0, 0, doc.width(), doc.height()))
    if not os.path.exists(path):
        raise RuntimeError("Node.save(%s) wrote nothing" % path)


def set_widgets(docker, settings):
    """Set the docker's widgets as a user would (they store themselves)."""
    if "method" in settings:
        docker.method.setCurrentIndex(docker.method.findData(settings["method"]))
    panel = docker.panel()
    for key in ("context", "grow", "feather"):
        if key in settings:
            getattr(docker, key).setValue(settings[key])
    for name, value in settings.get("params", {}).items():
        panel.params.fields[name].set(value)
    for name, value in settings.get("sources", {}).items():
        picker = panel.sources[name]
        kind = value if value in ("below", "none") else "layer"
        picker.kind.setCurrentIndex(picker.kind.findData(kind))
        if kind == "layer":
            picker.layer.setEditText(value)
    docker.save()


def panel_report(docker, method):
    """What the docker shows for a method: each parameter's widget kind and whether it is shown."""
    panel = docker.panel(method)
    if panel is None:
        return None
    return {"label": docker.method.itemText(docker.method.findData(method)),
            "fields": {n: f.kind for n, f in panel.params.fields.items()},
            "shown": [n for n, f in panel.params.fields.items() if f.widget.isVisibleTo(panel)],
            "sources": sorted(panel.sources)}


def run(ctx):
    app, doc, cfg, res = ctx.app, ctx.doc, ctx.cfg, ctx.result
    out = cfg["out_dir"]
    w, h = doc.width(), doc.height()

    # the opened .ora has the painting and, above it, the pasted "Object" layer, which is active
    obj = doc.activeNode()
    if obj is None or obj.name() != "Object":
        raise RuntimeError("expected the Object layer to be active, got %r" % (obj and obj.name()))
    background = doc.nodeByName("Painting")

    sx, sy, sw, sh = cfg["selection"]
    sel = Selection()
    sel.select(sx, sy, sw, sh, 255)
    doc.setSelection(sel)
    doc.waitForDone()
    res["active_before"] = doc.activeNode().name()
    save_node(doc, obj, os.path.join(out, "object.png"))
    doc.refreshProjection()
    doc.waitForDone()
    doc.projection(0, 0, w, h).save(os.path.join(out, "composite_before.png"))
    before = {n.name(): digest(n, w, h) for n in (background, obj)}
    names_before = [n.name() for n in nodes(doc)]

    # the docker: set its widgets as a user would
    from painterly_krita import job
    from painterly_krita.docker import DOCKER_ID
    docker = [d for d in app.dockers() if d.objectName() == DOCKER_ID]
    if not docker:
        raise RuntimeError("Painterly docker not registered; dockers: %r" % [d.objectName() for d in app.dockers()])
    docker = docker[0]
    docker.show()
    docker.raise_()
    docker.endpoint.setText(cfg["endpoint"])
    docker.save()
    docker.ctl.check_daemon()
    for _ in range(200):           # the daemon's methods reach the docker
        pump(0.05)
        if docker.method.findData("harmonize") >= 0 and docker.ctl.catalog.origin == "daemon":
            break
    res["methods"] = [docker.method.itemData(i) for i in range(docker.method.count())]
    res["dummy_panel"] = panel_report(docker, "dummy_tint")
    set_widgets(docker, cfg["settings"])

    menus = {}
    for top in app.activeWindow().qwindow().menuBar().actions():
        if top.menu() is not None:
            menus[top.menu().objectName()] = top.menu()
    tools = menus.get("tools")
    res["tools_menu"] = [a.objectName() for a in tools.actions()] if tools else None
    scripts = [a.menu() for a in tools.actions() if a.menu() is not None and a.menu().objectName() == "scripts"]
    res["scripts_menu"] = [a.objectName() for a in scripts[0].actions()] if scripts else None
    action = app.action("painterly_harmonize_selection")
    if action is None:
        raise RuntimeError("action painterly_harmonize_selection not found (plugin not loaded?)")
    t0 = time.monotonic()
    action.trigger()
    res["returned_after_s"] = round(time.monotonic() - t0, 3)   # the UI is not blocked by the job
    if cfg.get("cancel"):
        pump(0.3)
        docker.cancel_button.click()
    deadline = time.monotonic() + float(cfg.get("job_timeout", 90))
    while job.LAST_RUN.get("state") not in ("done", "failed", "cancelled"):
        if time.monotonic() > deadline:
            raise RuntimeError("job did not finish: %r" % job.LAST_RUN)
        pump(0.05)
        if "running_layers" not in res and any(n.name().startswith("Painterly: running") for n in nodes(doc)):
            res["running_layers"] = [(n.name(), n.locked()) for n in nodes(doc)]   # the preview layer
    res["job_s"] = round(time.monotonic() - t0, 3)
    docker.ctl.check_daemon()
    for _ in range(100):           # let the daemon status check land in the docker (busy machines: slow)
        pump(0.1)
        if docker.daemon_label.text().startswith("Daemon 0"):
            break
    res["last_run"] = dict(job.LAST_RUN)
    res["zmq_file"] = getattr(sys.modules.get("zmq"), "__file__", None)
    res["msgpack_file"] = getattr(sys.modules.get("msgpack"), "__file__", None)
    res["docker_status"] = docker.status.text()
    res["daemon_label"] = docker.daemon_label.text()
    if cfg.get("screenshot"):
        docker.resize(max(docker.width(), 340), max(docker.height(), 600))
        pump(0.2)
        docker.grab().save(cfg["screenshot"])
        window = app.activeWindow()
        if window is not None:
            window.qwindow().grab().save(cfg["screenshot"].replace(".png", "_window.png"))

    res["names_after_job"] = [n.name() for n in nodes(doc)]
    res["unchanged"] = {name: digest(n, w, h) == before[name] for name, n in
                        (("Painting", background), ("Object", obj))}
    new = [n for n in nodes(doc) if n.name() not in names_before and not n.type().endswith("mask")]
    res["new_layers"] = [(n.name(), n.type(), n.locked()) for n in new]
    if new:
        layer = new[0]
        save_node(doc, layer, os.path.join(out, "new_layer.png"))
        parent_names = [n.name() for n in layer.parentNode().childNodes()]
        res["new_layer_above_object"] = parent_names.index(layer.name()) == parent_names.index("Object") + 1
        res["new_layer_children"] = [(c.name(), c.type()) for c in layer.childNodes()]
        res["new_layer_bounds"] = [layer.bounds().x(), layer.bounds().y(), layer.bounds().width(),
                                   layer.bounds().height()]

    app.action("edit_undo").trigger()
    doc.waitForDone()
    pump(0.2)
    res["names_after_undo"] = [n.name() for n in nodes(doc)]
    res["names_before"] = names_before

    # further cases in the same Krita session: each starts from the original layers
    res["scenarios"] = {}
    for case in cfg.get("scenarios", []):
        if case.get("fill_active"):
            # the test (not the plugin) paints the active layer opaque over the whole canvas
            pixel = bytes(case["fill_active"])
            if doc.colorDepth() == "U16":
                pixel = array("H", [v * 257 for v in case["fill_active"]]).tobytes()
            obj.setPixelData(pixel * (w * h), 0, 0, w, h)
            doc.waitForDone()
        if case.get("deselect"):
            doc.setSelection(None)
            doc.waitForDone()
        if case.get("select"):
            sel = Selection()
            sel.select(*(case["select"] + [case.get("value", 255)]))
            doc.setSelection(sel)
            doc.waitForDone()
        if case.get("color"):
            model, depth = case["color"]
            profile = doc.colorProfile() if model == "RGBA" else ""
            converted = doc.setColorSpace(model, depth, profile)
            doc.waitForDone()
            pump(0.2)
            if not converted or (doc.colorModel(), doc.colorDepth()) != (model, depth):
                raise RuntimeError("could not convert the test document to %s/%s" % (model, depth))
        docker.endpoint.setText(case.get("endpoint", cfg["endpoint"]))
        set_widgets(docker, dict({"method": cfg["settings"]["method"]}, **case.get("settings", {})))
        job.LAST_RUN.clear()
        action.trigger()
        if case.get("cancel"):          # once the daemon has taken the job and its layer is there
            deadline = time.monotonic() + 20
            while not any(n.name().startswith("Painterly: running") for n in nodes(doc)) \
                    and time.monotonic() < deadline:
                pump(0.02)
            docker.cancel_button.click()
        deadline = time.monotonic() + float(cfg.get("job_timeout", 90))
        while job.LAST_RUN.get("state") not in ("done", "failed", "cancelled"):
            if time.monotonic() > deadline:
                raise RuntimeError("case %s did not finish: %r" % (case["name"], job.LAST_RUN))
            pump(0.05)
        pump(0.1)
        names = [n.name() for n in nodes(doc)]
        out_case = res["scenarios"][case["name"]] = {
            "last_run": dict(job.LAST_RUN), "names": names, "busy": docker.ctl.busy(),
            "status": docker.status.text(), "color": [doc.colorModel(), doc.colorDepth()]}
        if (doc.colorModel(), doc.colorDepth()) == ("RGBA", "U8"):
            out_case["unchanged"] = {name: digest(n, w, h) == before[name] for name, n in
                                     (("Painting", background), ("Object", obj))}
        layer = doc.nodeByName(job.LAST_RUN.get("layer") or "-")
        if layer is not None and case.get("measure"):
            # mean |result - object| over the RGB samples inside the rect, in the layer's own depth
            mx, my, mw, mh = case["measure"]
            wide = layer.colorDepth() == "U16"
            fmt = "H" if wide else "B"
            got, ref = array(fmt), array(fmt)
            got.frombytes(bytes(layer.pixelData(mx, my, mw, mh)))
            ref.frombytes(bytes(obj.pixelData(mx, my, mw, mh)))
            diffs = [abs(a - b) for i, (a, b) in enumerate(zip(got, ref)) if i % 4 != 3]
            out_case["layer_depth"] = layer.colorDepth()
            out_case["mean_change"] = sum(diffs) / float(len(diffs)) / (65535.0 if wide else 255.0)
            out_case["opaque"] = all(a == (65535 if wide else 255) for a in got[3::4])
            shown = array(fmt)
            shown.frombytes(bytes(layer.projectionPixelData(mx, my, mw, mh)))   # through its transparency mask
            out_case["shown_alpha"] = sum(shown[3::4]) / float(len(shown) // 4) / (65535.0 if wide else 255.0)
            cx, cy = mx + mw // 2, my + mh // 2
            centre = array(fmt)
            centre.frombytes(bytes(layer.pixelData(cx, cy, 1, 1)))
            out_case["centre_rgba"] = [centre[2], centre[1], centre[0], centre[3]]
        if job.LAST_RUN.get("state") == "done":
            app.action("edit_undo").trigger()
            doc.waitForDone()
            pump(0.2)
            res["scenarios"][case["name"]]["names_after_undo"] = [n.name() for n in nodes(doc)]

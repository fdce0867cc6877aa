"""Runs INSIDE Krita (apprig_test_driver calls run(ctx)) for tests/plugins/test_krita_live_e2e.py.

Turns the Painterly docker's Live toggle on with the test method dummy_tint, moves the selection twice and
changes a slider, and after each change waits for the live preview: records the preview layer's pixels
(a digest), the layers and the undo history (read from Krita's History docker) before and after each
run; grabs the docker in Live mode; then Apply, and one Undo. Config keys: selections [[x, y, w, h] x 3],
endpoint, out_dir, screenshot.
"""
import hashlib
import time

from krita import Selection
from PyQt5.QtWidgets import QApplication, QDockWidget, QListView


def pump(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def layers(doc):
    out = []

    def walk(node):
        for child in node.childNodes():
            if not child.type().endswith("mask"):
                out.append(child.name())
            walk(child)
    walk(doc.rootNode())
    return out


def history(app):
    """The undo history's steps as Krita's History docker lists them (None when it cannot be read)."""
    for dock in app.activeWindow().qwindow().findChildren(QDockWidget):
        if dock.objectName() == "History":
            for view in dock.findChildren(QListView):
                model = view.model()
                if model is not None:
                    return [model.index(i, 0).data() for i in range(1, model.rowCount())]   # row 0: <empty>
    return None


def select(doc, rect):
    sel = Selection()
    sel.select(rect[0], rect[1], rect[2], rect[3], 255)
    doc.setSelection(sel)
    doc.waitForDone()


def run(ctx):
    app, doc, cfg, res = ctx.app, ctx.doc, ctx.cfg, ctx.result
    w, h = doc.width(), doc.height()
    from painterly_krita import live
    from painterly_krita.docker import DOCKER_ID
    docker = [d for d in app.dockers() if d.objectName() == DOCKER_ID][0]
    docker.show()
    docker.raise_()
    for dock in app.activeWindow().qwindow().findChildren(QDockWidget):
        if dock.objectName() == "History":
            dock.show()
    docker.endpoint.setText(cfg["endpoint"])
    docker.save()
    docker.ctl.check_daemon()
    for _ in range(200):
        pump(0.05)
        if docker.method.findData("dummy_tint") >= 0 and docker.ctl.catalog.origin == "daemon":
            break
    docker.method.setCurrentIndex(docker.method.findData("dummy_tint"))
    docker.panel().params.fields["amount"].set(1.0)
    docker.panel().params.fields["tint"].set("blue")
    docker.save()
    select(doc, cfg["selections"][0])
    pump(0.3)
    res["layers_before"] = layers(doc)
    res["history_before"] = history(app)

    steps = []

    def wait_for(count, what):
        deadline = time.monotonic() + 60
        while live.LIVE.get("placed", 0) < count:
            if time.monotonic() > deadline:
                raise RuntimeError("no live preview after %s: %r" % (what, live.LIVE))
            pump(0.05)
        pump(0.2)
        node = doc.nodeByName(live.PREVIEW_NAME)
        steps.append({"what": what, "layers": layers(doc), "history": history(app), "rect": live.LIVE.get("rect"),
                      "digest": hashlib.sha256(bytes(node.pixelData(0, 0, w, h))).hexdigest() if node else None,
                      "locked": node.locked() if node else None, "status": docker.status.text()})

    docker.live_toggle.click()
    wait_for(1, "live on")
    for index, rect in enumerate(cfg["selections"][1:]):
        select(doc, rect)
        steps.append({"what": "selection %d set" % (index + 1), "history": history(app)})
        wait_for(2 + index, "selection %d" % (index + 1))
    docker.panel().params.fields["amount"].set(0.5)
    wait_for(len(cfg["selections"]) + 1, "slider")
    res["steps"] = steps
    res["live"] = dict(live.LIVE)
    res["toggle_checked"] = docker.live_toggle.isChecked()
    if cfg.get("screenshot"):
        docker.resize(max(docker.width(), 340), max(docker.height(), 620))
        pump(0.3)
        docker.grab().save(cfg["screenshot"])
        app.activeWindow().qwindow().grab().save(cfg["screenshot"].replace(".png", "_window.png"))

    from painterly_krita import job
    job.LAST_RUN.clear()
    docker.apply_button.click()
    deadline = time.monotonic() + 90
    while job.LAST_RUN.get("state") not in ("done", "failed", "cancelled"):
        if time.monotonic() > deadline:
            raise RuntimeError("Apply's job did not finish: %r" % job.LAST_RUN)
        pump(0.05)
    pump(0.3)
    res["apply"] = {"last_run": dict(job.LAST_RUN), "layers": layers(doc), "history": history(app),
                    "discarded": live.LIVE.get("discarded"), "toggle_checked": docker.live_toggle.isChecked()}
    app.action("edit_undo").trigger()
    doc.waitForDone()
    pump(0.3)
    res["layers_after_undo"] = layers(doc)

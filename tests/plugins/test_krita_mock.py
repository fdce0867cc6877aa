"""The Krita plugin's logic without Krita: the installed plugin on the pixel-bearing ``krita`` mock and PyQt6
(what Krita 6 uses), against a daemon in this process. Reading the document, the request, the generated
docker, the job's layer and undo, each in well under a second once the daemon is up."""
import numpy as np
import pytest

import krita_harness as harness

pytest.importorskip("PyQt6.QtWidgets", reason="PyQt6 not installed (pip install PyQt6 to run the Krita mock tests)")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    krita, plugin = harness.load_plugin(tmp_path_factory.mktemp("krita"))
    daemon = harness.InProcessDaemon(tmp_path_factory.mktemp("results"))
    from painterly_krita import docker, document, job, settings
    from painterly_krita.painterly_client import plugin_core
    env = type("Env", (), dict(krita=krita, plugin=plugin, docker=docker, document=document, job=job,
                               settings=settings, core=plugin_core, endpoint=daemon.endpoint))
    app = krita.Krita.instance()
    app.writeSetting("painterly", "endpoint", daemon.endpoint)
    job.controller().check_daemon()
    assert harness.pump(until=lambda: "dummy_tint" in job.controller().catalog.names(), timeout=20)
    yield env
    daemon.stop()


@pytest.fixture
def dock(env):
    d = env.docker.PainterlyDocker()
    yield d
    d.deleteLater()


def select(env, doc, x, y, w, h, value=255):
    sel = env.krita.Selection()
    sel.select(x, y, w, h, value)
    doc.setSelection(sel)


def run_and_wait(env, start):
    env.job.LAST_RUN.clear()
    start()
    assert harness.pump(until=lambda: env.job.LAST_RUN.get("state") in ("done", "failed", "cancelled"), timeout=30)
    return dict(env.job.LAST_RUN)


def choose(dock, method, **params):
    dock.method.setCurrentIndex(dock.method.findData(method))
    for name, value in params.items():
        dock.panel().params.fields[name].set(value)
    dock.save()
    return dock.panel()


def test_docker_offers_every_method_of_the_daemon_with_widgets_from_its_declaration(env, dock):
    names = [dock.method.itemData(i) for i in range(dock.method.count())]
    assert names == env.job.controller().catalog.names() and {"harmonize", "dummy_tint", "photo"} <= set(names)
    panel = choose(dock, "dummy_tint")
    fields = panel.params.fields
    assert {n: f.kind for n, f in fields.items()} == {"amount": "slider", "tint": "combo", "invert": "check",
                                                      "steps": "spin", "style_mix": "slider"}
    shown = dict((n, f.widget.isVisibleTo(panel)) for n, f in fields.items())
    assert shown == {"amount": True, "tint": True, "invert": True, "steps": False, "style_mix": False}
    panel.params.advanced_toggle.setChecked(True)                 # unfold the advanced ones
    assert fields["steps"].widget.isVisibleTo(panel) and fields["style_mix"].widget.isVisibleTo(panel)
    assert [fields["tint"].widget.itemData(i) for i in range(3)] == ["red", "green", "blue"]
    assert fields["amount"].widget.spin.maximum() == 1.0 and fields["amount"].widget.toolTip() == "how far towards the tint colour"
    fields["amount"].widget.slider.setValue(250)                  # the slider drives the spin box
    assert fields["amount"].get() == pytest.approx(0.25)
    assert list(panel.sources) == ["style"]                       # optional input: may be none
    assert panel.sources["style"].source().kind == "none"
    assert dock.run_button.text() == "Dummy Tint"
    photo = choose(dock, "photo")
    assert set(photo.sources) == {"style", "content_seg", "style_seg"}
    assert photo.sources["style"].source().kind == "below"        # required: the visible layers below


def test_settings_are_kept_per_method_and_checked_against_the_declaration(env, dock):
    choose(dock, "dummy_tint", amount=0.75, tint="blue")
    choose(dock, "harmonize", quality="preview")
    again = env.docker.PainterlyDocker()
    assert again.method.currentData() == "harmonize"
    assert again.panel("dummy_tint").params.values()["amount"] == 0.75
    assert again.panel("dummy_tint").params.values()["tint"] == "blue"
    assert again.panel("harmonize").params.values()["quality"] == "preview"
    app = env.krita.Krita.instance()
    app.writeSetting("painterly", "method.dummy_tint", '{"params": {"amount": 7, "tint": "mauve", "gone": 1}}')
    settled = env.settings.load_method(env.job.controller().catalog.get("dummy_tint"))
    assert settled.params["amount"] == 0.5 and settled.params["tint"] == "red" and "gone" not in settled.params


def test_gather_reads_the_region_mask_and_each_input_from_its_source(env):
    doc = harness.scene(env.krita)
    select(env, doc, 18, 10, 10, 12)
    catalog = env.job.controller().catalog
    method = catalog.get("harmonize")
    chosen = env.core.settings.MethodSettings.defaults(method)
    chosen.sources["style"] = env.core.settings.Source("below")
    plugin = dict(env.settings.DEFAULTS, context=4)
    job = env.document.gather(doc, method, chosen, plugin, _client(env))
    assert list(job.region) == [14, 6, 18, 20] and job.mask_source == "selection"
    assert set(job.images) == {"composite", "mask", "style"}
    x, y, w, h = job.region
    composite = np.frombuffer(job.images["composite"].data, np.uint8).reshape(h, w, 4)
    assert (composite == doc.rgba()[y:y + h, x:x + w]).all()       # R,G,B,A as on the canvas
    style = np.frombuffer(job.images["style"].data, np.uint8).reshape(h, w, 4)
    assert (style == doc.rgba(doc.nodeByName("Painting"))[y:y + h, x:x + w]).all()   # what is below
    mask = np.frombuffer(job.mask, np.uint8).reshape(h, w)
    assert mask[4:16, 4:14].min() == 255 and mask.sum() == 255 * 10 * 12
    assert (job.images["mask"].x, job.images["mask"].y) == (14, 6)


def _client(env):
    return env.core.messaging.client_module(env.job.PLUGIN_DIR)


@pytest.mark.parametrize("case, code", [
    ("empty_selection", "empty_selection"), ("opaque_no_selection", "no_selection"), ("cmyk", "color_model"),
    ("missing_style_layer", "no_style"), ("file_wrong_size", "no_style")])
def test_gather_refuses_what_it_cannot_do_with_a_sentence(env, tmp_path, case, code):
    doc = harness.scene(env.krita)
    method = env.job.controller().catalog.get("harmonize")
    chosen = env.core.settings.MethodSettings.defaults(method)
    select(env, doc, 18, 10, 10, 12)
    if case == "empty_selection":
        select(env, doc, 18, 10, 10, 12, value=0)
    if case == "opaque_no_selection":
        doc.setSelection(None)
        doc.setActiveNode(doc.nodeByName("Painting"))
    if case == "cmyk":
        doc._model = "CMYKA"
    if case == "missing_style_layer":
        chosen.sources["style"] = env.core.settings.Source("layer", "No such layer")
    if case == "file_wrong_size":
        from PyQt6 import QtGui
        path = str(tmp_path / "small.png")
        QtGui.QImage(8, 8, QtGui.QImage.Format.Format_ARGB32).save(path)
        chosen.sources["style"] = env.core.settings.Source("file", file=path)
    with pytest.raises(env.core.errors.UserError) as err:
        env.document.gather(doc, method, chosen, env.settings.DEFAULTS, _client(env))
    assert err.value.code == code and str(err.value).endswith((".", ")"))


def test_whole_inputs_are_sent_whole_and_reduced(env, tmp_path):
    from PyQt6 import QtGui
    doc = harness.scene(env.krita)
    select(env, doc, 18, 10, 10, 12)
    path = str(tmp_path / "painting.png")
    big = QtGui.QImage(3000, 1500, QtGui.QImage.Format.Format_ARGB32)
    big.fill(QtGui.QColor(10, 20, 30))
    big.save(path)
    method = env.job.controller().catalog.get("masked")
    chosen = env.core.settings.MethodSettings.defaults(method)
    chosen.sources["style"] = env.core.settings.Source("file", file=path)
    job = env.document.gather(doc, method, chosen, env.settings.DEFAULTS, _client(env))
    style = job.images["style"]
    assert (style.width, style.height, style.depth) == (1024, 512, 8)
    assert bytes(style.data[:4]) == bytes([10, 20, 30, 255])
    chosen.sources["style"] = env.core.settings.Source("layer", "Painting")
    job = env.document.gather(doc, method, chosen, env.settings.DEFAULTS, _client(env))
    assert (job.images["style"].width, job.images["style"].height) == (48, 32)      # the whole canvas


def test_a_declared_method_runs_into_a_new_layer_with_the_docker_values(env, dock):
    doc = harness.scene(env.krita)
    select(env, doc, 18, 10, 10, 12)
    before = {n: doc.rgba(doc.nodeByName(n)).copy() for n in ("Painting", "Object")}
    choose(dock, "dummy_tint", amount=1.0, tint="green")
    last = run_and_wait(env, dock.run)
    assert last["state"] == "done", last
    assert last["layer"] == "Dummy Tint (amount 1, green, no invert)"
    assert last["params"]["amount"] == 1.0 and last["params"]["tint"] == "green"
    names = [n.name() for n in doc.rootNode().childNodes()]
    assert names == ["Painting", "Object", last["layer"]]                 # right above the active layer
    layer = doc.nodeByName(last["layer"])
    assert not layer.locked() and [c.name() for c in layer.childNodes()] == ["Painterly mask"]
    shown = layer._rendered()[..., [2, 1, 0, 3]]
    assert (shown[12:20, 20:26] == [0, 255, 0, 255]).all()               # green inside the selection
    assert shown[:, :8, 3].max() == 0 and shown[:4, :, 3].max() == 0      # nothing far outside it
    assert all((doc.rgba(doc.nodeByName(n)) == before[n]).all() for n in before)
    assert [step[0] for step in doc.undo_stack] == ["Add Layer"]          # one undo step...
    env.krita.Krita.instance().action("edit_undo").trigger()
    assert [n.name() for n in doc.rootNode().childNodes()] == ["Painting", "Object"]   # ...takes it all back


def test_sixteen_bit_documents_go_and_come_back_at_sixteen_bits(env, dock):
    doc = harness.scene(env.krita, depth="U16")
    select(env, doc, 18, 10, 10, 12)
    choose(dock, "dummy_tint", amount=0.5, tint="red")
    last = run_and_wait(env, dock.run)
    assert last["state"] == "done", last
    layer = doc.nodeByName(last["layer"])
    pixel = doc.rgba(layer)[15, 22]
    assert pixel[3] == 65535 and abs(int(pixel[0]) - (250 * 257 + 65535) // 2) <= 1   # halfway to red


def test_cancel_after_the_daemon_took_the_job_leaves_no_undo_step(env, dock):
    doc = harness.scene(env.krita)
    dock.method.setCurrentIndex(dock.method.findData("echo"))
    dock.panel().params.fields["iterations"].set(400)
    dock.panel().params.fields["delay"].set(0.02)
    dock.save()
    env.job.LAST_RUN.clear()
    dock.run()
    assert harness.pump(until=lambda: any(n.name().startswith("Painterly: running") for n in
                                          doc.rootNode().childNodes()), timeout=20)
    assert harness.pump(until=lambda: env.job.LAST_RUN.get("progress_events", 0) > 0, timeout=20)
    dock.cancel_button.click()
    assert harness.pump(until=lambda: env.job.LAST_RUN.get("state") == "cancelled", timeout=20), env.job.LAST_RUN
    assert env.job.LAST_RUN["taken_back"] == "undone"
    assert [n.name() for n in doc.rootNode().childNodes()] == ["Painting", "Object"]
    assert doc.undo_stack == [] and not env.job.controller().busy()
    assert dock.status.text() == "Cancelled: nothing was added."


def test_refusals_leave_the_document_untouched(env, dock):
    doc = harness.scene(env.krita)
    select(env, doc, 18, 10, 10, 12)
    choose(dock, "dummy_tint")
    dock.endpoint.setText("tcp://127.0.0.1:9")
    dock.save()
    try:
        last = run_and_wait(env, dock.run)
    finally:
        dock.endpoint.setText(env.endpoint)
        dock.save()
    assert last["state"] == "failed" and last["code"] == "unavailable", last
    assert "not running" in last["message"] and "painterly daemon" in last["message"]
    assert doc.undo_stack == [] and [n.name() for n in doc.rootNode().childNodes()] == ["Painting", "Object"]
    env.krita.Krita.instance().active_doc = None
    try:
        last = run_and_wait(env, env.krita.Krita.instance().extensions[0].run)   # the menu action
    finally:
        env.krita.Krita.instance().active_doc = doc
    assert last["code"] == "no_document"


def test_preview_images_reach_the_docker_and_the_layer(env, dock):
    from PyQt6 import QtGui
    qt = env.plugin.qt_compat
    image = QtGui.QImage(bytes(range(48)), 4, 4, 12, qt.FMT_RGB888).copy()
    dock.on_preview(image)
    dock.on_progress(3, 10)
    assert dock.progress.value() == 3 and dock.preview.pixmap() is not None
    scaled = image.scaled(8, 8, qt.IGNORE_ASPECT, qt.SMOOTH)
    assert len(qt.image_bytes(scaled.convertToFormat(qt.FMT_ARGB32))) == 8 * 8 * 4
    assert len(qt.image_bytes(scaled.convertToFormat(qt.FMT_RGBA64))) == 8 * 8 * 8

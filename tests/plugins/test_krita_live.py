"""Krita's live mode (painterly_krita/live.py) on the pixel-bearing ``krita`` mock against a daemon in this
process: one preview layer replaced in place as the selection and the parameters change, no undo step per
run, a change cancelling the running job, Live off taking the layer back, Apply making the usual result
layer; and the docker showing "auto" where 0 means automatic."""
import numpy as np
import pytest

import krita_harness as harness

pytest.importorskip("PyQt6.QtWidgets", reason="PyQt6 not installed (pip install PyQt6 to run the Krita mock tests)")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    krita, plugin = harness.load_plugin(tmp_path_factory.mktemp("krita"))
    daemon = harness.InProcessDaemon(tmp_path_factory.mktemp("results"))
    from painterly_krita import docker, job, live
    env = type("Env", (), dict(krita=krita, plugin=plugin, docker=docker, job=job, live=live,
                               endpoint=daemon.endpoint))
    krita.Krita.instance().writeSetting("painterly", "endpoint", daemon.endpoint)
    job.controller().check_daemon()
    assert harness.pump(until=lambda: "dummy_tint" in job.controller().catalog.names(), timeout=20)
    yield env
    daemon.stop()


@pytest.fixture
def dock(env):
    d = env.docker.PainterlyDocker()
    yield d
    d.live.set_enabled(False)
    harness.pump(until=lambda: d.live.run is None, timeout=10)
    d.deleteLater()


def select(env, doc, x, y, w, h):
    sel = env.krita.Selection()
    sel.select(x, y, w, h, 255)
    doc.setSelection(sel)


def choose(dock, method, **params):
    dock.method.setCurrentIndex(dock.method.findData(method))
    for name, value in params.items():
        dock.panel().params.fields[name].set(value)
    dock.save()


def names(doc):
    return [n.name() for n in doc.rootNode().childNodes()]


def placed(env, count):
    assert harness.pump(until=lambda: env.live.LIVE.get("placed", 0) >= count, timeout=30), env.live.LIVE
    return doc_preview(env)


def doc_preview(env):
    doc = env.krita.Krita.instance().activeDocument()
    return doc.rgba(doc.nodeByName(env.live.PREVIEW_NAME)).copy()


def test_live_follows_the_selection_and_the_sliders_in_one_preview_layer_without_undo_steps(env, dock):
    doc = harness.scene(env.krita)
    select(env, doc, 18, 10, 6, 6)
    choose(dock, "dummy_tint", amount=1.0, tint="blue")
    dock.live_toggle.setChecked(True)
    first = placed(env, 1)
    assert names(doc) == ["Painting", "Object", env.live.PREVIEW_NAME]          # one layer, at the top
    assert (first[12:14, 20:22] == [0, 0, 255, 255]).all() and first[:, :16, 3].max() == 0
    assert [step[0] for step in doc.undo_stack] == ["Add Layer"]                 # the layer's own step, once
    assert dock.apply_button.isEnabled() and doc.activeNode().name() == "Object"
    select(env, doc, 24, 14, 6, 6)                                                # the selection moved...
    second = placed(env, 2)
    select(env, doc, 16, 8, 4, 4)                                                 # ...twice
    third = placed(env, 3)
    dock.panel().params.fields["amount"].set(0.5)                                  # a slider changed
    fourth = placed(env, 4)
    doc.setActiveNode(doc.nodeByName("Painting"))                                 # another layer
    placed(env, 5)
    assert env.live.LIVE["runs"] == 5
    shots = [first, second, third, fourth]
    assert all((a != b).any() for a, b in zip(shots, shots[1:]))                 # each run changed the pixels
    assert fourth[17:20, 26:30, 3].max() == 0 and third[17:20, 26:30, 3].max() == 0   # the old place cleared
    assert abs(int(fourth[9, 17, 2]) - 138) <= 1 and fourth[9, 17, 3] == 255     # halfway to blue from 20
    assert names(doc) == ["Painting", "Object", env.live.PREVIEW_NAME]
    assert len(doc.undo_stack) == 1                                                # no undo step per run
    assert (doc.rgba(doc.nodeByName("Object"))[8:24, 16:32] == [250, 200, 20, 255]).all()   # never written to
    dock.live_toggle.setChecked(False)
    assert env.live.LIVE["discarded"] == "undone"
    assert names(doc) == ["Painting", "Object"] and doc.undo_stack == []          # as before Live


def test_the_preview_never_feeds_the_next_job(env, dock):
    doc = harness.scene(env.krita)
    select(env, doc, 18, 10, 6, 6)
    choose(dock, "dummy_tint", amount=0.5, tint="red")
    dock.live_toggle.setChecked(True)
    first = placed(env, 1)
    dock.panel().params.fields["tint"].set("green")
    dock.panel().params.fields["tint"].set("red")       # back: the same job again, on the same document
    harness.pump(0.8)
    again = placed(env, 2)
    assert (again == first).all()                        # not the preview tinted once more


def test_a_change_while_a_job_runs_cancels_it(env, dock):
    doc = harness.scene(env.krita)
    select(env, doc, 18, 10, 6, 6)
    choose(dock, "echo", iterations=300, delay=0.02)
    dock.live_toggle.setChecked(True)
    assert harness.pump(until=lambda: dock.live.run is not None, timeout=10)
    running = dock.live.run
    select(env, doc, 20, 12, 6, 6)
    assert harness.pump(until=lambda: env.live.LIVE.get("cancelled", 0) >= 1 and dock.live.run is not None
                        and dock.live.run is not running, timeout=20), env.live.LIVE
    assert running.cancel.is_set() and env.live.LIVE["runs"] == 2 and env.live.LIVE["placed"] == 0
    dock.live_toggle.setChecked(False)
    assert harness.pump(until=lambda: dock.live.run is None, timeout=10)
    assert names(doc) == ["Painting", "Object"] and doc.undo_stack == []


def test_apply_makes_the_usual_result_layer_at_the_chosen_quality_and_leaves_live(env, dock):
    doc = harness.scene(env.krita)
    select(env, doc, 18, 10, 10, 12)
    choose(dock, "dummy_tint", amount=1.0, tint="green")
    dock.live_toggle.setChecked(True)
    placed(env, 1)
    env.job.LAST_RUN.clear()
    dock.apply_button.click()
    assert harness.pump(until=lambda: env.job.LAST_RUN.get("state") in ("done", "failed"), timeout=30)
    assert env.job.LAST_RUN["state"] == "done", env.job.LAST_RUN
    assert names(doc) == ["Painting", "Object", "Dummy Tint (amount 1, green, no invert)"]
    assert [step[0] for step in doc.undo_stack] == ["Add Layer"]                  # one undo step: the result
    assert not dock.live_toggle.isChecked() and not dock.apply_button.isEnabled()


def test_live_runs_at_instant_quality_where_the_method_has_it(env, dock, monkeypatch):
    seen = []

    def record(self, run, conn):
        seen.append(dict(run.job.params))
        self.bridge.failed.emit(run, "cancelled", "Cancelled.")
    monkeypatch.setattr(env.live.LiveSession, "_work", record)
    doc = harness.scene(env.krita)
    select(env, doc, 18, 10, 10, 12)
    choose(dock, "harmonize", quality="final")
    dock.live_toggle.setChecked(True)
    assert harness.pump(until=lambda: seen, timeout=10)
    assert seen[0]["quality"] == "instant"
    assert env.krita.Krita.instance().readSetting("painterly", "method.harmonize", "").count('"final"') == 1


def test_live_harmonize_at_instant_quality_with_the_shipped_decoder(env, dock, monkeypatch):
    from conftest import REPO
    if not (REPO / "engine" / "instant" / "decoder.pt").is_file():
        pytest.skip("engine/instant/decoder.pt is not in the tree yet: instant quality has no decoder to run")
    monkeypatch.delenv("PAINTERLY_DECODER", raising=False)         # the shipped one
    doc = harness.scene(env.krita)
    select(env, doc, 18, 10, 10, 12)
    choose(dock, "harmonize", quality="final")
    dock.live_toggle.setChecked(True)
    assert harness.pump(until=lambda: env.live.LIVE.get("placed") or env.live.LIVE.get("failed"), timeout=120)
    assert env.live.LIVE["placed"] == 1 and env.live.LIVE["failed"] == 0, env.live.LIVE
    shown = doc_preview(env)
    assert shown[12:20, 20:26, 3].min() > 0                                    # the object's place painted
    assert (shown[12:20, 20:26, :3] != [250, 200, 20]).any()                   # and changed from the paste
    assert names(doc) == ["Painting", "Object", env.live.PREVIEW_NAME] and len(doc.undo_stack) == 1


def test_zero_shows_the_word_the_help_gives_it(env, dock):
    choose(dock, "harmonize", budget=0.0, size=0)
    fields = dock.panel().params.fields
    assert fields["budget"].widget.spin.text() == "auto"            # "0 = 4 s for preview, ..."
    assert fields["size"].widget.text() == "auto"                   # "0 = from the budget"
    fields["budget"].set(2.0)
    assert fields["budget"].widget.spin.text() == "2.00"
    assert fields["strength"].widget.spin.specialValueText() == ""  # 0 = as pasted: a value, not automatic
    np.testing.assert_equal(fields["budget"].get(), 2.0)

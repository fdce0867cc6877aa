"""The plugin core both apps share (painterly.plugin_core): declarations read from the engine's own
``describe()``, widgets, settings, mask and region rules, byte layouts, the method catalog, job checks."""
import json
import struct
import sys

import pytest

from painterly.engine import get_method, method_names
from painterly.plugin_core import catalog, declarations, geometry, launcher, messaging, pixels, request
from painterly.plugin_core.errors import UserError, explain
from painterly.plugin_core.geometry import Bounds, Extent
from painterly.plugin_core.region import MaskSource, choose_mask
from painterly.plugin_core.settings import MethodSettings, Source
from painterly.wire.protocol import DaemonError, DaemonUnavailable, ImageBuffer, JobCancelled

import dummy_method


def handshake(*methods):
    return {"methods": [m.describe() for m in methods], "limits": {"max_pixels": 1000, "max_side": 64}}


@pytest.fixture(scope="module")
def engine_methods():
    found, problems = declarations.methods_from_handshake(handshake(*(get_method(n) for n in method_names())))
    assert not problems
    return dict((m.name, m) for m in found)


def test_every_engine_method_reads_with_its_base_masks_and_sources(engine_methods):
    harmonize = engine_methods["harmonize"]
    assert harmonize.base_input == "composite" and harmonize.label == "Harmonize Selection"
    assert [m.name for m in harmonize.masks] == ["mask"] and harmonize.needs_mask
    assert [(s.name, s.aligned, s.required) for s in harmonize.sources] == [("style", True, False)]
    photo = engine_methods["photo"]
    assert photo.base_input == "content" and not photo.needs_mask and photo.masks
    assert {s.name: s.aligned for s in photo.sources} == {"style": False, "content_seg": True, "style_seg": False}
    assert not engine_methods["global"].masks
    for method in engine_methods.values():
        assert method.defaults() == dict((p.name, p.default) for p in get_method(method.name).params)


def test_widget_kinds_follow_the_declaration():
    method = declarations.MethodSpec.from_description(dummy_method.DUMMY.describe())
    kinds = dict((p.name, p.widget) for p in method.params)
    assert kinds == {"amount": "slider", "tint": "combo", "invert": "check", "steps": "spin", "style_mix": "slider"}
    assert [p.name for p in method.params_in("basic")] == ["amount", "tint", "invert"]
    text = declarations.ParamSpec("note", "str", "")
    unbounded = declarations.ParamSpec("weight", "float", 1e-3, min=0.0)
    assert text.widget == "text" and unbounded.widget == "spin" and unbounded.decimals == 3
    assert declarations.ParamSpec("learning_rate", "float", 0.0, min=0.0, max=10.0).step == 0.1
    nothing_installed = declarations.ParamSpec("model", "str", "starry-night", choices=[])
    assert nothing_installed.widget == "text" and nothing_installed.validate("my-style.pt") == "my-style.pt"


def test_values_are_checked_against_the_declaration():
    method = declarations.MethodSpec.from_description(dummy_method.DUMMY.describe())
    assert method.check({"amount": "0.25", "invert": "true"})["amount"] == 0.25
    for bad in ({"amount": 2}, {"tint": "mauve"}, {"steps": 1.5}, {"invert": "perhaps"}, {"colour": 1}):
        with pytest.raises(ValueError) as err:
            method.check(bad)
        assert str(err.value)[:1].isupper()
    stored = {"params": {"amount": 0.3, "tint": "mauve", "gone": 4}, "sources": {"style": {"kind": "layer",
              "layer": "Painting"}}, "sample_merged": False}
    settled = MethodSettings.settle(method, json.dumps(stored))
    assert settled.params == dict(method.defaults(), amount=0.3)                # the stale choice is dropped
    assert settled.sources["style"] == Source("layer", "Painting") and not settled.sample_merged
    again = MethodSettings.settle(method, settled.to_json())
    assert again.params == settled.params and again.sources == settled.sources
    assert MethodSettings.settle(method, "not json").params == method.defaults()
    assert request.result_name(method, settled.params) == "Dummy Tint (amount 0.3, red, no invert)"


def test_a_method_the_apps_cannot_read_is_left_out_with_a_reason():
    good = dummy_method.DUMMY.describe()
    odd = dict(good, name="odd", params=[{"name": "curve", "type": "list", "default": []}])
    found, problems = declarations.methods_from_handshake({"methods": [good, odd]})
    assert [m.name for m in found] == ["dummy_tint"] and "curve" in problems[0]
    older = dict(good, name="older")
    older.pop("base_input")
    older.pop("label")
    spec = declarations.MethodSpec.from_description(older)
    assert spec.base_input == "content" and spec.label == "Older"


def test_bounds_and_extent():
    b = Bounds(10, 5, 20, 10)
    assert b.grow(8).intersect(Bounds(0, 0, 100, 18)) == Bounds(2, 0, 36, 18)
    assert Bounds(90, 10, 20, 5).intersect(Bounds.of(Extent(100, 100))) == Bounds(90, 10, 10, 5)
    assert Bounds(0, 0, 4, 4).intersect(Bounds(10, 10, 2, 2)).is_empty
    assert b.union(Bounds(0, 0, 1, 1)) == Bounds(0, 0, 30, 15) and b.relative_to((10, 5)) == Bounds(0, 0, 20, 10)
    assert Extent(3000, 1500).fit_within(1024) == Extent(1024, 512) and Extent(10, 20).fit_within(64) == (10, 20)
    assert geometry.context_margin(Bounds(0, 0, 40, 10), geometry.AUTO_MARGIN) == 20 + geometry.AUTO_MARGIN_EXTRA
    assert geometry.region_around(Bounds(10, 10, 4, 4), 3, Bounds(0, 0, 15, 15)) == Bounds(7, 7, 8, 8)


def test_byte_layouts():
    assert pixels.swap_red_blue(bytes([1, 2, 3, 4, 5, 6, 7, 8]), 8) == bytes([3, 2, 1, 4, 7, 6, 5, 8])
    bgra16 = struct.pack("<8H", 100, 200, 65000, 65535, 1, 2, 3, 4)
    assert struct.unpack("<8H", pixels.swap_red_blue(bgra16, 16)) == (65000, 200, 100, 65535, 3, 2, 1, 4)
    assert pixels.alpha_of(bytes([9, 9, 9, 0, 9, 9, 9, 255]), 8) == bytes([0, 255])
    assert pixels.alpha_of(struct.pack("<8H", 0, 0, 0, 0x80FF, 0, 0, 0, 0xFFFF), 16) == bytes([0x80, 0xFF])
    assert pixels.alpha_of(bytes([7, 200, 7, 0]), 8, channels=2) == bytes([200, 0])
    assert pixels.to_8bit(struct.pack("<2H", 0x1234, 0xABCD), 16) == bytes([0x12, 0xAB])
    assert struct.unpack("<2H", pixels.widen(bytes([0, 255]))) == (0, 65535)
    assert pixels.crop(bytes(range(16)), 4, (1, 2, 2, 2)) == bytes([9, 10, 13, 14])
    mask = bytearray(30)
    mask[1 * 6 + 2], mask[3 * 6 + 4] = 10, 255
    assert pixels.nonzero_bounds(bytes(mask), 6, 5) == Bounds(2, 1, 3, 3)
    assert pixels.nonzero_bounds(bytes(30), 6, 5) is None
    assert pixels.is_all(b"\xff" * 4) and not pixels.is_all(b"\xff\xfe") and not pixels.is_all(b"")
    assert pixels.coverage(bytes([0, 1, 128, 255])) == bytes([0, 255, 255, 255])
    assert pixels.is_soft(bytes([0, 128])) and not pixels.is_soft(bytes([0, 255]))
    assert pixels.little_endian(b"\x01\x02", 16) == (b"\x01\x02" if sys.byteorder == "little" else b"\x02\x01")


def mask_source(width, height, fill, x=0, y=0):
    """A MaskSource of a width×height mask at (x, y), ``fill(col, row)`` its value."""
    data = bytes(fill(c, r) for r in range(height) for c in range(width))

    def read(b):
        return bytes(data[(b.y - y + r) * width + (b.x - x + c)] if 0 <= b.x - x + c < width and
                     0 <= b.y - y + r < height else 0 for r in range(b.height) for c in range(b.width))
    return MaskSource((x, y, width, height), read)


def test_mask_rules_shared_by_both_apps(engine_methods):
    harmonize, glob, photo = engine_methods["harmonize"], engine_methods["global"], engine_methods["photo"]
    canvas = Bounds(0, 0, 40, 30)
    square = mask_source(40, 30, lambda c, r: 255 if 10 <= c < 20 and 5 <= r < 15 else 0)
    everything = mask_source(40, 30, lambda c, r: 255)
    nothing = mask_source(40, 30, lambda c, r: 0)
    choice = choose_mask(harmonize, canvas, "Object", selection=square, alpha=everything)
    assert choice.source == "selection" and choice.bounds == Bounds(10, 5, 10, 10)
    assert choice.region(2, canvas) == Bounds(8, 3, 14, 14)
    assert choose_mask(harmonize, canvas, "Object", selection=None, alpha=square).source == "layer alpha"
    assert choose_mask(harmonize, canvas, "Object", selection=everything, alpha=square).source == "whole layer"
    with pytest.raises(UserError) as err:
        choose_mask(harmonize, canvas, "Object", selection=nothing, alpha=square)
    assert err.value.code == "empty_selection" and "does not cover any pixel of the layer 'Object'" in str(err.value)
    with pytest.raises(UserError) as err:
        choose_mask(harmonize, canvas, "Painting", selection=None, alpha=everything)
    assert err.value.code == "no_selection" and "no selection" in str(err.value) and "no transparency" in str(err.value)
    with pytest.raises(UserError):
        choose_mask(harmonize, canvas, "Flat", selection=None, alpha=None)
    with pytest.raises(UserError) as err:
        choose_mask(harmonize, canvas, "Empty", selection=None, alpha=nothing)
    assert err.value.code == "empty_layer"
    whole = choose_mask(glob, canvas, "Painting", selection=None, alpha=everything)
    assert whole.source == "whole layer" and whole.mask_for(canvas) is None and whole.bounds == canvas
    optional = choose_mask(photo, canvas, "Photo", selection=None, alpha=everything)
    assert optional.mask_for(canvas) is None                       # an optional mask: none
    off_canvas = mask_source(10, 10, lambda c, r: 255, x=50, y=50)
    with pytest.raises(UserError):
        choose_mask(harmonize, canvas, "Object", selection=off_canvas, alpha=square)


def test_job_checks():
    method = declarations.MethodSpec.from_description(dummy_method.DUMMY.describe())
    images = {"content": ImageBuffer(10, 10, 4, 8, bytes(400)), "extra": ImageBuffer(1, 1, 1, 8, b"\0")}
    with pytest.raises(UserError) as err:
        request.check_inputs(method, images)
    assert err.value.code == "no_mask"
    images["mask"] = ImageBuffer(10, 10, 1, 8, bytes(100))
    assert set(request.check_inputs(method, images)) == {"content", "mask"}      # undeclared ones dropped
    request.check_limits(images, {"max_pixels": 1000, "max_side": 64})
    with pytest.raises(UserError) as err:
        request.check_limits(images, {"max_pixels": 150})
    assert err.value.code == "too_large" and str(err.value).startswith("Too large")
    with pytest.raises(UserError):
        request.check_limits(images, {"max_side": 8})
    assert request.rect_for(method.input("mask"), Bounds(1, 2, 3, 4), Bounds(0, 0, 9, 9)) == Bounds(1, 2, 3, 4)
    assert request.rect_for(method.input("style"), Bounds(1, 2, 3, 4), Bounds(0, 0, 9, 9)) == Bounds(0, 0, 9, 9)


def test_errors_become_sentences():
    assert explain(JobCancelled()) == ("cancelled", "Cancelled.")
    code, text = explain(DaemonUnavailable("No painterly daemon answered at tcp://x within 3 s."))
    assert code == "unavailable" and "not running" in text and "'painterly daemon'" in text
    assert explain(DaemonError("too_large", "over the limit"))[0] == "too_large"
    assert explain(DaemonError("bad_params", "strength must be at most 1")) == \
        ("job_failed", "The job failed: strength must be at most 1")
    assert explain(UserError("no_layer", "Select a layer.")) == ("no_layer", "Select a layer.")
    assert explain(KeyError("x"))[0] == "internal"


class FakeClientModule(object):
    """A client module whose daemon answers with a handshake, or not at all."""

    def __init__(self, info):
        module = self

        class Client(object):
            def __init__(self, endpoint=None, timeout=10.0):
                module.asked = (endpoint, timeout)

            def handshake(self):
                if info is None:
                    raise DaemonUnavailable("nobody there")
                return info

            def close(self):
                pass
        self.Client = Client


def test_catalog_prefers_the_daemon_then_its_cache_then_the_bundle(tmp_path):
    assert catalog.load(str(tmp_path)).origin == "none" and catalog.load(str(tmp_path)).default() is None
    catalog.bundle(str(tmp_path / catalog.BUNDLED_FILE), [get_method("harmonize").describe()])
    bundled = catalog.load(str(tmp_path))
    assert bundled.origin == "bundled" and bundled.names() == ["harmonize"] and bundled.default().name == "harmonize"
    live = catalog.refresh(FakeClientModule(handshake(dummy_method.DUMMY, get_method("harmonize"))), str(tmp_path),
                           timeout=0.5)
    assert live.origin == "daemon" and live.names() == ["dummy_tint", "harmonize"] and live.limits["max_side"] == 64
    assert live.default().name == "harmonize" and live.default("dummy_tint").name == "dummy_tint"
    down = catalog.refresh(FakeClientModule(None), str(tmp_path), timeout=0.5)
    assert down.origin == "cache" and down.names() == ["dummy_tint", "harmonize"]
    assert not list(tmp_path.glob("*.tmp"))


def test_the_client_loads_and_the_daemon_command_is_built(tmp_path):
    client = messaging.client_module(str(tmp_path))
    assert client.Client and client.ImageBuffer and messaging.zmq_origin(str(tmp_path)) == "system"
    assert messaging.default_endpoint()
    assert not messaging.use_vendored(str(tmp_path / "vendor"))       # nothing bundled here
    (tmp_path / launcher.INSTALL_INFO).write_text(json.dumps({"painterly_command": ["py", "-m", "painterly.cli"]}))
    command = launcher.painterly_command(str(tmp_path))
    assert launcher.daemon_arguments(command) == ["py", "-m", "painterly.cli", "daemon", "--detach"]
    assert launcher.daemon_arguments(command, "ipc:///tmp/x", "cuda")[-4:] == ["--endpoint", "ipc:///tmp/x",
                                                                              "--device", "cuda"]

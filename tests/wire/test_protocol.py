"""The wire protocol in-process: encoding, validation of every field before anything is allocated, and
fuzzing of the request parser. No daemon process here (see test_daemon.py)."""
import ast
import pathlib

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from painterly.daemon import buffers
from painterly.wire import endpoints, protocol, validate
from painterly.wire.protocol import ImageBuffer, ProtocolError

LIMITS = dict(protocol.DEFAULT_LIMITS, max_pixels=10_000, max_side=200, max_message_bytes=1 << 20)
WIRE_DIR = pathlib.Path(protocol.__file__).resolve().parent


def submit_frames(images, method="echo", params=None, **extra):
    frames = protocol.encode({"type": "submit", "rid": 7, "method": method, "params": dict(params or {}),
                              "images": {}}, {"images/" + name: image for name, image in images.items()})
    if extra:
        header = msgpack.unpackb(frames[0])
        header.update(extra)
        frames[0] = msgpack.packb(header)
    return frames


def rgba(w, h, depth=8):
    return ImageBuffer(w, h, 4, depth, bytes(w * h * 4 * depth // 8))


@pytest.mark.parametrize("name", ["protocol.py", "validate.py", "endpoints.py", "client.py", "shm.py"])
def test_client_side_modules_import_only_stdlib_zmq_msgpack(name):
    """They run inside GIMP's and Krita's Python, which have no numpy/torch/painterly."""
    tree = ast.parse((WIRE_DIR / name).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    allowed = {"zmq", "msgpack", "hmac", "math", "hashlib", "itertools", "os", "stat", "struct", "threading", "time",
               "socket", "mmap", "binascii", "re", "sys", "__future__"}
    assert imported <= allowed, imported - allowed


def test_submit_round_trip_keeps_fields_and_shares_buffers():
    content = ImageBuffer(3, 2, 4, 16, bytearray(range(48)), x=-5, y=9)
    mask = ImageBuffer(3, 2, 1, 8, b"\x00\xff\x00\xff\x00\xff")
    frames = submit_frames({"content": content, "mask": mask}, method="masked", params={"size": 64})
    header, images = validate.parse_request(frames, LIMITS)
    assert header["type"] == "submit" and header["method"] == "masked" and header["params"] == {"size": 64}
    got = images["content"]
    assert (got.width, got.height, got.channels, got.depth, got.x, got.y) == (3, 2, 4, 16, -5, 9)
    assert bytes(got.data) == bytes(content.data)
    assert bytes(images["mask"].data) == bytes(mask.data)
    # The frame is referenced, not copied.
    assert got.data is content.data or memoryview(got.data).obj is content.data


@pytest.mark.parametrize("mutate, code, words", [
    (lambda h: h.update(v=2), protocol.BAD_VERSION, "version"),
    (lambda h: h.update(type="explode"), protocol.BAD_MESSAGE, "unknown request type"),
    (lambda h: h.update(surprise=1), protocol.BAD_MESSAGE, "unknown field"),
    (lambda h: h.pop("method"), protocol.BAD_MESSAGE, "lacks"),
    (lambda h: h.update(params=[1, 2]), protocol.BAD_MESSAGE, "params"),
    (lambda h: h.update(params={"size": [1]}), protocol.BAD_PARAMS, "size"),
    (lambda h: h["images"]["content"].update(width=11), protocol.BAD_MESSAGE, "bytes of pixels"),
    (lambda h: h["images"]["content"].update(channels=2), protocol.BAD_MESSAGE, "channels"),
    (lambda h: h["images"]["content"].update(depth=32), protocol.BAD_MESSAGE, "depth"),
    (lambda h: h["images"]["content"].update(width="10"), protocol.BAD_MESSAGE, "width"),
    (lambda h: h["images"]["content"].update(width=True), protocol.BAD_MESSAGE, "width"),
    (lambda h: h["images"]["content"].update(frame=3), protocol.BAD_MESSAGE, "frame"),
    (lambda h: h["images"]["content"].update(x=1.5), protocol.BAD_MESSAGE, "offset"),
    (lambda h: h["images"]["content"].update(width=100, height=101), protocol.TOO_LARGE, "megapixels"),
    (lambda h: h["images"]["content"].update(width=300, height=1), protocol.TOO_LARGE, "per side"),
    (lambda h: h["images"]["content"].update(width=1 << 40, height=1 << 40), protocol.TOO_LARGE, "megapixels"),
    (lambda h: h["images"]["content"].update(width=1 << 40, height=0), protocol.BAD_MESSAGE, "width"),
    (lambda h: h.update(rid="x"), protocol.BAD_MESSAGE, "rid"),
])
def test_each_field_is_validated(mutate, code, words):
    frames = submit_frames({"content": rgba(10, 10)})
    header = msgpack.unpackb(frames[0])
    mutate(header)
    frames[0] = msgpack.packb(header)
    with pytest.raises(ProtocolError) as err:
        validate.parse_request(frames, LIMITS)
    assert err.value.code == code
    assert words in err.value.message


def test_size_claims_are_refused_before_the_frames_are_read():
    """A header claiming a huge image with a tiny frame: refused from the header's numbers alone."""
    frames = submit_frames({"content": rgba(2, 2)})
    header = msgpack.unpackb(frames[0])
    header["images"]["content"].update(width=60000, height=60000)
    frames[0] = msgpack.packb(header)
    with pytest.raises(ProtocolError) as err:
        validate.parse_request(frames, dict(LIMITS, max_side=100000))
    assert err.value.code == protocol.TOO_LARGE


def test_message_size_limit_and_frame_count():
    frames = submit_frames({"content": rgba(100, 100)})
    with pytest.raises(ProtocolError) as err:
        validate.parse_request(frames, dict(LIMITS, max_message_bytes=30_000))
    assert err.value.code == protocol.TOO_LARGE
    with pytest.raises(ProtocolError, match="data frames"):
        validate.parse_request(frames + [b"extra"], LIMITS)
    with pytest.raises(ProtocolError, match="no data frames"):
        validate.parse_request([protocol.pack({"v": 1, "type": "handshake", "rid": 1}), b"x"], LIMITS)


def test_token_is_checked():
    frames = [protocol.pack({"v": 1, "type": "handshake", "rid": 3, "token": "wrong"})]
    with pytest.raises(ProtocolError) as err:
        validate.parse_request(frames, LIMITS, token="right")
    assert err.value.code == protocol.AUTH and err.value.rid == 3
    header, _ = validate.parse_request([protocol.pack({"v": 1, "type": "handshake", "token": "right"})],
                                       LIMITS, token="right")
    assert header["type"] == "handshake"


def test_endpoint_locality():
    assert endpoints.endpoint_is_local("tcp://127.0.0.1:7878")
    assert endpoints.endpoint_is_local("tcp://localhost:1")
    assert endpoints.endpoint_is_local("ipc:///tmp/painterly.sock")
    assert not endpoints.endpoint_is_local("tcp://0.0.0.0:7878")
    assert not endpoints.endpoint_is_local("tcp://*:7878")
    assert not endpoints.endpoint_is_local("tcp://192.168.1.4:7878")
    assert not endpoints.endpoint_is_local("ws://127.0.0.1:1")


def test_curve_keys_from_token_are_deterministic_and_distinct():
    a1, s1 = endpoints.curve_keys_from_token("token-a")
    a2, _ = endpoints.curve_keys_from_token("token-a")
    b, _ = endpoints.curve_keys_from_token("token-b")
    assert a1 == a2 and a1 != b and len(a1) == 40 and len(s1) == 40


# --- fuzzing the parser: anything the parser is given ends in a header or a ProtocolError --------------

json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20)

field_values = st.one_of(json_like, st.sampled_from([0, 1, -1, 2**31, 2**63 - 1, 3, 4, 8, 16, "", "echo", None]))


def _valid_header():
    return msgpack.unpackb(submit_frames({"content": rgba(4, 3)}, params={"iterations": 1})[0])


@st.composite
def mutated_submit(draw):
    header = _valid_header()
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(["top", "image", "params", "drop"]))
        if target == "top":
            header[draw(st.sampled_from(["v", "type", "rid", "method", "params", "images", "token", "x"]))] = \
                draw(field_values)
        elif target == "image" and isinstance(header.get("images"), dict) and \
                isinstance(header["images"].get("content"), dict):
            header["images"]["content"][draw(st.sampled_from(protocol.IMAGE_FIELDS + ("junk",)))] = \
                draw(field_values)
        elif target == "params" and isinstance(header.get("params"), dict):
            header["params"][draw(st.text(max_size=5))] = draw(field_values)
        elif header:
            header.pop(draw(st.sampled_from(sorted(header, key=str))), None)
    frames = [msgpack.packb(header, use_bin_type=True)]
    frames += draw(st.lists(st.binary(max_size=64), max_size=3)) if draw(st.booleans()) else [bytes(48)]
    return frames


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(mutated_submit(),
                 st.lists(st.binary(max_size=200), max_size=4),
                 json_like.map(lambda obj: [msgpack.packb(obj, use_bin_type=True)])))
def test_parser_never_fails_otherwise(frames):
    try:
        header, images = validate.parse_request(frames, LIMITS)
    except ProtocolError as exc:
        assert exc.code in (protocol.BAD_MESSAGE, protocol.BAD_VERSION, protocol.BAD_PARAMS, protocol.TOO_LARGE)
        assert isinstance(exc.message, str) and exc.message
        return
    assert header["type"] in protocol.REQUEST_TYPES
    for image in images.values():
        assert memoryview(image.data).nbytes == image.width * image.height * image.channels * image.depth // 8


# --- numpy conversions (daemon side) --------------------------------------------------------------

def test_buffers_round_trip_depths_and_alpha():
    rng = np.random.default_rng(1)
    rgb = rng.random((5, 7, 3)).astype(np.float32)
    alpha = rng.random((5, 7)).astype(np.float32)
    for depth in (8, 16):
        buf = buffers.from_float(rgb, alpha, depth, x=3, y=4)
        assert (buf.width, buf.height, buf.channels, buf.depth, buf.x, buf.y) == (7, 5, 4, depth, 3, 4)
        back_rgb, back_alpha = buffers.to_float(buf.check())
        tol = 0.5 / buffers.SCALE[depth] + 1e-6
        assert np.abs(back_rgb - rgb).max() <= tol and np.abs(back_alpha - alpha).max() <= tol


def test_result_alpha_is_output_alpha_times_base_alpha():
    base = np.zeros((2, 2, 4), np.uint8)
    base[..., 3] = [[255, 0], [128, 255]]
    base_buf = buffers.from_uint(base, x=10, y=20)
    out_alpha = np.array([[1.0, 1.0], [1.0, 0.0]], np.float32)
    result = buffers.result_buffer(np.ones((2, 2, 3), np.float32), out_alpha, base_buf)
    _, alpha = buffers.to_float(result)
    assert np.allclose(alpha, [[1, 0], [128 / 255, 0]], atol=1 / 255)
    assert (result.x, result.y, result.depth) == (10, 20, 8)


def test_float_inputs_travel_at_16_bits_losslessly_for_8_bit_images():
    levels = (np.arange(256, dtype=np.float32) / 255.0).reshape(16, 16)
    buf = buffers.array_to_buffer(np.stack([levels] * 3, axis=2))
    assert buf.depth == 16
    rgb, _ = buffers.to_float(buf)
    assert np.array_equal(np.round(rgb[..., 0] * 255), np.round(levels * 255))


def test_preview_is_small_rgb8():
    preview = buffers.preview_buffer(np.zeros((600, 300, 3), np.float32))
    assert (preview.width, preview.height, preview.channels, preview.depth) == (128, 256, 3, 8)

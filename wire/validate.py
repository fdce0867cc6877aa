"""Validation of requests on the daemon side: every field, size and frame of a message is checked against
the limits before anything is decoded or allocated. Pure Python 3.8+ (stdlib + msgpack), like the rest of
the wire."""
from __future__ import absolute_import

import hmac
import math

from .protocol import (AUTH, BAD_MESSAGE, BAD_PARAMS, BAD_VERSION, PROTOCOL_VERSION, REQUEST_TYPES, TOO_LARGE,
                       ProtocolError, decode_image, is_int, unpack_header)


def _check_fields(header, required, optional):
    allowed = set(required) | set(optional) | {"v", "type", "rid", "token"}
    unknown = [str(k) for k in header if k not in allowed]
    if unknown:
        raise ProtocolError(BAD_MESSAGE, "%s request has unknown field(s): %s"
                            % (header.get("type"), ", ".join(sorted(unknown))[:200]))
    missing = [k for k in required if k not in header]
    if missing:
        raise ProtocolError(BAD_MESSAGE, "%s request lacks field(s): %s" % (header.get("type"), ", ".join(missing)))


def _job_id(value):
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not value.replace("-", "").isalnum():
        raise ProtocolError(BAD_MESSAGE, "job must be a job id string, got %r" % (value,))
    return value


PARAM_VALUE_TYPES = (bool, int, float, str, type(None))


def parse_request(frames, limits, token=None, attach=None):
    """Validate a request (frames after the routing envelope). Returns ``(header, images)`` where
    images is ``{name: ImageBuffer}`` for submits. Raises ProtocolError with a readable message; the
    ``rid`` of the header (if one could be read) is in ``exc.rid`` for the error reply. A submit's pixels
    in shared memory (its ``shm`` field, checked here) are appended after the sent frames by
    ``attach(file, regions)`` (the daemon's; None where it takes none)."""
    rid = None
    try:
        if not frames:
            raise ProtocolError(BAD_MESSAGE, "empty message")
        total = sum(memoryview(getattr(f, "buffer", f)).nbytes for f in frames)
        if total > limits["max_message_bytes"]:
            raise ProtocolError(TOO_LARGE, "message of %d bytes is over the limit of %d"
                                % (total, limits["max_message_bytes"]))
        header = unpack_header(getattr(frames[0], "bytes", frames[0]), limits["max_header_bytes"])
        rid = header.get("rid")
        if not (rid is None or is_int(rid)) or (rid is not None and abs(rid) > 1 << 62):
            rid = None
            raise ProtocolError(BAD_MESSAGE, "rid must be an integer")
        version = header.get("v")
        if version != PROTOCOL_VERSION or not is_int(version):
            raise ProtocolError(BAD_VERSION, "protocol version %r is not supported; this daemon speaks version %d "
                                "(update the plugin or the daemon)" % (version, PROTOCOL_VERSION))
        kind = header.get("type")
        if kind not in REQUEST_TYPES:
            raise ProtocolError(BAD_MESSAGE, "unknown request type %r" % (kind,))
        if token is not None:
            given = header.get("token")
            if not isinstance(given, str) or not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
                raise ProtocolError(AUTH, "this daemon needs a valid access token (see its token file)")
        elif "token" in header and not isinstance(header["token"], str):
            raise ProtocolError(BAD_MESSAGE, "token must be a string")
        buffers = frames[1:]
        images = {}
        if kind == "submit":
            _check_fields(header, ("method", "params", "images"), ("preview_every", "live", "shm"))
            if not isinstance(header.get("live", False), bool):
                raise ProtocolError(BAD_MESSAGE, "live must be true or false")
            if "shm" in header:
                if attach is None:
                    raise ProtocolError(BAD_MESSAGE, "this daemon takes no shared memory on this endpoint: "
                                        "send the pixels as frames")
                field = check_shm_field(header["shm"], limits)
                buffers = list(buffers) + attach(field["file"], field["regions"])
            images = _parse_submit(header, buffers, limits)
        else:
            if buffers:
                raise ProtocolError(BAD_MESSAGE, "%s request takes no data frames" % kind)
            if kind in ("handshake", "shutdown"):
                _check_fields(header, (), ())
            elif kind == "status":
                _check_fields(header, (), ("job", "offset", "limit"))
                if header.get("job") is not None:
                    _job_id(header["job"])
                for field in ("offset", "limit"):
                    value = header.get(field)
                    if value is not None and (not is_int(value) or not 0 <= value <= 1 << 31):
                        raise ProtocolError(BAD_MESSAGE, "%s must be a whole number >= 0" % field)
            else:
                _check_fields(header, ("job",), ())
                _job_id(header["job"])
        return header, images
    except ProtocolError as exc:
        exc.rid = rid
        raise


def check_shm_field(field, limits):
    """A submit's ``shm`` field: ``{"file": name, "regions": [[offset, length], ...], "result": name}``."""
    if not isinstance(field, dict) or set(field) - {"file", "regions", "result"} or "file" not in field:
        raise ProtocolError(BAD_MESSAGE, "shm must be a map of file, regions and result")
    for key in ("file", "result"):
        if key in field and not (isinstance(field[key], str) and 0 < len(field[key]) <= 64):
            raise ProtocolError(BAD_MESSAGE, "shm %s must be a mapping's name" % key)
    regions = field.get("regions")
    if not isinstance(regions, list) or not 0 < len(regions) <= limits["max_images"]:
        raise ProtocolError(BAD_MESSAGE, "shm regions must be a list of 1 to %d regions" % limits["max_images"])
    total = 0
    for region in regions:
        if (not isinstance(region, list) or len(region) != 2 or not all(is_int(v) for v in region)
                or region[0] < 0 or region[1] < 0):
            raise ProtocolError(BAD_MESSAGE, "each shm region must be [offset, length] in bytes")
        total += region[1]
    if total > limits["max_message_bytes"]:
        raise ProtocolError(TOO_LARGE, "shared memory of %d bytes is over the limit of %d"
                            % (total, limits["max_message_bytes"]))
    return field


def _parse_submit(header, buffers, limits):
    method = header["method"]
    if not isinstance(method, str) or not 0 < len(method) <= 64:
        raise ProtocolError(BAD_MESSAGE, "method must be a method name")
    params = header["params"]
    if not isinstance(params, dict) or len(params) > limits["max_params"]:
        raise ProtocolError(BAD_MESSAGE, "params must be a map of at most %d entries" % limits["max_params"])
    for key, value in params.items():
        if not isinstance(key, str) or len(key) > 64:
            raise ProtocolError(BAD_MESSAGE, "parameter names must be short strings")
        if not isinstance(value, PARAM_VALUE_TYPES) or (isinstance(value, str) and len(value) > 1024):
            raise ProtocolError(BAD_PARAMS, "parameter %s must be a number, true/false or short text" % key)
        if isinstance(value, float) and not math.isfinite(value):
            raise ProtocolError(BAD_PARAMS, "parameter %s must be finite" % key)
    preview_every = header.get("preview_every")
    if preview_every is not None and (not is_int(preview_every) or not 0 <= preview_every <= 100000):
        raise ProtocolError(BAD_MESSAGE, "preview_every must be a whole number >= 0")
    descs = header["images"]
    if not isinstance(descs, dict) or not 0 < len(descs) <= limits["max_images"]:
        raise ProtocolError(BAD_MESSAGE, "images must be a map of 1 to %d images" % limits["max_images"])
    if len(buffers) != len(descs):
        raise ProtocolError(BAD_MESSAGE, "%d images described but %d data frames sent" % (len(descs), len(buffers)))
    # Sizes are checked against the limits before any frame is looked at.
    total_pixels = 0
    for name, desc in descs.items():
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise ProtocolError(BAD_MESSAGE, "image names must be short strings")
        if isinstance(desc, dict) and is_int(desc.get("width")) and is_int(desc.get("height")):
            total_pixels += max(0, desc["width"]) * max(0, desc["height"])
    if total_pixels > limits["max_pixels"]:
        raise ProtocolError(TOO_LARGE, "the job's images total %.1f megapixels, over the limit of %.1f megapixels"
                            % (total_pixels / 1e6, limits["max_pixels"] / 1e6))
    used = set()
    return dict((name, decode_image(name, desc, buffers, limits, used)) for name, desc in descs.items())

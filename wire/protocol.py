"""Painterly's wire protocol: versioned msgpack headers followed by raw pixel frames over ZeroMQ.

Pure Python (stdlib + pyzmq + msgpack, Python 3.8+) so that it runs inside GIMP's and Krita's own Python;
the plugins carry a copy of the ``wire`` package. Request validation (daemon side) is in :mod:`.validate`,
endpoints and access tokens in :mod:`.endpoints`.

Every message is a ZeroMQ multipart message ``[header, *buffers]``. ``header`` is a msgpack map with at
least ``{"v": PROTOCOL_VERSION, "type": ...}``; image pixels travel as separate raw frames (sent and
received without copying) that the header describes by index.

Requests (client -> daemon), each with an integer ``rid`` echoed in the reply and an optional ``token``:

* ``handshake``                      -> reply ``{protocol, version, methods, devices, limits}``
* ``submit`` ``method, params, images{name: image descriptor}, [preview_every]`` + one frame per image
                                     -> reply ``{job, state, position}``; no events follow until the
                                        client sends ``watch``
* ``watch`` ``job``                  -> reply ``{job: status}``; from then on the asker receives the
                                        job's events, and at once its result if it already finished
* ``cancel`` ``job``                 -> reply ``{job: status}``
* ``status`` ``[job]`` or ``[offset, limit]``
                                     -> reply ``{job: status}``, or the daemon's state with one page of
                                        its jobs: ``{jobs: [...], total, offset, next, counts{state: n},
                                        queue, workers, uptime, pid, endpoint}`` (``next``: the offset
                                        of the following page, or None)
* ``shutdown``                       -> reply ``{pid}``; the daemon stops

Only the user the daemon runs as reaches it: its ``ipc://`` socket lies in a folder of that user's and
the daemon checks each connecting process's user; over TCP every client must hold the user's token
(CURVE encryption with keys derived from it, and the ``token`` field of each request). So whoever may
send a request may also watch, cancel or list any job and stop the daemon: there is no other kind of
client.

Replies (daemon -> client): ``{"type": "reply", "rid", ...}`` or ``{"type": "error", "rid", "code",
"message"}``. Events (daemon -> client, after ``watch``): ``{"type": "event", "job", "event": "state" |
"progress" | "done" | "failed" | "cancelled", ...}``; ``progress`` may carry a ``preview`` image and
``done`` carries ``image`` (RGBA result) and ``meta``, each followed by its frame.

An image descriptor is ``{"width", "height", "channels", "depth", "x", "y", "frame"}`` where ``frame``
is the index of its buffer among the frames after the header. Validation never allocates pixel
memory: sizes are checked against the limits and the frame's length before anything is decoded.
"""
from __future__ import absolute_import

import msgpack

PROTOCOL_VERSION = 1

REQUEST_TYPES = ("handshake", "submit", "watch", "cancel", "status", "shutdown")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
FINAL_STATES = ("done", "failed", "cancelled")

CHANNELS = (1, 3, 4)
DEPTHS = (8, 16)

# Error codes (``DaemonError.code``).
BAD_MESSAGE = "bad_message"        # malformed frames/header, wrong types, unknown fields
BAD_VERSION = "bad_version"        # protocol version the daemon does not speak
AUTH = "auth"                      # missing or wrong token
UNKNOWN_METHOD = "unknown_method"
BAD_PARAMS = "bad_params"          # a parameter or input the method refuses
TOO_LARGE = "too_large"            # over a pixel/size/message limit
QUEUE_FULL = "queue_full"
NOT_FOUND = "not_found"            # unknown or expired job
ENGINE = "engine_error"            # the job failed while computing
CANCELLED = "cancelled"
INTERNAL = "internal"
UNAVAILABLE = "unavailable"        # client side: no daemon answering
TIMEOUT = "timeout"                # client side: the wait timed out

DEFAULT_LIMITS = {
    "max_pixels": 64 * 1024 * 1024,        # sum of width*height over a job's images
    "max_side": 32768,                     # longest side of one image
    "max_message_bytes": 768 * 1024 * 1024,
    "max_header_bytes": 256 * 1024,
    "max_images": 8,
    "max_params": 64,
    "max_queue": 32,
    "max_queue_bytes": 1024 * 1024 * 1024,  # pixel bytes of the jobs waiting or running, all together
    "max_peer_bytes": 64 * 1024 * 1024,     # bytes sent to one client and not yet taken by it (beyond
                                            # one message); further results wait until it reads
    "max_status_jobs": 100,                 # jobs in one page of a status reply
}


class DaemonError(Exception):
    """An error reported by (or about) the daemon; ``str(e)`` is a sentence a user can read."""

    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code
        self.message = message

    def __str__(self):
        return self.message


class DaemonUnavailable(DaemonError):
    """No daemon answering at the endpoint within the timeout."""

    def __init__(self, message, code=UNAVAILABLE):
        DaemonError.__init__(self, code, message)


class JobCancelled(DaemonError):
    """The job was cancelled (by this client or another)."""

    def __init__(self, message="The job was cancelled.", code=CANCELLED):
        DaemonError.__init__(self, code, message)


class ProtocolError(DaemonError):
    """A message that does not follow the protocol (raised while decoding, answered as an error)."""


def error_for(code, message):
    """The exception class a client raises for an error code."""
    if code == CANCELLED:
        return JobCancelled(message)
    if code == UNAVAILABLE:
        return DaemonUnavailable(message)
    return DaemonError(code, message)


class ImageBuffer(object):
    """Raw pixels of one layer/mask: rows top to bottom, channels R,G,B(,A) interleaved, 8 or 16 bits
    (16-bit little-endian). ``x``/``y`` is the buffer's offset in the application's canvas."""

    __slots__ = ("width", "height", "channels", "depth", "data", "x", "y")

    def __init__(self, width, height, channels, depth, data, x=0, y=0):
        self.width, self.height, self.channels, self.depth = width, height, channels, depth
        self.data, self.x, self.y = data, x, y

    @property
    def nbytes(self):
        return self.width * self.height * self.channels * self.depth // 8

    def check(self, name="image"):
        """Raise ProtocolError unless the fields are consistent (length = w*h*c*bytes)."""
        check_image_fields(name, self.width, self.height, self.channels, self.depth, self.x, self.y)
        size = memoryview(self.data).nbytes
        if size != self.nbytes:
            raise ProtocolError(BAD_MESSAGE, "%s: %d bytes of pixels, expected %dx%dx%dx%d bits = %d bytes"
                                % (name, size, self.width, self.height, self.channels, self.depth,
                                   self.nbytes))
        return self

    def descriptor(self, frame):
        return {"width": self.width, "height": self.height, "channels": self.channels,
                "depth": self.depth, "x": self.x, "y": self.y, "frame": frame}

    def __repr__(self):
        return "ImageBuffer(%dx%d, %d ch, %d bit, at %d,%d)" % (
            self.width, self.height, self.channels, self.depth, self.x, self.y)


class ProgressEvent(object):
    """One progress report of a job; ``preview`` is an RGB 8-bit ImageBuffer (longest side <= 256) or None."""

    __slots__ = ("job_id", "iteration", "total", "stage", "losses", "preview")

    def __init__(self, job_id, iteration, total, stage="", losses=None, preview=None):
        self.job_id, self.iteration, self.total, self.stage = job_id, iteration, total, stage
        self.losses = losses or {}
        self.preview = preview

    def __repr__(self):
        return "ProgressEvent(%s %d/%d %s)" % (self.job_id, self.iteration, self.total, self.stage)


class JobResult(object):
    """A finished job: ``image`` (RGBA, depth and x/y of the base input) and ``meta`` (method, params,
    timings...)."""

    __slots__ = ("job_id", "image", "meta")

    def __init__(self, job_id, image, meta):
        self.job_id, self.image, self.meta = job_id, image, meta

    def __repr__(self):
        return "JobResult(%s, %r)" % (self.job_id, self.image)


# --- encoding -------------------------------------------------------------------------------------

def pack(header):
    return msgpack.packb(header, use_bin_type=True)


def encode(header, images=None):
    """Frames for a message: ``header`` plus, for each (key, ImageBuffer) in ``images``, a descriptor in
    ``header[key]`` (nested ``header["images"][name]`` for keys of the form ``images/<name>``) and its
    raw buffer as a frame."""
    header = dict(header)
    header.setdefault("v", PROTOCOL_VERSION)
    frames = []
    for key, image in (images or {}).items():
        desc = image.descriptor(len(frames))
        frames.append(image.data)
        if key.startswith("images/"):
            header.setdefault("images", {})[key[len("images/"):]] = desc
        else:
            header[key] = desc
    return [pack(header)] + frames


# --- decoding ------------------------------------------------------------------------------------

def _refuse_ext(code, data):
    raise ValueError("msgpack extension types are not accepted")


def unpack_header(raw, max_bytes):
    """Decode a header frame with every msgpack size limit set to ``max_bytes``; it must be a map."""
    if len(raw) > max_bytes:
        raise ProtocolError(TOO_LARGE, "message header of %d bytes is over the limit of %d" % (len(raw), max_bytes))
    try:
        header = msgpack.unpackb(bytes(raw), raw=False, use_list=True, strict_map_key=True,
                                 ext_hook=_refuse_ext,
                                 max_str_len=max_bytes, max_bin_len=max_bytes, max_array_len=4096,
                                 max_map_len=4096, max_ext_len=0)
    except Exception as exc:  # any decoding failure is the sender's problem, reported as such
        raise ProtocolError(BAD_MESSAGE, "message header is not valid msgpack (%s)" % type(exc).__name__)
    if not isinstance(header, dict):
        raise ProtocolError(BAD_MESSAGE, "message header must be a map, got %s" % type(header).__name__)
    return header


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_image_fields(name, width, height, channels, depth, x=0, y=0):
    for field, value in (("width", width), ("height", height)):
        if not is_int(value) or not 1 <= value <= 1 << 20:
            raise ProtocolError(BAD_MESSAGE, "%s: %s must be a whole number of pixels, got %r" % (name, field, value))
    if channels not in CHANNELS or not is_int(channels):
        raise ProtocolError(BAD_MESSAGE, "%s: channels must be 1, 3 or 4, got %r" % (name, channels))
    if depth not in DEPTHS or not is_int(depth):
        raise ProtocolError(BAD_MESSAGE, "%s: depth must be 8 or 16 bits, got %r" % (name, depth))
    for field, value in (("x", x), ("y", y)):
        if not is_int(value) or abs(value) > 1 << 31:
            raise ProtocolError(BAD_MESSAGE, "%s: %s offset must be a whole number, got %r" % (name, field, value))


IMAGE_FIELDS = ("width", "height", "channels", "depth", "x", "y", "frame")


def decode_image(name, desc, frames, limits, used=None):
    """An ImageBuffer over ``frames[desc["frame"]]`` (no copy) after checking every field."""
    if not isinstance(desc, dict):
        raise ProtocolError(BAD_MESSAGE, "%s: image descriptor must be a map" % name)
    unknown = [k for k in desc if k not in IMAGE_FIELDS]
    missing = [k for k in ("width", "height", "channels", "depth", "frame") if k not in desc]
    if unknown or missing:
        raise ProtocolError(BAD_MESSAGE, "%s: image descriptor %s" % (
            name, "has unknown field(s) %s" % ", ".join(map(str, unknown)) if unknown
            else "lacks %s" % ", ".join(missing)))
    width, height, channels, depth = desc["width"], desc["height"], desc["channels"], desc["depth"]
    x, y = desc.get("x", 0), desc.get("y", 0)
    check_image_fields(name, width, height, channels, depth, x, y)
    if max(width, height) > limits["max_side"]:
        raise ProtocolError(TOO_LARGE, "%s: %dx%d is over the limit of %d pixels per side"
                            % (name, width, height, limits["max_side"]))
    if width * height > limits["max_pixels"]:
        raise ProtocolError(TOO_LARGE, "%s: %dx%d = %.1f megapixels is over the limit of %.1f megapixels"
                            % (name, width, height, width * height / 1e6, limits["max_pixels"] / 1e6))
    index = desc["frame"]
    if not is_int(index) or not 0 <= index < len(frames):
        raise ProtocolError(BAD_MESSAGE, "%s: frame index %r is not one of the %d frames sent"
                            % (name, index, len(frames)))
    if used is not None:
        if index in used:
            raise ProtocolError(BAD_MESSAGE, "%s: frame %d is used by two images" % (name, index))
        used.add(index)
    frame = frames[index]
    data = getattr(frame, "buffer", frame)
    expected = width * height * channels * depth // 8
    size = memoryview(data).nbytes
    if size != expected:
        raise ProtocolError(BAD_MESSAGE, "%s: %d bytes of pixels, expected %dx%dx%dx%d bits = %d bytes"
                            % (name, size, width, height, channels, depth, expected))
    return ImageBuffer(width, height, channels, depth, data, x, y)


def parse_reply(frames, max_header_bytes=DEFAULT_LIMITS["max_header_bytes"]):
    """Client side: (header, buffers) of a reply or event, checked just enough to be used safely."""
    if not frames:
        raise ProtocolError(BAD_MESSAGE, "empty reply from the daemon")
    header = unpack_header(getattr(frames[0], "bytes", frames[0]), max_header_bytes)
    if header.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(BAD_VERSION, "the daemon speaks protocol version %r, this client version %d "
                            "(update the plugin or the daemon)" % (header.get("v"), PROTOCOL_VERSION))
    return header, list(frames[1:])


def reply(rid, **fields):
    header = {"v": PROTOCOL_VERSION, "type": "reply", "rid": rid}
    header.update(fields)
    return header


def error_reply(rid, code, message):
    return {"v": PROTOCOL_VERSION, "type": "error", "rid": rid, "code": code, "message": message}


def event(job, kind, **fields):
    header = {"v": PROTOCOL_VERSION, "type": "event", "job": job, "event": kind}
    header.update(fields)
    return header

"""Client of the painterly daemon, used by the Krita and GIMP plugins and the ``painterly`` CLI.

Pure Python (stdlib + pyzmq + msgpack, Python 3.8+). One :class:`Client` holds one ZeroMQ DEALER socket;
use it from one thread at a time (calls are serialised by a lock).

    client = Client()                                   # the user's own daemon, or $PAINTERLY_ENDPOINT
    info = client.handshake()
    result = client.run("harmonize", {"quality": "preview"},
                        {"composite": ImageBuffer(w, h, 4, 8, rgba_bytes), "mask": ImageBuffer(w, h, 1, 8, m)},
                        on_progress=print)
    result.image  # RGBA ImageBuffer, same size, depth and x/y as the base input
"""
from __future__ import absolute_import

import itertools
import os
import struct
import threading
import time

import zmq

from . import protocol, shm
from .endpoints import (DEFAULT_ENDPOINT, curve_keys_from_token, default_endpoint, default_token_file,
                        ipc_problem, peer_problem, read_token)
from .protocol import (DaemonError, DaemonUnavailable, ImageBuffer, JobCancelled, JobResult,  # noqa: F401
                       ProgressEvent)

HEARTBEAT = 0.5  # seconds without news from the daemon before wait() asks it for the job's status

# Connection events that tell why a daemon that is there does not take this client (libzmq >= 4.3).
HANDSHAKE_OK = getattr(zmq, "EVENT_HANDSHAKE_SUCCEEDED", 0x1000)
HANDSHAKE_FAILED = (getattr(zmq, "EVENT_HANDSHAKE_FAILED_NO_DETAIL", 0x0800),
                    getattr(zmq, "EVENT_HANDSHAKE_FAILED_PROTOCOL", 0x2000),
                    getattr(zmq, "EVENT_HANDSHAKE_FAILED_AUTH", 0x4000))
# On ipc:// every connection's peer is checked (its user, from the kernel) before anything is sent.
CONNECTED, DISCONNECTED = zmq.EVENT_CONNECTED, zmq.EVENT_DISCONNECTED
_MONITORS = itertools.count(1)

__all__ = ["Client", "ImageBuffer", "DaemonError", "DaemonUnavailable", "JobCancelled", "JobResult",
           "ProgressEvent", "DEFAULT_ENDPOINT", "default_endpoint", "read_token"]


class Client(object):
    """Talks to one daemon. ``timeout`` (seconds) is how long a request, or a wait without any sign of
    life from the daemon, may take before :class:`DaemonUnavailable` is raised. On a local ``ipc://``
    socket, pixels go through shared memory (:mod:`.shm`; ``shared_memory=False`` sends them as frames): a
    result read that way is a view of this client's mapping, which is not reused while the view lives."""

    def __init__(self, endpoint=None, timeout=10.0, token=None, context=None, shared_memory=True):
        self.endpoint = endpoint or default_endpoint()
        self.timeout = float(timeout)
        if token is None:  # $PAINTERLY_TOKEN, else the user's token file, if any
            token = read_token()
        self.token = token or None
        self._context = context or zmq.Context.instance()
        self._lock = threading.RLock()
        self._rids = itertools.count(1)
        self._inbox = {}        # job id -> list of (header, frames) events not yet consumed
        self._finished = set()  # jobs whose final event was returned: later copies are dropped
        self._limits = None     # the daemon's limits, once a handshake told them
        self._socket = self._monitor = None
        self._refused = None    # why the endpoint is not to be trusted, or the last failed handshake
        self._peer = None       # ipc: True once the connected process is the user's, a sentence when it is not
        self._shm = shm.client_mappings(self.endpoint, shared_memory)
        self._connect()

    # --- socket --------------------------------------------------------------------------------

    def _connect(self):
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 0)   # never drop progress/result events on our side
        sock.setsockopt(zmq.IMMEDIATE, 1)  # queue nothing until a daemon has completed the handshake
        if self.token and self.endpoint.startswith("tcp://"):  # TCP daemons encrypt with the token's CURVE keys
            public, secret = zmq.curve_keypair()
            server_public, _ = curve_keys_from_token(self.token)
            sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = public, secret, server_public
        address = "inproc://painterly-client-monitor-%d-%d" % (os.getpid(), next(_MONITORS))
        events = HANDSHAKE_OK | HANDSHAKE_FAILED[0] | HANDSHAKE_FAILED[1] | HANDSHAKE_FAILED[2]
        self._peer = None
        if self._checks_peer():
            events |= CONNECTED | DISCONNECTED
        sock.monitor(address, events)
        monitor = self._context.socket(zmq.PAIR)
        monitor.setsockopt(zmq.LINGER, 0)
        monitor.connect(address)
        self._refused = ipc_problem(self.endpoint)
        if self._refused is None:
            sock.connect(self.endpoint)
        self._socket, self._monitor = sock, monitor

    def _reconnect(self):
        """A fresh socket, so replies meant for an abandoned request never reach the next one."""
        self._close_sockets()
        self._connect()

    def _close_sockets(self):
        if self._socket is not None:
            self._socket.disable_monitor()
            self._socket.close(linger=0)
            self._monitor.close(linger=0)
            self._socket = self._monitor = None

    def close(self):
        with self._lock:
            self._close_sockets()
            if self._shm is not None:
                self._shm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _checks_peer(self):
        return self.endpoint.startswith("ipc://")

    def _send(self, frames):
        if self.token is None and self.endpoint.startswith("tcp://"):
            self._refuse_without_token()
        # IMMEDIATE: nothing goes before a daemon has completed the handshake (and, on ipc, before its
        # process was found to be the user's). Wait for one within the timeout.
        deadline = time.monotonic() + self.timeout
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLOUT)
        poller.register(self._monitor, zmq.POLLIN)
        while True:
            if self._try_send(frames):
                return
            if time.monotonic() > deadline:
                raise self._unavailable()
            poller.poll(50)

    def _try_send(self, frames, copy=False):
        """Send now if the connected daemon is known to be trusted; False when it cannot take it yet."""
        self._check_handshake()
        if self._checks_peer() and self._peer is not True:
            return False
        try:
            self._socket.send_multipart(frames, copy=copy, flags=zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def _refuse_without_token(self):
        """Over TCP every painterly daemon needs the user's token, so without one nothing is ever sent:
        the connection's events only tell the user what listens there."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._monitor.poll(50):
                event = struct.unpack("=HI", self._monitor.recv_multipart()[0][:6])[0]
                if event == HANDSHAKE_OK:
                    self._reconnect()
                    raise DaemonError(protocol.AUTH, "What listens at %s takes clients without a token, so it is "
                                      "not a painterly daemon (over TCP they all need your token); nothing was "
                                      "sent to it." % self.endpoint)
                if event in HANDSHAKE_FAILED:
                    raise DaemonError(protocol.AUTH, self._handshake_message(event))
        raise self._unavailable()

    def _check_handshake(self):
        """Raise DaemonError(AUTH) when the endpoint is not to be trusted, or when what listens there
        refused this client's handshake or failed to prove that it holds the token."""
        while self._monitor.poll(0):
            event, value = struct.unpack("=HI", self._monitor.recv_multipart()[0][:6])
            if event == CONNECTED:
                self._peer = peer_problem(self.endpoint, value) or True
                if self._peer is not True:  # no more connections to what listens there
                    self._socket.disconnect(self.endpoint)
            elif event == DISCONNECTED:
                self._peer = None if self._peer is True else self._peer
            else:
                self._refused = None if event == HANDSHAKE_OK else self._handshake_message(event)
        if isinstance(self._peer, str):
            raise DaemonError(protocol.AUTH, self._peer)
        if self._refused is not None:
            raise DaemonError(protocol.AUTH, self._refused)

    def _handshake_message(self, event):
        if event == HANDSHAKE_FAILED[2]:
            return ("The painterly daemon at %s refused this client: it serves only the user it runs as."
                    % self.endpoint)
        if self.token is None:
            return ("The painterly daemon at %s needs an access token, and this client has none: put the "
                    "daemon's token in %s or in $PAINTERLY_TOKEN." % (self.endpoint, default_token_file()))
        return ("Could not authenticate the painterly daemon at %s with your token: it has another token "
                "(see %s), or it is not your daemon; nothing was sent to it." % (self.endpoint, default_token_file()))

    def _unavailable(self, what="answered"):
        return DaemonUnavailable("No painterly daemon %s at %s within %.0f s: start it with "
                                 "'painterly daemon' (or check the address)." % (what, self.endpoint, self.timeout))

    def _receive(self, timeout):
        """One message within ``timeout`` seconds, or None."""
        if not self._socket.poll(max(0, int(timeout * 1000))):
            return None
        frames = self._socket.recv_multipart(copy=False)
        self._check_handshake()  # a message from a process found not to be the user's daemon is not read
        return protocol.parse_reply(frames)

    def _request(self, header, images=None, timeout=None):
        """Send a request and return the reply header (+frames); events that arrive meanwhile are kept
        for wait()."""
        if self._socket is None:
            raise DaemonError(protocol.BAD_MESSAGE, "this client is closed")
        rid = next(self._rids)
        header = dict(header, rid=rid)
        if self.token is not None:
            header["token"] = self.token
        frames = protocol.encode(header, images)
        self._send(frames)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            message = self._receive(deadline - time.monotonic())
            if message is None:
                try:
                    self._check_handshake()
                finally:
                    self._reconnect()
                raise self._unavailable()
            head, data = message
            if head.get("type") == "event":
                self._stash(head, data)
                continue
            if head.get("rid") != rid:
                continue  # a late reply to an earlier, abandoned request
            if head.get("type") == "error":
                raise protocol.error_for(head.get("code"), head.get("message") or "the daemon refused the request")
            return head, data

    # --- API ------------------------------------------------------------------------------------

    def handshake(self):
        """``{"protocol", "version", "methods", "devices", "limits"}`` of the daemon."""
        with self._lock:
            head, _ = self._request({"type": "handshake"})
            info = dict((k, v) for k, v in head.items() if k not in ("v", "type", "rid"))
            self._limits = info.get("limits") or None
            return info

    def submit(self, method, params, images, preview_every=None, live=False):
        """Queue a job; returns its id. ``images`` maps the method's input names to ImageBuffers. A ``live``
        job (a preview that the next one replaces) is neither journaled nor stored: its result goes to the
        first client that watches it, then it is gone."""
        for name, image in images.items():
            image.check(name)
        limits = self._limits
        if limits and limits.get("max_pixels"):  # known from the handshake: refuse before sending megabytes
            pixels = sum(image.width * image.height for image in images.values())
            if pixels > limits["max_pixels"]:
                raise DaemonError(protocol.TOO_LARGE, "the job's images total %.1f megapixels, over the daemon's "
                                  "limit of %.1f megapixels" % (pixels / 1e6, limits["max_pixels"] / 1e6))
        header = {"type": "submit", "method": method, "params": dict(params or {}), "images": {}}
        if preview_every is not None:
            header["preview_every"] = int(preview_every)
        if live:
            header["live"] = True
        with self._lock:
            shared = self._shm is not None and shm.submit_images(self._shm, header, images)
            try:
                head, _ = self._request(header, None if shared else dict(("images/" + n, im) for n, im in images.items()))
            except Exception:
                if shared:
                    self._shm.abandon()
                raise
            if shared:
                self._shm.lend(head["job"])
            return head["job"]

    def cancel(self, job_id):
        with self._lock:
            self._request({"type": "cancel", "job": job_id})

    def status(self, job_id=None, offset=0, limit=None):
        """One job's status, or without a job id the daemon's state and one page of its jobs: ``{"jobs":
        [...] (at most ``limit``, from ``offset``, oldest first), "total", "next" (offset of the next page or
        None), "counts" {state: n}, "queue", "workers", ...}``."""
        header = {"type": "status"}
        if job_id is not None:
            header["job"] = job_id
        else:
            header["offset"] = int(offset)
            if limit is not None:
                header["limit"] = int(limit)
        with self._lock:
            head, _ = self._request(header)
            return head.get("job") if job_id is not None else dict(
                (k, v) for k, v in head.items() if k not in ("v", "type", "rid"))

    def shutdown(self):
        """Stop the daemon; returns ``{"pid"}`` of the daemon that stops."""
        with self._lock:
            head, _ = self._request({"type": "shutdown"})
            return dict((k, v) for k, v in head.items() if k not in ("v", "type", "rid"))

    def wait(self, job_id, on_progress=None, cancel_event=None, timeout=None):
        """Block until the job finishes; returns its :class:`JobResult`.

        Progress events go to ``on_progress`` (in this thread). Setting ``cancel_event`` cancels the job
        and raises :class:`JobCancelled`. The daemon is asked for the job's state whenever it has been
        quiet for a second; no sign of life within ``self.timeout`` raises :class:`DaemonUnavailable`.
        This also fetches the result of a job submitted by an earlier, disconnected client."""
        with self._lock:
            deadline = None if timeout is None else time.monotonic() + timeout
            self._finished.discard(job_id)
            self._request({"type": "watch", "job": job_id})
            last_news = time.monotonic()
            asked = None
            while True:
                if cancel_event is not None and cancel_event.is_set():
                    self._forget(job_id)
                    if self._shm is not None:  # the daemon may still read its inputs or write its result
                        self._shm.abandon(job_id)
                    self._request({"type": "cancel", "job": job_id})
                    raise JobCancelled("The job was cancelled.")
                pending = self._inbox.get(job_id)
                if pending:
                    head, data = pending.pop(0)
                    last_news = time.monotonic()
                    done = self._handle_event(job_id, head, data, on_progress)
                    if done is not None:
                        self._forget(job_id)
                        return done
                    continue
                now = time.monotonic()
                if deadline is not None and now > deadline:
                    raise DaemonError(protocol.TIMEOUT, "The job did not finish within %.0f s." % timeout)
                if asked is not None and now - asked > self.timeout:
                    try:
                        self._check_handshake()
                    finally:
                        self._reconnect()
                    raise DaemonUnavailable("The painterly daemon at %s stopped answering (no reply for %.0f s): "
                                            "it may have crashed or been stopped." % (self.endpoint, self.timeout))
                if asked is None and now - last_news > HEARTBEAT:
                    # Ask without waiting: the reply (or its absence) shows whether the daemon is alive.
                    asked = now
                    # not queued while disconnected (IMMEDIATE): no answer then means a dead daemon
                    self._try_send(protocol.encode({"type": "status", "job": job_id, "rid": -1,
                                                    **({"token": self.token} if self.token else {})}), copy=True)
                message = self._receive(0.1)
                if message is None:
                    continue
                head, data = message
                kind = head.get("type")
                if kind == "event":
                    self._stash(head, data)
                elif head.get("rid") == -1:
                    asked = None
                    last_news = time.monotonic()
                    if kind == "error":
                        raise protocol.error_for(head.get("code"), head.get("message"))

    def run(self, method, params, images, on_progress=None, cancel_event=None, timeout=None, preview_every=None,
            live=False):
        """submit + wait."""
        job_id = self.submit(method, params, images, preview_every=preview_every, live=live)
        return self.wait(job_id, on_progress=on_progress, cancel_event=cancel_event, timeout=timeout)

    def _stash(self, head, data):
        """Keep an event for a later wait() on its job (events of jobs already returned are dropped)."""
        job_id = head.get("job")
        if job_id not in self._finished:
            self._inbox.setdefault(job_id, []).append((head, data))

    def _forget(self, job_id):
        self._inbox.pop(job_id, None)
        self._finished.add(job_id)

    def _handle_event(self, job_id, head, data, on_progress):
        kind = head.get("event")
        if kind in ("failed", "cancelled", "done") and self._shm is not None:
            self._shm.returned(job_id)      # the daemon no longer reads the job's inputs
        if kind in ("failed", "cancelled"):
            self._forget(job_id)
        if kind == "progress":
            if on_progress is not None:
                preview = None
                desc = head.get("preview")
                if desc is not None:
                    preview = protocol.decode_image("preview", desc, data, _NO_LIMITS)
                on_progress(ProgressEvent(job_id, head.get("iteration", 0), head.get("total", 0),
                                          head.get("stage", ""), head.get("losses") or {}, preview))
            return None
        if kind == "done":
            image = (shm.result_image(self._shm, head.get("image"), ImageBuffer)
                     or protocol.decode_image("result", head.get("image"), data, _NO_LIMITS))
            return JobResult(job_id, image, head.get("meta") or {})
        if kind == "failed":
            raise protocol.error_for(head.get("code") or protocol.ENGINE,
                                     head.get("message") or "The job failed.")
        if kind == "cancelled":
            raise JobCancelled(head.get("message") or "The job was cancelled.")
        return None  # "state" and future event kinds: just a sign of life


_NO_LIMITS = {"max_side": 1 << 20, "max_pixels": 1 << 62}

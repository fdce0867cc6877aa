"""Acting as another local user (uid 65534, "nobody") from a test that runs as root: a forked child drops
to that user and runs a function with the modules already imported (this Python's own files may not be
readable by that user), then hands its JSON result back through a pipe. Below, what that user tries."""
import hashlib  # noqa: F401  (the client's CURVE keys; the other user may not be able to import it later)
import json
import os
import pathlib
import select
import signal
import socket
import stat
import struct
import time

import msgpack
import pytest
import zmq
import zmq.utils.z85  # noqa: F401  (see hashlib)

from painterly.wire import endpoints
from painterly.wire.client import Client, DaemonError

OTHER_UID = 65534


def other_user_unavailable():
    if not hasattr(os, "fork") or os.geteuid() != 0:
        return "acting as another user needs root (to switch to uid %d)" % OTHER_UID
    return None


def run_as_other_user(fn, *args, timeout=60.0):
    """``fn(*args)`` in a child running as uid/gid 65534; its return value (JSON-able), or
    ``{"error": "Type: message"}`` for an exception. Skips the test where switching users is impossible."""
    reason = other_user_unavailable()
    if reason:
        pytest.skip(reason)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(OTHER_UID)
            os.setuid(OTHER_UID)
            result = fn(*args)
        except BaseException as exc:  # reported to the parent, which asserts on it
            result = {"error": "%s: %s" % (type(exc).__name__, exc)}
        try:
            data = json.dumps(result, default=str).encode()
            while data:
                data = data[os.write(write_end, data):]
        except BaseException:
            status = 1
        os._exit(status)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(read_end)
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert chunks, "the child acting as uid %d reported nothing" % OTHER_UID
    return json.loads(b"".join(chunks))


# --- what the other user tries ----------------------------------------------------------------

def each_request_as_client(endpoint, running, finished, trust_endpoint=False):
    """(In the other user's process.) Every request a client can make, each one's outcome;
    ``trust_endpoint`` skips the client's own checks of the socket's owner and of the process it reached,
    to reach the daemon's."""
    if trust_endpoint:
        import painterly.wire.client
        painterly.wire.client.ipc_problem = lambda endpoint: None
        painterly.wire.client.peer_problem = lambda endpoint, fd: None
    outcomes = {}
    calls = {"handshake": lambda c: c.handshake(), "list": lambda c: c.status(),
             "fetch": lambda c: c.wait(finished, timeout=3), "watch": lambda c: c.status(running),
             "cancel": lambda c: c.cancel(running), "stop": lambda c: c.shutdown()}
    for name, call in calls.items():
        client = Client(endpoint, timeout=1.5)
        try:
            call(client)
            outcomes[name] = "ok"
        except DaemonError as exc:
            outcomes[name] = "%s: %s" % (exc.code, exc)
        finally:
            client.close()
    outcomes["token"] = endpoints.read_token()
    return outcomes


def raw_requests(endpoint, job, seconds=1.5):
    """(In the other user's process.) Hand-made requests on a bare socket, past any client-side check:
    the replies that came back and the connection events seen."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.monitor("inproc://raw-monitor", zmq.EVENT_ALL)
    monitor = ctx.socket(zmq.PAIR)
    monitor.connect("inproc://raw-monitor")
    sock.connect(endpoint)
    for rid, request in enumerate([{"type": "handshake"}, {"type": "status"}, {"type": "watch", "job": job},
                                   {"type": "cancel", "job": job}, {"type": "shutdown"}]):
        sock.send(msgpack.packb(dict(request, v=1, rid=rid)))
    replies, events, deadline = 0, [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sock.poll(50):
            sock.recv_multipart()
            replies += 1
        while monitor.poll(0):
            events.append(zmq.Event(struct.unpack("=HI", monitor.recv_multipart()[0][:6])[0]).name)
    sock.disable_monitor()
    sock.close(0)
    monitor.close(0)
    ctx.term()
    return {"replies": replies, "events": events}


class OpenedForOthers:
    """The socket's folders searchable and the socket writable by everyone, as a careless administrator
    might leave them: then only the daemon's own check of the connecting user stands in the way."""

    def __init__(self, endpoint):
        path = pathlib.Path(endpoints.ipc_path(endpoint))
        self.paths = [path] + [p for p in path.parents if p != pathlib.Path("/") and p != pathlib.Path("/tmp")]
        self.modes = {}

    def __enter__(self):
        for p in self.paths:
            self.modes[p] = stat.S_IMODE(os.lstat(p).st_mode)
            os.chmod(p, self.modes[p] | (0o777 if p == self.paths[0] else 0o711))
        return self

    def __exit__(self, *exc):
        for p, mode in self.modes.items():
            os.chmod(p, mode)


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def fake_daemon(port, curve, seconds):
    """(In the other user's process.) Listen on the port first, as an impostor would: what reached it."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    if curve:
        public, secret = zmq.curve_keypair()
        sock.curve_server, sock.curve_publickey, sock.curve_secretkey = True, public, secret
    sock.bind("tcp://127.0.0.1:%d" % port)
    received, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sock.poll(50):
            frames = sock.recv_multipart()
            received += 1
            sock.send_multipart([frames[0], msgpack.packb({"v": 1, "type": "reply", "rid": 1, "job": "f" * 32})])
    sock.close(0)
    ctx.term()
    return {"received": received}


def impostor_socket_in_own_folder(shared, seconds):
    """(In the other user's process.) A folder of its own next to the user's, with a socket in it."""
    folder = os.path.join(shared, "painterly-0")
    os.mkdir(folder, 0o777)
    os.chmod(folder, 0o777)
    return fake_ipc(folder, seconds)


def fake_ipc(folder, seconds):
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    path = os.path.join(folder, "daemon.sock")
    sock.bind("ipc://" + path)
    os.chmod(path, 0o777)
    received, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sock.poll(50):
            sock.recv_multipart()
            received += 1
    sock.close(0)
    ctx.term()
    return {"received": received}


def impostor_at(endpoint, seconds, delay=0.0):
    """(In the other user's process.) After ``delay`` seconds, listen at ``endpoint`` first, as an impostor
    would (making the socket's folder, open to all, when the endpoint has one), answering every message
    with a forged reply: how many messages reached it."""
    time.sleep(delay)
    path = endpoints.ipc_path(endpoint)
    if path:
        os.makedirs(os.path.dirname(path), 0o777, exist_ok=True)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint)
    if path:
        os.chmod(path, 0o777)
    received, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sock.poll(50):
            frames = sock.recv_multipart()
            received += 1
            sock.send_multipart([frames[0], msgpack.packb({"v": 1, "type": "reply", "rid": 1, "job": "f" * 32})])
    sock.close(0)
    ctx.term()
    return {"received": received}


def abstract_bound(name):
    """Whether some process listens on the abstract socket ``@name``."""
    with open("/proc/net/unix") as f:
        return any(line.rstrip().endswith(" @" + name) for line in f)

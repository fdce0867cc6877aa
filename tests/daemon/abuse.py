"""Abusive clients of the daemon (raw sockets, past any client-side check) and how to watch the daemon while
they run: its memory and another client's handshake time. Shared by the tests and bench/bench_abuse.py."""
import socket
import statistics
import struct
import threading
import time

import msgpack
import zmq

from painterly.wire.client import Client

from daemon_process import rss_mb

MB = 1 << 20


def _raw(endpoint, **options):
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name), value)
    sock.connect(endpoint)
    return ctx, sock


def _send(sock, parts, deadline):
    """Send ``(data, flags)`` parts until done or ``deadline``; how many the socket took (a socket whose
    connection was refused takes no more and would block)."""
    taken = 0
    for data, flags in parts:
        while True:
            try:
                sock.send(data, flags | zmq.NOBLOCK)
                taken += 1
                break
            except zmq.Again:
                if time.monotonic() > deadline:
                    return taken
                time.sleep(0.01)
    return taken


def _zmtp_connect(endpoint, timeout=5.0):
    """A bare socket that speaks ZMTP 3.0 (NULL mechanism, as a DEALER) to ``endpoint``: libzmq never sends
    a message before its last frame, a hand-written peer does. Returns the socket, or None when the other
    side ended the handshake."""
    if endpoint.startswith("ipc://"):
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(timeout)
        sock.connect(endpoint[len("ipc://"):])
    else:
        host, port = endpoint[len("tcp://"):].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout)
    try:
        sock.sendall(b"\xff" + bytes(8) + b"\x7f" + bytes([3, 0]) + b"NULL".ljust(20, b"\x00") + bytes(32))
        props = b"".join(bytes([len(k)]) + k + struct.pack(">I", len(v)) + v for k, v in ((b"Socket-Type", b"DEALER"),))
        body = bytes([5]) + b"READY" + props
        sock.sendall(bytes([0x04, len(body)]) + body)
        got = b""
        while len(got) < 64 + 2 + 6:           # the daemon's greeting and the start of its READY
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("handshake ended")
            got += chunk
        if got[66:72] != b"\x05READY":
            raise ConnectionError("handshake refused")
        time.sleep(0.2)
        return sock
    except OSError:
        sock.close()
        return None


def unfinished_multipart(endpoint, messages=3, frames=20, frame_mb=7, seconds=2.0):
    """Messages whose last frame never comes (written as ZMTP frames on a bare socket), kept open for
    ``seconds``; returns how many MiB the daemon's side took."""
    deadline, sent = time.monotonic() + seconds, 0
    sock = _zmtp_connect(endpoint)
    if sock is not None:
        frame = bytes([0x03]) + struct.pack(">Q", frame_mb * MB) + bytes(frame_mb * MB)   # MORE | LONG
        try:
            for _ in range(messages * frames):
                sock.sendall(frame)
                sent += frame_mb
        except OSError:  # the daemon closed the connection
            pass
        time.sleep(max(0.0, deadline - time.monotonic()))
        sock.close()
    return {"sent_mb": sent}


def many_frames(endpoint, count, wait=60.0):
    """One message of ``count`` empty frames; the reply's header, or None when none came."""
    ctx, sock = _raw(endpoint, SNDHWM=0)
    deadline = time.monotonic() + wait
    parts = ((b"", zmq.SNDMORE if i < count - 1 else 0) for i in range(count))
    reply = None
    if _send(sock, parts, deadline) == count and sock.poll(int(max(0.0, deadline - time.monotonic()) * 1000)):
        reply = msgpack.unpackb(sock.recv_multipart()[0])
    sock.close(0)
    ctx.term()
    return reply


def unread_watches(endpoint, job, count=40, seconds=2.0):
    """``count`` watch requests for one job from a client that never reads what comes back."""
    ctx, sock = _raw(endpoint, RCVHWM=1, RCVBUF=4096)
    deadline = time.monotonic() + seconds
    requests = ((msgpack.packb({"v": 1, "type": "watch", "rid": rid, "job": job}), 0) for rid in range(count))
    taken = _send(sock, requests, deadline)
    time.sleep(max(0.0, deadline - time.monotonic()))
    sock.close(0)
    ctx.term()
    return {"watches": taken}


def unread_handshakes(endpoint, count=12_000, seconds=3.0):
    """``count`` handshake requests from a client that never reads the replies (each ~11 KB)."""
    ctx, sock = _raw(endpoint, SNDHWM=0, RCVHWM=1, RCVBUF=4096)
    deadline = time.monotonic() + seconds
    request = msgpack.packb({"v": 1, "type": "handshake", "rid": 1})
    taken = _send(sock, ((request, 0) for _ in range(count)), deadline)
    time.sleep(max(0.0, deadline - time.monotonic()))
    sock.close(0)
    ctx.term()
    return {"handshakes": taken}


def handshake_seconds(endpoint, timeout=30):
    with Client(endpoint, timeout=timeout) as client:
        start = time.monotonic()
        client.handshake()
        return time.monotonic() - start


def while_running(pid, endpoint, work):
    """Run ``work()`` in a thread; meanwhile sample the daemon's RSS and another client's handshake time.
    Returns ``{"peak_mb", "after_mb"}`` (growth over the RSS before) and handshake ``latency_ms`` (max,
    median), plus ``result``: what ``work`` returned."""
    before, peak, latencies, out = rss_mb(pid), 0.0, [], {}
    thread = threading.Thread(target=lambda: out.update(result=work()))
    thread.start()
    time.sleep(0.05)
    while thread.is_alive():
        peak = max(peak, rss_mb(pid) - before)
        latencies.append(handshake_seconds(endpoint))
        time.sleep(0.05)
    thread.join()
    time.sleep(0.5)                      # what the flood left once its connection is gone
    after = rss_mb(pid) - before
    latencies = latencies or [handshake_seconds(endpoint)]
    return {"peak_mb": max(peak, after), "after_mb": after, "latency_ms": (max(latencies) * 1e3,
            statistics.median(latencies) * 1e3), "result": out.get("result")}

"""The two directions of the daemon's socket, each with a bound on memory.

* :class:`Receiver` reads one message at a time frame by frame, counting frames and bytes as they
  arrive: a message with more frames than any request has, or more bytes than the limit, is dropped
  frame by frame as it is read (never held) and answered with an error, so a million empty frames cost
  the time to read them and no memory.
* :class:`Outbox` sends without copying and keeps, for each client, the bytes libzmq still holds for it
  (tracked until the transport has taken them). Beyond ``max_peer_bytes`` a client's further results wait,
  as a note of what to send, until it reads; previews for it are skipped. A result is one shared buffer
  however many clients (or ``watch`` requests) it goes to.
"""
from __future__ import annotations

import collections

import zmq

from painterly.wire import protocol
from painterly.wire.protocol import ProtocolError

TRACK_FROM = 64 * 1024  # smaller messages are copied by pyzmq anyway and not worth tracking


class Receiver:
    def __init__(self, socket: zmq.Socket, limits: dict):
        self.socket = socket
        self.max_frames = 1 + limits["max_images"]
        self.max_bytes = limits["max_message_bytes"]
        self.max_header = limits["max_header_bytes"]

    def receive(self):
        """``(identity, frames, problem)`` of the next message, or None when none is waiting. ``problem``
        is a ProtocolError for a message refused while it was read; ``frames`` then holds at most its
        header (for the request id of the error reply)."""
        try:
            identity = self.socket.recv(zmq.NOBLOCK)
        except zmq.Again:
            return None
        frames, nbytes, problem = [], 0, None
        more = self.socket.getsockopt(zmq.RCVMORE)
        while more:
            frame = self.socket.recv(copy=False)
            more = frame.more
            if problem is not None:
                continue
            size = len(frame)
            nbytes += size
            if not frames and size > self.max_header:
                problem = ProtocolError(protocol.TOO_LARGE, "message header of %d bytes is over the limit of %d"
                                        % (size, self.max_header))
            elif len(frames) == self.max_frames:
                problem = ProtocolError(protocol.BAD_MESSAGE, "a request has at most %d frames (a header and "
                                        "one per image); the rest of this one was dropped" % self.max_frames)
            elif nbytes > self.max_bytes:
                problem = ProtocolError(protocol.TOO_LARGE, "message of more than %d bytes is over the limit"
                                        % self.max_bytes)
            if problem is None:
                frames.append(frame)
            else:
                del frames[1:]
        return identity, frames, problem


class _Peer:
    __slots__ = ("sent", "waiting")

    def __init__(self):
        self.sent = []                       # [(tracker, nbytes, job id)] not yet taken by the transport
        self.waiting = collections.deque()   # [(make() -> (header, frames), job id)] over the budget

    def settle(self):
        self.sent = [entry for entry in self.sent if not entry[0].done]
        return sum(entry[1] for entry in self.sent)


class Outbox:
    def __init__(self, socket: zmq.Socket, max_peer_bytes: int):
        self.socket = socket
        self.max_peer_bytes = max_peer_bytes
        self.peers: dict[bytes, _Peer] = {}

    def send(self, identity, header, frames=(), job_id=None, droppable=False, size=None, make=None):
        """Send ``header`` + ``frames`` to a client now if its budget allows (a client with nothing in flight
        may always take one message), else keep it for later; ``droppable`` messages are skipped instead.
        A big message may instead be given as ``make()`` -> (header, frames) plus its ``size``, so that a
        waiting result is read from disk only when it goes."""
        if size is None:
            size = sum(memoryview(f).nbytes for f in frames)
        peer = None
        if size >= TRACK_FROM:
            peer = self.peers.setdefault(identity, _Peer())
            held = peer.settle()
            if peer.sent and (held + size > self.max_peer_bytes or peer.waiting):
                if not droppable:
                    peer.waiting.append((make or (lambda: (header, frames)), job_id))
                return
        if make is not None:
            header, frames = make()
        tracker = self._send(identity, header, frames, track=peer is not None)
        if peer is not None:
            peer.sent.append((tracker, size, job_id))

    def pump(self):
        """Send what waits for clients that have read enough since; forget clients with nothing pending."""
        for identity, peer in list(self.peers.items()):
            held = peer.settle()
            while peer.waiting and (not peer.sent or held < self.max_peer_bytes):
                make, job_id = peer.waiting.popleft()
                header, frames = make()
                size = sum(memoryview(f).nbytes for f in frames)
                peer.sent.append((self._send(identity, header, frames, track=True), size, job_id))
                held += size
            if not peer.sent and not peer.waiting:
                del self.peers[identity]

    def pinned(self, job_id) -> bool:
        """Whether a result of this job is still in flight (its buffer must stay the one shared)."""
        return any(job_id == entry[2] for peer in self.peers.values() for entry in peer.sent)

    def held_bytes(self) -> int:
        return sum(peer.settle() for peer in self.peers.values())

    def _send(self, identity, header, frames, track=False):
        try:
            return self.socket.send_multipart([identity, protocol.pack(header), *frames], copy=False,
                                              track=track, flags=zmq.NOBLOCK)
        except zmq.ZMQError:  # client gone or its queue full: events are best-effort, results stay fetchable
            return _DONE


class _Done:
    done = True


_DONE = _Done()

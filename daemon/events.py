"""Worker and store threads report to the socket loop through one queue plus an inproc wake-up socket, so
the loop sleeps in its poll until there is news and a busy worker never delays a handshake or a cancel."""
from __future__ import annotations

import queue

import zmq


class EventChannel:
    """Owned by the socket-loop thread; other threads get a :meth:`sender` each."""

    def __init__(self, context: zmq.Context):
        self.context = context
        self.queue: queue.Queue = queue.Queue()
        self.address = f"inproc://painterly-wake-{id(self)}"
        self.wake = context.socket(zmq.PULL)
        self.wake.bind(self.address)

    def sender(self) -> "EventSender":
        return EventSender(self)

    def drain_wakeups(self):
        while True:
            try:
                self.wake.recv(zmq.NOBLOCK)
            except zmq.Again:
                return

    def pending(self):
        """The events sent so far, oldest first: (kind, job, header, frames)."""
        while True:
            try:
                yield self.queue.get_nowait()
            except queue.Empty:
                return

    def close(self):
        self.wake.close(linger=0)


class EventSender:
    """One thread's way to hand an event to the socket loop."""

    def __init__(self, channel: EventChannel):
        self.queue = channel.queue
        self.socket = channel.context.socket(zmq.PUSH)
        self.socket.connect(channel.address)

    def __call__(self, kind, job, header=None, frames=()):
        self.queue.put((kind, job, header, list(frames)))
        try:
            self.socket.send(b"", zmq.NOBLOCK)
        except zmq.Again:  # the loop is already due to wake up
            pass

    def close(self):
        self.socket.close(linger=0)

"""Who may talk to the daemon, decided before any of a client's messages is read.

* ``ipc://`` (the default): the socket lies in a folder only the user can enter, and a ZAP handler asks
  the kernel which user each connecting process runs as (SO_PEERCRED, which libzmq passes on): any user
  but the daemon's own is refused during the ZeroMQ handshake, so its messages are never read at all.
  An abstract socket (``ipc://@name``) has no folder: there a process whose user is unknown is refused too.
* ``tcp://``: CURVE encryption with keys derived from the user's token (see :mod:`.tokens`); a client
  that does not hold the token cannot complete the handshake, and each request carries the token too.
* One daemon per ``ipc://`` socket: a lock file next to it, held while the daemon runs.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import zmq

from painterly.wire.endpoints import HAS_OWNERS, ipc_path, long_path_problem, private_folder, runtime_folder

from .locks import AlreadyRunning, PidLock  # noqa: F401 (AlreadyRunning: where callers look for it)

log = logging.getLogger("painterly.daemon")

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"painterly"


def peer_uid(address: bytes) -> int | None:
    """The user id in a ZAP request's address for an ipc peer (``localhost:UID:GID:PID`` on Linux,
    ``:UID:GIDS:`` with LOCAL_PEERCRED), else None."""
    parts = address.decode("ascii", "replace").rsplit(":", 3)
    if len(parts) != 4:
        return None
    try:
        return int(parts[1])
    except ValueError:
        return None


class UserGate:
    """ZAP handler for an ``ipc://`` socket: only processes of the daemon's own user get in.

    Served from the socket loop (:meth:`handle` when :attr:`socket` is readable), so a refused process
    costs one short exchange and nothing else."""

    def __init__(self, context: zmq.Context, strict: bool = False):
        self.uid = os.getuid() if HAS_OWNERS else None
        self.strict = strict   # no folder stands guard: the peer's user must be known, and the daemon's
        self.socket = context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(ZAP_ENDPOINT)
        self.refused = 0

    @staticmethod
    def guard(sock: zmq.Socket):
        """Make ``sock``'s connections go through the handler (set before binding)."""
        sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)

    def handle(self):
        while True:
            try:
                request = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            version, request_id, address = request[0], request[1], request[3] if len(request) > 3 else b""
            uid = peer_uid(address)
            # Without credentials in the address (a system where libzmq cannot ask the kernel) the
            # folder's permissions are the only check; a reported user must be the daemon's own.
            ok = (self.uid is None or uid is None or uid == self.uid) and not (self.strict and uid is None)
            if not ok:
                self.refused += 1
                if self.refused <= 20 or self.refused % 1000 == 0:
                    log.warning("refused a connection from uid %s: this daemon serves uid %s only", uid, self.uid)
            self.socket.send_multipart([version, request_id, b"200" if ok else b"400",
                                        b"OK" if ok else b"another user", f"uid:{uid}".encode() if ok else b"",
                                        b""])

    def close(self):
        self.socket.close(linger=0)


class EndpointLock(PidLock):
    """``<socket>.lock`` next to an ipc socket, locked (flock) for as long as the daemon runs; holds its pid."""

    def __init__(self, endpoint: str):
        path = ipc_path(endpoint)
        super().__init__(Path(path + ".lock") if path else None,
                         f"another painterly daemon (pid {{pid}}) already listens on {endpoint}; stop it with "
                         "'painterly daemon stop' or choose another --endpoint")


def prepare_ipc(endpoint: str):
    """The socket's folder, made if needed, must be the user's and closed to others (PermissionError);
    the default folder is closed if it was not."""
    path = ipc_path(endpoint)
    if path is not None and long_path_problem(endpoint):
        raise PermissionError(f"cannot listen on {endpoint}: {long_path_problem(endpoint)}")
    if path is not None:
        folder = os.path.dirname(os.path.abspath(path))
        private_folder(folder, fix=os.path.abspath(folder) == os.path.abspath(runtime_folder()))

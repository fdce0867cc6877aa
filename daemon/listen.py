"""The daemon's listening socket: a ZeroMQ ROUTER with the access rules of its endpoint kind (see
:mod:`.access`) and ZeroMQ's own limits on what a client may send.

* ``ipc://PATH``: the socket's folder must be the user's own, one daemon per socket (a lock), and every
  connecting process's user is checked (:class:`~.access.UserGate`);
* ``ipc://@NAME`` (an abstract socket: no file, no folder): the same check of the connecting user, which
  then has to be known (a process whose user the kernel cannot tell is refused);
* ``tcp://``: loopback only without ``--auth token``, always with the user's token, CURVE-encrypted with
  keys derived from it.
"""
from __future__ import annotations

import os

import zmq

from painterly.wire.endpoints import curve_keys_from_token, endpoint_is_local, ipc_path, is_abstract

from .access import EndpointLock, UserGate, prepare_ipc


SEND_HWM = 1000


def claim(endpoint: str) -> EndpointLock | None:
    """Before the slow part of starting: an ipc socket's folder must be the user's own, and a second
    daemon on the socket fails at once (AlreadyRunning). The lock to keep while the daemon runs."""
    if ipc_path(endpoint) is None:
        return None
    prepare_ipc(endpoint)
    lock = EndpointLock(endpoint)
    lock.acquire()
    return lock


def check_auth(endpoint: str, token: str | None):
    if not endpoint_is_local(endpoint) and not token:
        raise PermissionError(f"refusing to listen on {endpoint}: it is not a loopback address, and that "
                              "needs authentication (add --auth token)")
    if endpoint.startswith("tcp://") and not token:
        raise PermissionError(f"refusing to listen on {endpoint} without a token: over TCP any local user "
                              "could connect, so TCP daemons need the user's token")


def listen(context: zmq.Context, endpoint: str, token: str | None, limits: dict):
    """``(socket, gate)``: the bound ROUTER and, on ipc, the user gate the socket loop serves."""
    check_auth(endpoint, token)
    sock = context.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    # Larger frames disconnect the peer inside libzmq, before the frame is allocated here.
    sock.setsockopt(zmq.MAXMSGSIZE, limits["max_message_bytes"])
    sock.setsockopt(zmq.RCVHWM, 64)
    # Replies and events a client has not read yet, per client: results are kept within max_peer_bytes by the
    # outbox; the rest are small (a handshake is ~11 KB), and beyond this many libzmq drops them, so a client
    # that never reads holds ~10 MB here, not 100+.
    sock.setsockopt(zmq.SNDHWM, SEND_HWM)
    gate = None
    if endpoint.startswith("ipc://"):
        gate = UserGate(context, strict=is_abstract(endpoint))
        UserGate.guard(sock)
    if token and endpoint.startswith("tcp://"):
        public, secret = curve_keys_from_token(token)
        sock.curve_server = True
        sock.curve_secretkey = secret
        sock.curve_publickey = public
    if endpoint.startswith("tcp://") and ("[" in endpoint or endpoint.count(":") > 2):
        sock.setsockopt(zmq.IPV6, 1)
    old_umask = os.umask(0o077)  # an ipc:// socket file only its owner can connect to
    try:
        sock.bind(endpoint)
    except zmq.ZMQError:
        sock.close(0)
        if gate is not None:
            gate.close()
        raise
    finally:
        os.umask(old_umask)
    return sock, gate

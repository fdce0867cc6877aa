"""Where the daemon listens and how each side proves who it is. Pure Python 3.8+ (stdlib + pyzmq).

* The default endpoint is per user: an ``ipc://`` socket in a folder only the user can enter
  (``$XDG_RUNTIME_DIR/painterly``, else ``~/.cache/painterly/run``). On Windows, which has no such
  socket here, it is loopback TCP with the user's token and CURVE encryption (see docs/daemon.md).
* A TCP daemon always needs the user's token: the client reads it from ``$PAINTERLY_TOKEN`` or the
  user-only token file, proves it in every request, and encrypts with CURVE keys derived from it, which
  also proves that the daemon holds the token (a process that took the port first cannot answer).
* Before using an ``ipc://`` socket the client checks that its folder and the socket are the user's own,
  and once connected, before sending anything, that the process at the other end runs as the user
  (:func:`peer_uid`, the kernel's answer); an abstract socket (``ipc://@name``, which has no folder) gets
  that check alone, and the daemon checks its clients' user the same way.
* No folder of another user's, or of a place others may write in, is ever used: when the user's own
  folder makes too long a socket path, the daemon and the client say so (:func:`ipc_problem`).
"""
from __future__ import absolute_import

import os
import stat

TCP_ENDPOINT = "tcp://127.0.0.1:7878"
SOCKET_NAME = "daemon.sock"
MIN_TOKEN_LENGTH = 32
MAX_IPC_PATH = 100      # sun_path holds 104-108 bytes depending on the system
HAS_IPC = os.name != "nt"
HAS_OWNERS = hasattr(os, "getuid")


def runtime_folder():
    """The user's folder for the daemon's socket: $XDG_RUNTIME_DIR/painterly, else ~/.cache/painterly/run.
    Never a shared temporary folder, where another user could make it first."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "painterly")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "painterly", "run")


def platform_default_endpoint():
    if not HAS_IPC:
        return TCP_ENDPOINT
    return "ipc://" + os.path.join(runtime_folder(), SOCKET_NAME)


DEFAULT_ENDPOINT = platform_default_endpoint()


def default_endpoint():
    """$PAINTERLY_ENDPOINT, else the user's own socket (:data:`DEFAULT_ENDPOINT`)."""
    return os.environ.get("PAINTERLY_ENDPOINT") or platform_default_endpoint()


def default_token_file():
    """$PAINTERLY_TOKEN_FILE, else painterly/daemon.token in the user's config folder (%APPDATA% on
    Windows)."""
    if os.environ.get("PAINTERLY_TOKEN_FILE"):
        return os.environ["PAINTERLY_TOKEN_FILE"]
    if os.name == "nt":
        base = os.environ.get("APPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Roaming")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "painterly", "daemon.token")


def read_token(path=None):
    """The access token from $PAINTERLY_TOKEN, else from the token file (``path`` or the default), or
    None when there is none or it cannot be read."""
    if path is None and os.environ.get("PAINTERLY_TOKEN"):
        return os.environ["PAINTERLY_TOKEN"].strip() or None
    try:
        with open(path or default_token_file()) as f:
            return f.read().strip() or None
    except (IOError, OSError, UnicodeDecodeError):
        return None


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def endpoint_is_local(endpoint):
    """True for ipc:// and tcp:// on a loopback address."""
    if endpoint.startswith("ipc://"):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://"):].rsplit(":", 1)[0]
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def ipc_path(endpoint):
    """The socket file of an ``ipc://`` endpoint, else None (abstract ``ipc://@name`` sockets too)."""
    if not endpoint.startswith("ipc://") or endpoint.startswith("ipc://@"):
        return None
    return endpoint[len("ipc://"):]


def is_abstract(endpoint):
    """An abstract socket (``ipc://@name``, Linux): a name with no file, so no folder to protect it."""
    return endpoint.startswith("ipc://@")


def long_path_problem(endpoint):
    """Why the socket file of ``endpoint`` cannot be used because its path is too long, or None."""
    path = ipc_path(endpoint)
    if path is None or len(path.encode("utf-8")) <= MAX_IPC_PATH:
        return None
    return ("the socket path %s is %d bytes, longer than a socket path may be (%d): set XDG_RUNTIME_DIR (or "
            "--endpoint / $PAINTERLY_ENDPOINT) to a shorter folder of your own, closed to others"
            % (path, len(path.encode("utf-8")), MAX_IPC_PATH))


def peer_uid(fd):
    """The user id of the process at the other end of the connected unix socket ``fd`` (SO_PEERCRED), or
    None where the system cannot tell (or ``fd`` is no longer such a socket)."""
    import socket
    import struct
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        sock = socket.fromfd(fd, socket.AF_UNIX, socket.SOCK_STREAM)  # a copy of the descriptor
    except (OSError, ValueError):
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    finally:
        sock.close()
    return struct.unpack("3i", creds)[1]


def peer_problem(endpoint, fd):
    """Client side, once connected to an ``ipc://`` endpoint: why the process on the other end of ``fd`` may
    not be the user's own daemon (a sentence), or None. "Cannot tell" is a problem only for an abstract
    socket, which has no folder whose owner vouches for it."""
    if not endpoint.startswith("ipc://") or not HAS_OWNERS:
        return None
    uid = peer_uid(fd)
    if uid is None and not is_abstract(endpoint):
        return None
    if uid == os.getuid():
        return None
    who = "an unknown user" if uid is None else "uid %d" % uid
    return ("Not sending anything to %s: the process listening there runs as %s, not as you (uid %d), so it "
            "is not your painterly daemon." % (endpoint, who, os.getuid()))


def _writable_by_others(st):
    return bool(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def folder_problem(folder):
    """Why ``folder`` is not a folder only this user controls (a sentence), or None."""
    try:
        st = os.lstat(folder)
    except OSError as exc:
        return "%s cannot be checked (%s)" % (folder, exc.strerror)
    if stat.S_ISLNK(st.st_mode):
        return "%s is a symbolic link" % folder
    if not stat.S_ISDIR(st.st_mode):
        return "%s is not a folder" % folder
    if HAS_OWNERS and st.st_uid != os.getuid():
        return "%s belongs to another user (uid %d)" % (folder, st.st_uid)
    if HAS_OWNERS and _writable_by_others(st):
        return "%s can be changed by other users (mode %o)" % (folder, st.st_mode & 0o777)
    return None


def ipc_problem(endpoint):
    """Client side: why the socket of ``endpoint`` may not be the user's own daemon (a sentence), or None.

    The socket's folder must be the user's and closed to others, so no other user can have put a socket
    there; a socket already there must be the user's too. A missing folder or socket is no problem here:
    nothing is listening, which the client reports as such."""
    path = ipc_path(endpoint)
    if path is None or not HAS_OWNERS:
        return None
    if long_path_problem(endpoint):
        return "Cannot use %s: %s." % (endpoint, long_path_problem(endpoint))
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.lexists(folder):
        return None
    problem = folder_problem(folder)
    if problem is None:
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if st.st_uid != os.getuid():
            problem = "%s belongs to another user (uid %d)" % (path, st.st_uid)
    if problem is None:
        return None
    return ("Not connecting to %s: %s, so it may not be your painterly daemon. Use a folder of your own "
            "(the default is %s)." % (endpoint, problem, platform_default_endpoint()))


def private_folder(folder, fix=False):
    """Make ``folder`` (mode 0700, parents as usual) if it is missing, and check that it is the user's own
    and closed to others. A folder of the user's that others can enter is closed (chmod 700) when ``fix``
    (painterly's own folders), else refused. Returns the path; raises PermissionError with a sentence."""
    if not os.path.lexists(folder):
        parent = os.path.dirname(os.path.abspath(folder))
        if not os.path.isdir(parent):
            os.makedirs(parent, exist_ok=True)
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
    problem = folder_problem(folder)
    if problem is not None and "can be changed" not in problem:
        raise PermissionError("%s; painterly keeps its files only in a folder of your own" % problem)
    mode = os.lstat(folder).st_mode & 0o777
    if HAS_OWNERS and mode & 0o077:
        if not fix:
            raise PermissionError("%s is open to other users (mode %o): painterly keeps its files only in a "
                                  "folder of your own (chmod 700 it, or choose another)" % (folder, mode))
        os.chmod(folder, 0o700)
    return folder


def curve_keys_from_token(token):
    """A CURVE key pair derived from the shared token: (public, secret), Z85-encoded bytes.

    The daemon encrypts TCP traffic with it; a client that knows the token derives the same server public
    key, so only token holders complete the CURVE handshake, and only a token holder can act as the
    daemon."""
    import hashlib
    import zmq
    from zmq.utils import z85
    secret = z85.encode(hashlib.sha256(b"painterly-curve:" + token.encode("utf-8")).digest())
    return zmq.curve_public(secret), secret


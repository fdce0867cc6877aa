"""Where the daemon listens and how clients prove who they are: the default endpoint, loopback checks,
the user's token file and the CURVE keys derived from a token. Pure Python 3.8+ (stdlib + pyzmq)."""
from __future__ import absolute_import

import os

DEFAULT_ENDPOINT = "tcp://127.0.0.1:7878"


def default_endpoint():
    return os.environ.get("PAINTERLY_ENDPOINT") or DEFAULT_ENDPOINT


def default_token_file():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "painterly", "daemon.token")


def read_token(path=None):
    """The shared access token from $PAINTERLY_TOKEN or the user-only token file, or None."""
    if path is None and os.environ.get("PAINTERLY_TOKEN"):
        return os.environ["PAINTERLY_TOKEN"].strip()
    path = path or os.environ.get("PAINTERLY_TOKEN_FILE") or default_token_file()
    try:
        with open(path) as f:
            return f.read().strip() or None
    except (IOError, OSError):
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


def curve_keys_from_token(token):
    """A CURVE key pair derived from the shared token: (public, secret), Z85-encoded bytes.

    The daemon encrypts non-loopback traffic with it; a client that knows the token derives the same
    server public key, so only token holders can complete the CURVE handshake at all."""
    import hashlib
    import zmq
    from zmq.utils import z85
    secret = z85.encode(hashlib.sha256(b"painterly-curve:" + token.encode("utf-8")).digest())
    return zmq.curve_public(secret), secret

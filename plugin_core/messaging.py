"""The daemon client inside an app: pyzmq and msgpack from the app's own Python, else the copies the
installer bundled in the plugin's ``vendor/`` folder, then the wire's client module.

A system copy always wins; the bundled one is put on ``sys.path`` only when importing the app's own
fails (what a failed import left behind is forgotten first). Pure Python 3.8+.
"""
import importlib
import os
import sys

from .errors import UserError

VENDOR_DIR = "vendor"
MODULES = ("zmq", "msgpack")


def have_messaging():
    """True when pyzmq and msgpack import (and are the real packages)."""
    try:
        import zmq
        import msgpack
        return hasattr(zmq, "Context") and hasattr(msgpack, "packb")
    except ImportError:
        return False


def use_vendored(vendor):
    """Put ``vendor`` first on sys.path, forgetting half-imported copies. False when it does not exist."""
    if not os.path.isdir(vendor):
        return False
    for name in list(sys.modules):
        if name.split(".")[0] in MODULES:
            del sys.modules[name]
    if vendor in sys.path:
        sys.path.remove(vendor)
    sys.path.insert(0, vendor)
    return True


def client_module(plugin_dir):
    """The wire's client module (``Client``, ``ImageBuffer``, the errors), or UserError saying what to do."""
    vendored = False
    if not have_messaging():
        vendored = use_vendored(os.path.join(plugin_dir, VENDOR_DIR))
    try:
        if vendored and not have_messaging():
            raise ImportError("the copies bundled in %s do not load in this Python %d.%d"
                              % (os.path.join(plugin_dir, VENDOR_DIR), sys.version_info[0], sys.version_info[1]))
        return importlib.import_module("..wire.client", __package__)
    except ImportError as exc:
        raise UserError("missing_dependency", "Painterly cannot talk to its daemon (%s). Run install.py again so "
                        "that it bundles pyzmq and msgpack for this application's Python %d.%d."
                        % (exc, sys.version_info[0], sys.version_info[1]))


def zmq_origin(plugin_dir):
    """Where zmq was imported from: "system", "vendored", or None when it is not imported."""
    mod = sys.modules.get("zmq")
    if mod is None or not getattr(mod, "__file__", None):
        return None
    vendor = os.path.abspath(os.path.join(plugin_dir, VENDOR_DIR))
    return "vendored" if os.path.abspath(mod.__file__).startswith(vendor + os.sep) else "system"


def default_endpoint():
    """Where the apps look for the daemon when the user named no endpoint (the wire's one default)."""
    from ..wire import endpoints
    return endpoints.default_endpoint()

"""The methods an app offers: from the daemon's handshake when it answers, else the copy of the last
handshake cached next to the plugin, else the declarations bundled at install time.

Files (JSON, in the plugin's folder): ``painterly_methods.json`` (the cached handshake: methods and
limits) and ``painterly_methods_bundled.json`` (written by the installer from the engine's declarations).
Pure Python 3.8+.
"""
import json
import os

from .declarations import methods_from_handshake

CACHE_FILE = "painterly_methods.json"
BUNDLED_FILE = "painterly_methods_bundled.json"
DEFAULT_METHOD = "harmonize"   # what the apps select until the user picks another (if the daemon has it)


class Catalog(object):
    """The offered methods (MethodSpecs, in the daemon's order), the daemon's limits, where they came
    from ("daemon", "cache", "bundled" or "none") and the sentences about methods left out."""

    def __init__(self, methods=(), limits=None, origin="none", problems=()):
        self.methods, self.limits, self.origin = list(methods), dict(limits or {}), origin
        self.problems = list(problems)

    @classmethod
    def from_handshake(cls, info, origin="daemon"):
        methods, problems = methods_from_handshake(info)
        return cls(methods, (info or {}).get("limits"), origin, problems)

    def __len__(self):
        return len(self.methods)

    def names(self):
        return [m.name for m in self.methods]

    def get(self, name):
        for method in self.methods:
            if method.name == name:
                return method
        return None

    def signature(self):
        """Everything the apps build from the catalog, for telling whether it changed."""
        return [(m.name, m.label, m.base_input, [(i.name, i.kind, i.required, i.region) for i in m.inputs],
                 [(p.name, p.type, p.default, p.min, p.max, p.choices, p.group) for p in m.params])
                for m in self.methods]

    def default(self, preferred=None):
        """The method named ``preferred`` when offered, else DEFAULT_METHOD, else the first one (or None)."""
        for name in (preferred, DEFAULT_METHOD):
            if name and self.get(name) is not None:
                return self.get(name)
        return self.methods[0] if self.methods else None


def _read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (IOError, OSError, ValueError):
        return None


def write_json(path, data):
    """Write ``data`` as JSON through a temporary file in the same folder, so a reader never sees half."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def load(folder):
    """The cached handshake, else the bundled declarations, else an empty catalog."""
    for name, origin in ((CACHE_FILE, "cache"), (BUNDLED_FILE, "bundled")):
        info = _read(os.path.join(folder, name))
        if isinstance(info, dict) and info.get("methods"):
            return Catalog.from_handshake(info, origin)
    return Catalog()


def remember(folder, info):
    """Cache a handshake's methods and limits; returns the Catalog it gives. A folder that cannot be written
    keeps its old cache (the catalog is still returned)."""
    catalog = Catalog.from_handshake(info)
    try:
        write_json(os.path.join(folder, CACHE_FILE), {"methods": info.get("methods") or [],
                                                      "limits": info.get("limits") or {}})
    except (IOError, OSError):
        pass
    return catalog


def refresh(client_module, folder, endpoint=None, timeout=2.0):
    """Ask the daemon (briefly) for its methods and cache them; when it does not answer, what load()
    finds. ``client_module`` is the wire's client module (see messaging.client_module)."""
    try:
        client = client_module.Client(endpoint or None, timeout=timeout)
    except Exception:   # noqa: BLE001 - no daemon client at all: what is on disk
        return load(folder)
    try:
        return remember(folder, client.handshake())
    except Exception:   # noqa: BLE001 - any failure means "not reachable now"
        return load(folder)
    finally:
        client.close()


def bundle(path, descriptions, limits=None):
    """Write the bundled declarations (the installer: every engine method's ``describe()``)."""
    write_json(path, {"methods": list(descriptions), "limits": dict(limits or {})})

"""What a user chose for one method, kept between runs and checked against the method's declaration:
its parameter values, where each of its further images comes from (its *sources*) and whether the base
image is what is visible or the active layer alone. Stored as JSON text. Pure Python 3.8+.
"""
import json

# Where an image input besides the base comes from.
BELOW = "below"        # what is visible below the active layer (Krita)
LAYER = "layer"        # a chosen layer
FILE = "file"          # an image file (Krita)
NONE = "none"          # not sent: the method's own default (optional inputs only)
SOURCE_KINDS = (BELOW, LAYER, FILE, NONE)
SOURCE_LABELS = {BELOW: "Visible layers below", LAYER: "A chosen layer", FILE: "An image file",
                 NONE: "None (the method's default)"}


class Source(object):
    """Where one image input comes from: ``kind`` and, for LAYER/FILE, the layer name or file path."""

    __slots__ = ("kind", "layer", "file")

    def __init__(self, kind=BELOW, layer="", file=""):
        self.kind, self.layer, self.file = kind, layer or "", file or ""

    def __eq__(self, other):
        return isinstance(other, Source) and (self.kind, self.layer, self.file) == (other.kind, other.layer, other.file)

    def __repr__(self):
        return "Source(%r, %r, %r)" % (self.kind, self.layer, self.file)

    def to_dict(self):
        return {"kind": self.kind, "layer": self.layer, "file": self.file}


def source_kinds(spec):
    """The kinds an input may come from: NONE only for optional ones."""
    return SOURCE_KINDS if not spec.required else SOURCE_KINDS[:-1]


def default_source(spec):
    """Required inputs: the visible layers below; optional ones: none (the method's own default)."""
    return Source(BELOW if spec.required else NONE)


class MethodSettings(object):
    """One method's choices: ``params`` {name: value}, ``sources`` {input name: Source}, ``sample_merged``
    (the base image is what is visible, not the active layer alone)."""

    def __init__(self, params, sources, sample_merged=True):
        self.params, self.sources, self.sample_merged = dict(params), dict(sources), bool(sample_merged)

    @classmethod
    def defaults(cls, method):
        return cls(method.defaults(), dict((s.name, default_source(s)) for s in method.sources))

    @classmethod
    def settle(cls, method, stored):
        """Settings for ``method`` from what was stored (a dict, JSON text or None): every value checked
        against the declaration, anything stale or unknown replaced by its default."""
        if isinstance(stored, (bytes, str)):
            try:
                stored = json.loads(stored or "{}")
            except ValueError:
                stored = {}
        stored = stored if isinstance(stored, dict) else {}
        params = stored.get("params") if isinstance(stored.get("params"), dict) else {}
        out = cls.defaults(method)
        out.params = method.settle(params)
        given = stored.get("sources") if isinstance(stored.get("sources"), dict) else {}
        for spec in method.sources:
            value = given.get(spec.name)
            if isinstance(value, dict) and value.get("kind") in source_kinds(spec):
                out.sources[spec.name] = Source(value["kind"], str(value.get("layer") or ""),
                                                str(value.get("file") or ""))
        if isinstance(stored.get("sample_merged"), bool):
            out.sample_merged = stored["sample_merged"]
        return out

    def to_json(self):
        return json.dumps({"params": self.params, "sample_merged": self.sample_merged,
                           "sources": dict((k, v.to_dict()) for k, v in self.sources.items())}, sort_keys=True)

"""The daemon's methods as the apps need them, read from its handshake (``Method.describe()`` on the engine
side): which inputs a method takes, which one is its base, which are masks and which must cover the
base's canvas region; its parameters with type, range, choices, default, help and basic/advanced group,
the widget each one gets, and the checking of values against the declaration. Pure Python 3.8+.
"""
import math
import re

TYPES = {"int": int, "float": float, "bool": bool, "str": str}
GROUPS = ("basic", "advanced")

# widget kinds, what both apps build for a parameter
SLIDER = "slider"      # float with a minimum and a maximum: a slider with a spin box
SPIN = "spin"          # int (or float without a full range): a spin box
COMBO = "combo"        # choices: a combo box
CHECK = "check"        # bool: a check box
TEXT = "text"          # free text

MAX_DECIMALS = 6


class DeclarationError(ValueError):
    """A method description the apps cannot use (malformed or of a kind they do not know)."""


def label_of(name):
    """``style_weight`` -> ``Style weight``."""
    text = name.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def _decimals(number):
    """Digits after the point needed to show ``number`` (at most MAX_DECIMALS)."""
    text = ("%.*f" % (MAX_DECIMALS, abs(float(number)))).rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


class Declared(object):
    """A declared parameter or input: the apps label it from its name."""

    @property
    def label(self):
        return label_of(self.name)


class ParamSpec(Declared):
    """One declared parameter."""

    def __init__(self, name, type, default, help="", min=None, max=None, choices=None, group="advanced"):
        if type not in TYPES:
            raise DeclarationError("parameter %r has a type the apps do not know: %r" % (name, type))
        self.name, self.type, self.help = name, type, help or ""
        self.min, self.max = min, max
        self.choices = tuple(choices) if choices is not None else None
        if self.choices is not None and default not in self.choices:
            self.choices = None   # choices without the default (e.g. no style models installed): free text
        self.group = group if group in GROUPS else "advanced"
        self.default = self.validate(default)

    @classmethod
    def from_description(cls, desc):
        try:
            return cls(desc["name"], desc["type"], desc.get("default"), desc.get("help", ""), desc.get("min"),
                       desc.get("max"), desc.get("choices"), desc.get("group", "advanced"))
        except (KeyError, TypeError) as exc:
            raise DeclarationError("malformed parameter description %r: %s" % (desc, exc))
        except ValueError as exc:
            raise DeclarationError("parameter %r: its default is not valid: %s" % (desc.get("name"), exc))

    def __repr__(self):
        return "ParamSpec(%r, %r, %r)" % (self.name, self.type, self.default)

    @property
    def basic(self):
        return self.group == "basic"

    @property
    def widget(self):
        if self.choices is not None:
            return COMBO
        if self.type == "bool":
            return CHECK
        if self.type == "str":
            return TEXT
        if self.type == "float" and self.min is not None and self.max is not None:
            return SLIDER
        return SPIN

    @property
    def zero_text(self):
        """What a number widget shows for 0 when the help says what 0 means, "(0 = preset)": that word when it
        is one ("preset", "off"), else "auto" ("0 = from the budget"); None otherwise (0 is just 0)."""
        if self.type not in ("int", "float") or self.min != 0:
            return None
        found = re.search(r"\(0 = ([^,;)]+)", self.help)
        if found is None:
            return None
        words = found.group(1).split()
        return words[0] if len(words) == 1 else "auto"

    @property
    def decimals(self):
        """Decimals a float's spin box shows: enough for the default and the limits, at least two."""
        numbers = [n for n in (self.default, self.min, self.max) if n is not None]
        return max([2] + [_decimals(n) for n in numbers])

    @property
    def step(self):
        """A spin box's step: a hundredth of the range, else one unit of the last decimal shown times 10."""
        if self.type == "int":
            return 1
        if self.min is not None and self.max is not None and self.max > self.min:
            return max((self.max - self.min) / 100.0, 10.0 ** -self.decimals)
        return 10.0 ** (1 - self.decimals)

    def validate(self, value):
        """``value`` in the declared type and limits, or ValueError with a sentence (the daemon's rules)."""
        if self.type == "bool":
            if not isinstance(value, bool):
                raise ValueError("%s must be on or off, got %r" % (self.label, value))
            return value
        if self.type in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError("%s must be a number, got %r" % (self.label, value))
            if self.type == "int":
                if float(value) != int(value):
                    raise ValueError("%s must be a whole number, got %r" % (self.label, value))
                value = int(value)
            else:
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError("%s must be a finite number, got %r" % (self.label, value))
            if self.min is not None and value < self.min:
                raise ValueError("%s must be at least %s, got %s" % (self.label, self.min, value))
            if self.max is not None and value > self.max:
                raise ValueError("%s must be at most %s, got %s" % (self.label, self.max, value))
            return value
        if not isinstance(value, str):
            raise ValueError("%s must be text, got %r" % (self.label, value))
        if self.choices is not None and value not in self.choices:
            raise ValueError("%s must be one of %s, got %r" % (self.label, ", ".join(map(str, self.choices)), value))
        return value

    def coerce(self, value):
        """Like validate(), but also reads the value from its text form (settings files store text)."""
        if isinstance(value, str) and self.type != "str":
            text = value.strip().lower()
            if self.type == "bool" and text in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                value = text in ("true", "1", "yes", "on")
            elif self.type in ("int", "float"):
                try:
                    value = float(text) if self.type == "float" or "." in text or "e" in text else int(text)
                except ValueError:
                    raise ValueError("%s must be a number, got %r" % (self.label, value))
        return self.validate(value)

    def text(self, value):
        """A short words-and-value form for layer names: ``preview``, ``strength 0.5``, ``smooth``."""
        if self.choices is not None:
            return str(value)
        if self.type == "bool":
            return self.label.lower() if value else "no " + self.label.lower()
        if self.type == "float":
            return "%s %s" % (self.label.lower(), "%g" % value)
        return "%s %s" % (self.label.lower(), value)


class InputSpec(Declared):
    """One declared input image. ``region`` "base": it covers the base input's canvas region pixel for
    pixel (masks always do); "whole": any picture will do, e.g. a style painting."""

    def __init__(self, name, kind="rgb", required=True, help="", region="whole"):
        self.name, self.kind, self.required, self.help = name, kind, bool(required), help or ""
        self.region = "base" if kind == "mask" else (region if region in ("base", "whole") else "whole")

    @classmethod
    def from_description(cls, desc):
        try:
            return cls(desc["name"], desc.get("kind", "rgb"), desc.get("required", True), desc.get("help", ""),
                       desc.get("region", "whole"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise DeclarationError("malformed input description %r: %s" % (desc, exc))

    def __repr__(self):
        return "InputSpec(%r, %r)" % (self.name, self.kind)

    @property
    def is_mask(self):
        return self.kind == "mask"

    @property
    def aligned(self):
        """True when it must cover the same canvas region as the base input."""
        return self.region == "base"


class MethodSpec(object):
    """One declared method: its inputs and parameters."""

    def __init__(self, name, label, summary, base_input, inputs, params):
        self.name, self.summary = name, summary or ""
        self.label = label or label_of(name)
        self.inputs, self.params = list(inputs), list(params)
        names = [i.name for i in self.inputs]
        if base_input not in names:
            raise DeclarationError("method %r: its base input %r is not among its inputs" % (name, base_input))
        self.base_input = base_input

    @classmethod
    def from_description(cls, desc):
        try:
            inputs = [InputSpec.from_description(i) for i in desc.get("inputs") or []]
            params = [ParamSpec.from_description(p) for p in desc.get("params") or []]
            images = [i.name for i in inputs if not i.is_mask]
            # daemons without base_input in their handshake: the first image input
            base = desc.get("base_input") or (images[0] if images else None)
            return cls(desc["name"], desc.get("label"), desc.get("summary", ""), base, inputs, params)
        except (KeyError, TypeError, AttributeError) as exc:
            raise DeclarationError("malformed method description: %s" % exc)

    def __repr__(self):
        return "MethodSpec(%r)" % self.name

    @property
    def base(self):
        return self.input(self.base_input)

    def input(self, name):
        for spec in self.inputs:
            if spec.name == name:
                return spec
        return None

    @property
    def masks(self):
        return [i for i in self.inputs if i.is_mask]

    @property
    def sources(self):
        """The image inputs besides the base (style paintings, label maps...): each needs a source."""
        return [i for i in self.inputs if not i.is_mask and i.name != self.base_input]

    @property
    def needs_mask(self):
        return any(i.required for i in self.masks)

    def param(self, name):
        for spec in self.params:
            if spec.name == name:
                return spec
        return None

    def params_in(self, group):
        return [p for p in self.params if p.group == group]

    def defaults(self):
        return dict((p.name, p.default) for p in self.params)

    def settle(self, stored):
        """Every declared parameter with its stored value where that is still valid, else its default;
        names the method no longer declares are dropped (settings outlive declarations)."""
        stored = stored or {}
        out = {}
        for spec in self.params:
            try:
                out[spec.name] = spec.coerce(stored[spec.name]) if spec.name in stored else spec.default
            except ValueError:
                out[spec.name] = spec.default
        return out

    def check(self, values):
        """Values from a dialog or a script: every one valid and declared (ValueError with a sentence),
        the missing ones at their defaults."""
        unknown = sorted(set(values) - set(p.name for p in self.params))
        if unknown:
            raise ValueError("%s has no parameter %s (it has: %s)" % (
                self.label, ", ".join(unknown), ", ".join(p.name for p in self.params) or "none"))
        out = self.defaults()
        for spec in self.params:
            if spec.name in values:
                out[spec.name] = spec.coerce(values[spec.name])
        return out

    def describe_values(self, values):
        """The basic parameters' values in a few words (for the result layer's name)."""
        return ", ".join(p.text(values.get(p.name, p.default)) for p in self.params if p.basic)


def methods_from_handshake(info):
    """(methods, problems): the usable MethodSpecs of a handshake, in the daemon's order, and a sentence
    for each method left out."""
    methods, problems = [], []
    for desc in (info or {}).get("methods") or []:
        try:
            methods.append(MethodSpec.from_description(desc))
        except DeclarationError as exc:
            problems.append(str(exc))
    return methods, problems

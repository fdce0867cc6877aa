"""One GIMP procedure per daemon method, its arguments generated from the method's declaration.

Procedure ``plug-in-painterly-<method>`` (menu Filters > Artistic > <label>...) takes every declared
parameter as an argument of its type and limits (a float, an int, a check box, a choice, text), one
layer argument per image input besides the base (``<input>-layer``), and the plug-in's own:
``sample-merged`` (the base is what is visible), ``margin`` (context around the selection, px) and
``endpoint``. Argument names are the parameter names with "-" for "_". Values read back from a run's
config are checked against the declaration by the plugin core.
"""
import sys

from gi.repository import GObject, Gimp

from painterly_client.plugin_core import geometry

PREFIX = "plug-in-painterly-"
MENU = "<Image>/Filters/Artistic"
OWN_ARGUMENTS = ("sample-merged", "margin", "endpoint")
INT_RANGE = (-2 ** 31, 2 ** 31 - 1)
FLOAT_RANGE = (-sys.float_info.max, sys.float_info.max)
RW = GObject.ParamFlags.READWRITE
RESERVED_MNEMONICS = "chlors"   # the dialog's own buttons: Cancel, Help, Load/Save settings, OK, Reset


def procedure_name(method_name):
    return PREFIX + method_name.replace("_", "-")


def argument(name):
    """A declared name as a GIMP argument name (no clash with the plug-in's own arguments)."""
    arg = name.replace("_", "-").lower()
    return "param-" + arg if arg in OWN_ARGUMENTS else arg


def source_argument(spec):
    return argument(spec.name) + "-layer"


def choice_nick(value):
    """A choice value as a GIMP choice nick (lower-case letters, digits and "-")."""
    return "".join(c if c.isalnum() else "-" for c in str(value).lower())


def with_mnemonics(texts, reserved):
    """The texts with "_" before a letter or digit each, none twice and none of ``reserved`` (GimpUi wants
    one per widget); the text with the fewest free characters left chooses next. A text without a free
    character shares one."""
    used, out, left = set(reserved), list(texts), list(range(len(texts)))

    def free(i):
        return set(c.lower() for c in texts[i] if c.isalnum()) - used

    while left:   # the text with the fewest free characters now chooses next
        index = min(left, key=lambda i: len(free(i)))
        left.remove(index)
        text = texts[index]
        spare = [p for p, c in enumerate(text) if c.isalnum() and c.lower() not in used]
        # none free: share a letter (GTK cycles between widgets with the same one) rather than have none
        pos = spare[0] if spare else next((p for p, c in enumerate(text) if c.isalnum()), None)
        if pos is not None:
            used.add(text[pos].lower())
            out[index] = text[:pos] + "_" + text[pos:]
    return out


def labels(method):
    """The dialog's labels with their mnemonics: {argument name: label}, the OK button's under "ok"."""
    names = ["ok"] + [source_argument(s) for s in method.sources] + ["sample-merged"]
    texts = [method.label] + [s.label + " layer" for s in method.sources] + ["Sample merged"]
    for spec in method.params_in("basic") + method.params_in("advanced"):
        names.append(argument(spec.name))
        texts.append(spec.label)
    names += ["margin", "endpoint"]
    texts += ["Context margin", "Daemon address"]
    return dict(zip(names, with_mnemonics(texts, RESERVED_MNEMONICS)))


def add_param(procedure, spec, label):
    arg, help_text = argument(spec.name), spec.help or spec.label
    if spec.choices is not None:
        choice = Gimp.Choice.new()
        for index, value in enumerate(spec.choices):
            choice.add(choice_nick(value), index, str(value), "")
        procedure.add_choice_argument(arg, label, help_text, choice, choice_nick(spec.default), RW)
    elif spec.type == "bool":
        procedure.add_boolean_argument(arg, label, help_text, spec.default, RW)
    elif spec.type == "int":
        low = int(spec.min) if spec.min is not None else INT_RANGE[0]
        high = int(spec.max) if spec.max is not None else INT_RANGE[1]
        procedure.add_int_argument(arg, label, help_text, low, high, spec.default, RW)
    elif spec.type == "float":
        low = float(spec.min) if spec.min is not None else FLOAT_RANGE[0]
        high = float(spec.max) if spec.max is not None else FLOAT_RANGE[1]
        procedure.add_double_argument(arg, label, help_text, low, high, spec.default, RW)
    else:
        procedure.add_string_argument(arg, label, help_text, spec.default, RW)


def add_arguments(procedure, method, default_endpoint):
    """Every argument of ``method``'s procedure."""
    label = labels(method)
    for spec in method.sources:
        extra = "" if spec.required else " (optional: none = the method's own default)"
        procedure.add_layer_argument(source_argument(spec), label[source_argument(spec)],
                                     (spec.help or spec.label) + extra, True, RW)
    procedure.add_boolean_argument(
        "sample-merged", label["sample-merged"], "The %s is what is visible (all layers merged), e.g. an object "
        "pasted as its own layer over the painting; off: the active layer alone" % method.base.label.lower(),
        True, RW)
    for spec in method.params:
        add_param(procedure, spec, label[argument(spec.name)])
    procedure.add_int_argument("margin", label["margin"], "Pixels of surroundings sent around the selection "
                               "(-1: automatic, half the object's size plus %d)" % geometry.AUTO_MARGIN_EXTRA,
                               geometry.AUTO_MARGIN, 4096, geometry.AUTO_MARGIN, RW)
    procedure.add_string_argument("endpoint", label["endpoint"], "The painterly daemon's endpoint (empty: "
                                  "$PAINTERLY_ENDPOINT, else your own daemon's socket, %s)" % default_endpoint,
                                  "", RW)


def dialog_arguments(method):
    """(basic, advanced) argument names, in the declaration's order, for the dialog."""
    basic = [source_argument(s) for s in method.sources] + ["sample-merged"]
    basic += [argument(p.name) for p in method.params if p.basic]
    advanced = [argument(p.name) for p in method.params if not p.basic] + ["margin", "endpoint"]
    return basic, advanced


def read_params(method, config):
    """The parameter values of a run, checked against the declaration (ValueError with a sentence)."""
    values = {}
    for spec in method.params:
        value = config.get_property(argument(spec.name))
        if spec.choices is not None:
            by_nick = dict((choice_nick(c), c) for c in spec.choices)
            value = by_nick.get(value, value)
        values[spec.name] = value
    return method.check(values)


def read_sources(method, config):
    """{input name: the layer chosen for it, or None}."""
    return dict((spec.name, config.get_property(source_argument(spec))) for spec in method.sources)

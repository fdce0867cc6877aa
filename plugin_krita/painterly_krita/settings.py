"""The docker's settings, kept in kritarc's [painterly] section: the plugin's own (method, daemon
endpoint and device, context margin, the result mask's grow and feather) and one JSON entry per method
(its parameters, the source of each of its images, sample merged), checked against the method's
declaration when read back."""
import os

from krita import Krita

from .painterly_client.plugin_core import geometry
from .painterly_client.plugin_core.settings import MethodSettings

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
GROUP = "painterly"
METHOD_KEY = "method.%s"
DEVICES = ("auto", "cpu", "cuda")
# the plugin's own settings: name -> default (their type is the default's)
DEFAULTS = {"method": "", "endpoint": "", "device": "auto", "context": geometry.AUTO_MARGIN,
            "grow": 4, "feather": 4}
LIMITS = {"context": (geometry.AUTO_MARGIN, 4096), "grow": (0, 256), "feather": (0, 256)}


def load():
    """The plugin's own settings, each of its default's type and within its limits."""
    app = Krita.instance()
    out = {}
    for key, default in DEFAULTS.items():
        raw = app.readSetting(GROUP, key, str(default))
        try:
            value = int(raw) if isinstance(default, int) else str(raw)
        except ValueError:
            value = default
        low, high = LIMITS.get(key, (None, None))
        if low is not None and not low <= value <= high:
            value = default
        out[key] = value
    if out["device"] not in DEVICES:
        out["device"] = DEFAULTS["device"]
    return out


def save(values):
    app = Krita.instance()
    for key in DEFAULTS:
        if key in values:
            app.writeSetting(GROUP, key, str(values[key]))


def load_method(method):
    """A method's settings, checked against its declaration (stale values give way to the defaults)."""
    return MethodSettings.settle(method, Krita.instance().readSetting(GROUP, METHOD_KEY % method.name, ""))


def save_method(method_name, method_settings):
    Krita.instance().writeSetting(GROUP, METHOD_KEY % method_name, method_settings.to_json())

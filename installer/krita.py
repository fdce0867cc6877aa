"""Install the Krita plugin (plugin_krita/painterly_krita) into a Krita profile.

Puts ``painterly_krita/`` and ``painterly_krita.desktop`` into the profile's ``pykrita`` folder, adds the
wire and the plugin core (``painterly_client``), the engine's method declarations and how to run the
``painterly`` command, and, when Krita's own Python lacks them, pyzmq + msgpack wheels
built for that Python's version/ABI (``vendor/``), then enables the plugin in kritarc
(``[python] enable_painterly_krita=true``).  ``--uninstall`` removes all of it.
"""
from __future__ import annotations

import glob
import os
import platform
import shutil
import sys
from pathlib import Path

from installer import common

NAME = "painterly_krita"
SOURCE = common.REPO / "plugin_krita"
ENABLE_KEY = f"enable_{NAME}"


def add_arguments(parser) -> None:
    group = parser.add_argument_group("Krita plugin")
    group.add_argument("--krita-resources", metavar="DIR", type=Path,
                       help="Krita resources folder to install into (default: the user's, e.g. "
                            "~/.local/share/krita); the plugin goes into DIR/pykrita")
    group.add_argument("--krita-config", metavar="FILE", type=Path,
                       help="kritarc to enable the plugin in (default: next to the resources folder's "
                            "profile, e.g. ~/.config/kritarc)")
    group.add_argument("--krita-python-version", metavar="X.Y",
                       help="version of Krita's own Python (default: detected from Krita's Python plugin "
                            "library, else this Python's)")
    group.add_argument("--krita-prefix", metavar="DIR", type=Path, default=Path("/"),
                       help="root of the Krita installation to inspect (default /; e.g. a chroot)")
    group.add_argument("--krita-vendor", choices=("auto", "always", "never"), default="auto",
                       help="bundle pyzmq/msgpack for Krita's Python: when it lacks them (auto), always, never")
    group.add_argument("--no-krita", action="store_true", help="skip the Krita plugin")


# --- where Krita keeps things ------------------------------------------------------------------------

def default_resources() -> Path:
    system = platform.system()
    if system == "Windows":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "krita"
    if system == "Darwin":
        return Path.home() / "Library" / "Application Support" / "krita"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "krita"


def default_config(resources: Path) -> Path:
    """kritarc that goes with a resources folder: HOME/.config/kritarc for HOME/.local/share/krita."""
    parts = resources.resolve().parts
    if parts[-3:] == (".local", "share", "krita"):
        return Path(*parts[:-3]) / ".config" / "kritarc"
    system = platform.system()
    if system == "Windows":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "kritarc"
    if system == "Darwin":
        return Path.home() / "Library" / "Preferences" / "kritarc"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kritarc"


def pykrita_library(prefix: Path):
    """Krita's Python-plugin library (it links the Python Krita embeds), or None."""
    patterns = ["usr/lib/*/kritaplugins/kritapykrita.so", "usr/lib*/kritaplugins/kritapykrita.so",
                "usr/local/lib*/kritaplugins/kritapykrita.so", "usr/local/lib/*/kritaplugins/kritapykrita.so",
                "Applications/krita.app/Contents/PlugIns/kritapykrita.so",
                "Program Files/Krita (x64)/lib/kritaplugins/kritapykrita.dll"]
    for pattern in patterns:
        hits = sorted(glob.glob(str(prefix / pattern)))
        if hits:
            return Path(hits[0])
    return None


def krita_python_version(args, log) -> str:
    if args.krita_python_version:
        return args.krita_python_version
    lib = pykrita_library(args.krita_prefix)
    version = common.python_version_of_library(lib) if lib else None
    if version:
        log(f"Krita's Python is {version} (from {lib})")
        return version
    version = "%d.%d" % sys.version_info[:2]
    log(f"Krita's Python plugin library not found under {args.krita_prefix}: assuming Python {version} "
        "(use --krita-python-version)")
    return version


def krita_python_has_deps(args, version: str):
    """True/False when known whether Krita's Python imports zmq and msgpack, None when unknown."""
    prefix = args.krita_prefix
    if prefix.resolve() == Path("/"):
        exe = shutil.which(f"python{version}")
        return common.app_python_has(exe, common.VENDORED_MODULES)
    # another root (e.g. a chroot): look for the packages where that system's Python finds them
    dirs = [prefix / "usr/lib/python3/dist-packages", prefix / f"usr/lib/python{version}/site-packages",
            prefix / f"usr/local/lib/python{version}/dist-packages"]
    if not any(d.is_dir() for d in dirs):
        return None
    return all(any((d / m).is_dir() for d in dirs) for m in common.VENDORED_MODULES)


# --- kritarc -----------------------------------------------------------------------------------------

def set_ini_value(path: Path, section: str, key: str, value) -> None:
    """Set (or with value None remove) key in [section] of a QSettings ini file, keeping everything else
    as it is (configparser would lower-case keys and rewrite the file)."""
    lines = path.read_text().splitlines() if path.exists() else []
    out, in_section, done, seen_section = [], False, False, False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if in_section and not done and value is not None:
                out.append(f"{key}={value}")
                done = True
            in_section = stripped == f"[{section}]"
            seen_section = seen_section or in_section
        elif in_section and stripped.split("=", 1)[0].strip() == key:
            if value is not None and not done:
                out.append(f"{key}={value}")
                done = True
            continue
        out.append(line)
    if value is not None and not done:
        if not seen_section:
            if out and out[-1].strip():
                out.append("")
            out.append(f"[{section}]")
        out.append(f"{key}={value}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")


def remove_ini_section(path: Path, section: str) -> None:
    """Drop [section] and its keys from an ini file (the docker's settings on uninstall)."""
    out, skip = [], False
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            skip = stripped == f"[{section}]"
        if not skip:
            out.append(line)
    path.write_text("\n".join(out) + "\n")


# --- install / uninstall -----------------------------------------------------------------------------

def _targets(args):
    resources = args.krita_resources or default_resources()
    config = args.krita_config or default_config(resources)
    return resources, config


def install(args, log) -> bool:
    if args.no_krita:
        return False
    resources, config = _targets(args)
    if not args.krita_resources and not resources.exists() and not shutil.which("krita"):
        log(f"Krita not found (no {resources}): Krita plugin skipped (use --krita-resources DIR)")
        return False
    pykrita = resources / "pykrita"
    dest = pykrita / NAME
    pykrita.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(SOURCE / NAME, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "vendor",
                                                                       "painterly_client"))
    shutil.copy2(SOURCE / f"{NAME}.desktop", pykrita / f"{NAME}.desktop")
    common.copy_client(dest)
    common.write_plugin_data(dest)

    version = krita_python_version(args, log)
    has = krita_python_has_deps(args, version)
    vendor = args.krita_vendor == "always" or (args.krita_vendor == "auto" and not has)
    if vendor:
        why = "as asked" if args.krita_vendor == "always" else (
            "Krita's Python lacks them" if has is False else "cannot tell whether Krita's Python has them")
        try:
            common.vendor_packages(dest, version, log)
            log(f"bundled pyzmq + msgpack for Python {version} ({why})")
        except (RuntimeError, ValueError) as exc:
            log(f"warning: {exc}. The plugin will ask for pyzmq/msgpack (e.g. apt install python3-zmq "
                "python3-msgpack) until this succeeds.")
    else:
        log("Krita's Python has pyzmq and msgpack: nothing bundled")
    set_ini_value(config, "python", ENABLE_KEY, "true")
    log(f"Krita plugin installed in {dest} and enabled in {config}; restart Krita, then use "
        "Tools > Scripts > Harmonize Selection and Settings > Dockers > Painterly")
    return True


def uninstall(args, log) -> bool:
    resources, config = _targets(args)
    pykrita = resources / "pykrita"
    removed = False
    if (pykrita / NAME).exists():
        shutil.rmtree(pykrita / NAME)
        removed = True
    if (pykrita / f"{NAME}.desktop").exists():
        (pykrita / f"{NAME}.desktop").unlink()
        removed = True
    if config.exists():
        set_ini_value(config, "python", ENABLE_KEY, None)
        remove_ini_section(config, "painterly")       # the docker's settings
    log(f"Krita plugin removed from {pykrita}" if removed else f"no Krita plugin found in {pykrita}")
    return removed


def main(argv=None) -> int:
    """``python -m installer.krita [--uninstall] [--krita-resources DIR] ...``: only the Krita plugin (what
    ``install.py`` does for Krita, without the package/torch/weights steps)."""
    import argparse
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    parser.add_argument("--uninstall", action="store_true", help="remove the Krita plugin")
    args = parser.parse_args(argv)

    def log(msg):
        print(f"[painterly] {msg}", flush=True)
    if args.uninstall:
        uninstall(args, log)
    else:
        install(args, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Install the GIMP 3 plug-in into a user's GIMP profile.

Layout (what GIMP 3 requires: the folder and the script share a name, and the script is executable):

    <profile>/plug-ins/painterly/painterly.py                  (the plug-in: one procedure per method)
    <profile>/plug-ins/painterly/*.py                          (its other modules)
    <profile>/plug-ins/painterly/painterly_client/             (copy of the wire and the plugin core)
    <profile>/plug-ins/painterly/painterly_methods_bundled.json (the engine's method declarations)
    <profile>/plug-ins/painterly/install_info.json             (how to run the painterly command)
    <profile>/plug-ins/painterly/vendor/                       (pyzmq + msgpack, only when needed)

At run time the plug-in adds ``painterly_methods.json``, its copy of the daemon's last handshake.

The profile is ``--gimp-profile DIR``, else $GIMP3_DIRECTORY, else every GIMP 3 profile found in the usual
places (native, Flatpak, Snap; Windows and macOS locations too).
"""
from __future__ import annotations

import glob
import os
import platform
import shutil
import sys
from pathlib import Path

from installer import common

PLUGIN_NAME = "painterly"
FORMER_NAMES = ("painterly-harmonize",)     # earlier versions' folders, replaced by this one
SOURCE = common.REPO / "plugin_gimp" / PLUGIN_NAME


def add_arguments(parser) -> None:
    group = parser.add_argument_group("GIMP 3 plug-in")
    group.add_argument("--gimp-profile", metavar="DIR", action="append",
                       help="GIMP 3 profile folder to install into (a GIMP3_DIRECTORY; repeatable). "
                            "Default: $GIMP3_DIRECTORY, else the GIMP 3 profiles found on this machine")
    group.add_argument("--gimp-python", metavar="EXE",
                       help="the Python GIMP runs plug-ins with (default: read from GIMP's pygimp.interp)")
    group.add_argument("--gimp-python-version", metavar="3.X",
                       help="version of GIMP's Python, when it cannot be run from here (e.g. 3.13)")
    group.add_argument("--gimp-vendor", choices=("auto", "always", "never"), default="auto",
                       help="bundle pyzmq/msgpack wheels with the plug-in: auto = when GIMP's Python lacks them "
                            "or cannot be checked (default)")


def candidate_profiles() -> list[Path]:
    home = Path.home()
    system = platform.system()
    if system == "Windows":
        bases = [Path(os.environ.get("APPDATA", home / "AppData" / "Roaming"))]
    elif system == "Darwin":
        bases = [home / "Library" / "Application Support"]
    else:
        bases = [Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config"),
                 home / ".var" / "app" / "org.gimp.GIMP" / "config",
                 home / "snap" / "gimp" / "current" / ".config"]
    return [base / "GIMP" / "3.0" for base in bases]


def profiles(args) -> tuple[list[Path], bool]:
    """(profiles, explicit): explicit ones are created when missing, found ones must exist."""
    if getattr(args, "gimp_profile", None):
        return [Path(p).expanduser() for p in args.gimp_profile], True
    if os.environ.get("GIMP3_DIRECTORY"):
        return [Path(os.environ["GIMP3_DIRECTORY"]).expanduser()], True
    return [p for p in candidate_profiles() if p.is_dir()], False


def gimp_python(args) -> str | None:
    """The interpreter GIMP runs Python plug-ins with, from GIMP's interpreter file, when found."""
    if getattr(args, "gimp_python", None):
        return args.gimp_python
    patterns = ["/usr/lib/*/gimp/3.0/interpreters/pygimp.interp", "/usr/lib/gimp/3.0/interpreters/pygimp.interp",
                "/usr/local/lib/gimp/3.0/interpreters/pygimp.interp",
                "/Applications/GIMP*.app/Contents/Resources/lib/gimp/3.0/interpreters/pygimp.interp",
                os.path.expandvars(r"%ProgramFiles%\GIMP 3\lib\gimp\3.0\interpreters\pygimp.interp")]
    for pattern in patterns:
        for interp in glob.glob(pattern):
            for line in Path(interp).read_text(errors="replace").splitlines():
                if line.startswith("python=") or line.startswith("python3="):
                    exe = line.split("=", 1)[1].strip()
                    if exe and Path(exe).exists():
                        return exe
    return None


def vendor_if_needed(dest: Path, args, log) -> None:
    policy = getattr(args, "gimp_vendor", "auto")
    vendor_dir = dest / common.VENDOR_DIR
    if policy == "never":
        return
    exe = gimp_python(args)
    version = getattr(args, "gimp_python_version", None) or (common.python_version_of(exe) if exe else None)
    if policy == "auto":
        has = common.app_python_has(exe) if exe else None
        if has:
            log(f"GIMP's Python ({exe}) has pyzmq and msgpack: nothing to bundle")
            return
        if version is None:
            log("GIMP's Python could not be checked and its version is unknown: pyzmq/msgpack not bundled "
                "(pass --gimp-python-version 3.X to bundle them)")
            return
    elif version is None:
        raise SystemExit("--gimp-vendor always needs GIMP's Python version: pass --gimp-python-version 3.X")
    try:
        common.vendor_packages(dest, version, log)
    except (RuntimeError, OSError) as exc:
        if vendor_dir.exists():
            shutil.rmtree(vendor_dir)
        if policy == "always":
            raise SystemExit(f"bundling pyzmq/msgpack for GIMP failed: {exc}")
        log(f"warning: {exc}; the plug-in will need pyzmq and msgpack in GIMP's Python")


def install_into(profile: Path, args, log) -> Path:
    dest = profile / "plug-ins" / PLUGIN_NAME
    kept_vendor = None
    if dest.exists():    # an update: replace everything, but keep already-downloaded wheels meanwhile
        if (dest / common.VENDOR_DIR).is_dir():
            kept_vendor = dest.parent / (PLUGIN_NAME + ".vendor-old")
            shutil.rmtree(kept_vendor, ignore_errors=True)
            (dest / common.VENDOR_DIR).rename(kept_vendor)
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for former in FORMER_NAMES:
        shutil.rmtree(profile / "plug-ins" / former, ignore_errors=True)
    for source in sorted(SOURCE.glob("*.py")):
        shutil.copy2(source, dest / source.name)
    (dest / (PLUGIN_NAME + ".py")).chmod(0o755)
    common.copy_client(dest)
    common.write_plugin_data(dest)
    if kept_vendor is not None:
        kept_vendor.rename(dest / common.VENDOR_DIR)
    vendor_if_needed(dest, args, log)
    log(f"GIMP plug-in installed: {dest}")
    return dest


def install(args, log) -> list[Path]:
    found, explicit = profiles(args)
    if not found:
        log("no GIMP 3 profile found (start GIMP 3 once, or pass --gimp-profile DIR): GIMP plug-in skipped")
        return []
    return [install_into(profile, args, log) for profile in found]


def uninstall(args, log) -> None:
    found, _ = profiles(args)
    removed = False
    for profile in found:
        for name in (PLUGIN_NAME,) + FORMER_NAMES:
            dest = profile / "plug-ins" / name
            if dest.exists():
                shutil.rmtree(dest)
                log(f"GIMP plug-in removed: {dest}")
                removed = True
    if not removed:
        log("GIMP plug-in: nothing to remove")


def main(argv=None) -> int:
    """``python -m installer.gimp [--gimp-profile DIR] [--uninstall]``: only the GIMP part of install.py."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m installer.gimp", description=main.__doc__)
    add_arguments(parser)
    parser.add_argument("--uninstall", action="store_true", help="remove the plug-in")
    args = parser.parse_args(argv)

    def log(msg):
        print(f"[painterly] {msg}", flush=True)
    (uninstall if args.uninstall else install)(args, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())

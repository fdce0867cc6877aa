"""Helpers shared by the app-plugin installers (Krita, GIMP).

* ``copy_client(dest_dir)``: the wire (protocol + client) and the plugin core as a ``painterly_client``
  package inside a plugin; ``write_plugin_data(dest_dir)``: the engine's method declarations (what the
  plugin offers while no daemon answers) and how to run the ``painterly`` command.
* ``vendor_packages(dest_dir, python_version, log)``: pyzmq + msgpack wheels built for the *app's* Python
  (version and ABI), unpacked into ``dest_dir/vendor/``.  The plugin puts that folder on ``sys.path`` only
  when importing the app's own copies fails, so a system pyzmq always wins.
* ``app_python_has(python_exe, modules)``, ``python_version_of(python_exe)``,
  ``python_version_of_library(path)``: find out what the app's Python is and what it already has.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform as _platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
# repository folders copied into every plugin as painterly_client/<folder> (pure Python 3.8+): the same
# relative imports work there and in the repository (painterly.plugin_core -> ..wire)
SHIPPED_PACKAGES = ("wire", "plugin_core")
CLIENT_EXPORTS = ("Client", "ImageBuffer", "DaemonError", "DaemonUnavailable", "JobCancelled",
                  "DEFAULT_ENDPOINT", "default_endpoint")
VENDORED = ("pyzmq", "msgpack")          # distribution names on PyPI
VENDORED_MODULES = ("zmq", "msgpack")    # what they import as
VENDOR_DIR = "vendor"

Log = Callable[[str], None]


def copy_client(dest_dir: Path) -> Path:
    """Copy the wire and the plugin core into ``dest_dir/painterly_client/`` (``wire/``, ``plugin_core/``),
    a package whose ``__init__`` hands out the client API on first use (so the plugin core loads even
    where pyzmq is missing). Returns the package folder."""
    pkg = Path(dest_dir) / "painterly_client"
    for folder in SHIPPED_PACKAGES:
        if not (REPO / folder / "__init__.py").is_file():
            raise FileNotFoundError(f"{folder}/ missing in this checkout ({REPO})")
    if pkg.exists():
        shutil.rmtree(pkg)
    pkg.mkdir(parents=True)
    for folder in SHIPPED_PACKAGES:
        (pkg / folder).mkdir()
        for source in sorted((REPO / folder).glob("*.py")):
            shutil.copy2(source, pkg / folder / source.name)
    (pkg / "__init__.py").write_text(
        '"""Painterly\'s wire (protocol, client) and plugin core, copied into this plugin by the installer: do '
        'not edit\nhere. ``from painterly_client import Client`` loads the client (and pyzmq) on first use."""\n'
        f"__all__ = {list(CLIENT_EXPORTS)!r}\n\n\n"
        "def __getattr__(name):\n"
        "    if name in __all__:\n"
        "        from .wire import client\n"
        "        return getattr(client, name)\n"
        "    raise AttributeError(name)\n")
    return pkg


def method_descriptions() -> list[dict]:
    """Every engine method's declaration, as the daemon's handshake gives it. Importing the engine costs
    seconds (torch), so the list is kept in the user's cache, keyed by the engine's source."""
    digest = hashlib.sha256()
    for source in sorted((REPO / "engine").rglob("*.py")):
        digest.update(source.relative_to(REPO).as_posix().encode() + b"\0" + source.read_bytes())
    root = os.environ.get("PAINTERLY_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") \
        / "painterly"
    cached = Path(root) / "declarations" / f"{digest.hexdigest()[:32]}.json"
    try:
        return json.loads(cached.read_text())
    except (OSError, ValueError):
        pass
    from painterly.engine import get_method, method_names
    described = [get_method(name).describe() for name in method_names()]
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(described))
        os.replace(tmp, cached)
    except OSError:
        pass
    return described


def write_plugin_data(dest_dir: Path) -> None:
    """The files a plugin reads besides its code: the engine's declarations (``painterly_methods_bundled
    .json``, offered until a daemon answers) and ``install_info.json`` (how to run ``painterly``)."""
    from painterly.plugin_core import catalog
    catalog.bundle(str(Path(dest_dir) / catalog.BUNDLED_FILE), method_descriptions())
    (Path(dest_dir) / "install_info.json").write_text(json.dumps({
        # this Python runs the painterly CLI (e.g. to start a local daemon)
        "painterly_command": [sys.executable, "-m", "painterly.cli"], "source": str(REPO)}, indent=1) + "\n")


def default_platforms(system: Optional[str] = None, machine: Optional[str] = None) -> list[str]:
    """pip ``--platform`` tags for binary wheels that run on this kind of machine (the app's machine is
    assumed to be this one unless the caller says otherwise)."""
    system = (system or _platform.system()).lower()
    machine = (machine or _platform.machine()).lower()
    if system == "linux":
        arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
        # manylinux_2_17 == manylinux2014: old enough for every current distro and AppImage
        return [f"manylinux_2_{v}_{arch}" for v in (28, 27, 26, 24, 17)] + [f"manylinux2014_{arch}"]
    if system == "windows":
        return ["win_arm64"] if machine in ("arm64", "aarch64") else ["win_amd64"]
    if system == "darwin":
        arch = "arm64" if machine in ("arm64", "aarch64") else "x86_64"
        return [f"macosx_{v}_{arch}" for v in ("14_0", "13_0", "12_0", "11_0")] + \
               ([f"macosx_10_{v}_x86_64" for v in (15, 14, 13, 9)] if arch == "x86_64" else []) + \
               [f"macosx_10_9_universal2"]
    raise ValueError(f"no wheel platform known for {system}/{machine}")


def vendor_packages(dest_dir: Path, python_version: str, log: Log, platform: Optional[Sequence[str] | str] = None,
                    packages: Iterable[str] = VENDORED) -> Path:
    """Download binary wheels of ``packages`` for CPython ``python_version`` ("3.13") and unpack them into
    ``dest_dir/vendor/``.  Raises RuntimeError with pip's message when the wheels cannot be had."""
    if not re.fullmatch(r"3\.\d+", python_version or ""):
        raise ValueError(f"python_version must look like 3.13, got {python_version!r}")
    platforms = [platform] if isinstance(platform, str) else list(platform or default_platforms())
    abi = "cp" + python_version.replace(".", "")
    vendor = Path(dest_dir) / VENDOR_DIR
    with tempfile.TemporaryDirectory(prefix="painterly-wheels-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
               "--only-binary", ":all:", "--python-version", python_version, "--implementation", "cp",
               "--abi", abi, "--abi", "abi3", "--dest", tmp]
        for tag in platforms:
            cmd += ["--platform", tag]
        cmd += list(packages)
        log(f"fetching {', '.join(packages)} wheels for Python {python_version} ({platforms[0]}...)")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise RuntimeError(f"could not download {', '.join(packages)} for Python {python_version}: {tail}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if vendor.exists():
            shutil.rmtree(vendor)
        vendor.mkdir(parents=True)
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(vendor)
            log(f"vendored {wheel.name}")
    (vendor / "README.txt").write_text(
        f"pyzmq/msgpack for the app's Python {python_version}, used only when the app's own Python lacks them.\n")
    return vendor


def app_python_has(python_exe: Optional[str], modules: Iterable[str] = VENDORED_MODULES) -> Optional[bool]:
    """True/False when ``python_exe`` can be run and does/doesn't import all ``modules``; None when it is
    unknown (no interpreter given or it cannot be run, e.g. a Python embedded in an app bundle)."""
    if not python_exe:
        return None
    code = "; ".join(f"import {m}" for m in modules)
    try:
        proc = subprocess.run([python_exe, "-c", code], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.returncode == 0


def python_version_of(python_exe: str) -> Optional[str]:
    """"3.13" for a runnable interpreter, else None."""
    try:
        out = subprocess.run([python_exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out if re.fullmatch(r"3\.\d+", out) else None


def python_version_of_library(path: Path) -> Optional[str]:
    """The Python version a binary (e.g. an app's Python-plugin library) links against: it names its
    libpython3.X / python3X.dll inside."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    match = re.search(rb"(?:libpython|python)3\.?(\d{1,2})(?:\.so|\.dll|\.dylib|[^0-9])", data)
    return f"3.{int(match.group(1))}" if match else None


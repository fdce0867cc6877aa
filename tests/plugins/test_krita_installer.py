"""Host-side tests of the Krita plugin's installer and the client package it ships (no Krita needed)."""
import sys

import pytest

from installer import common
from installer import krita as krita_installer


def test_kritarc_editing_keeps_other_settings(tmp_path):
    rc = tmp_path / "kritarc"
    rc.write_text("[General]\nShowRulers=true\n\n[python]\nenable_Other=true\nenable_painterly_krita=false\n"
                  "\n[painterly]\nmethod=stylize\n")
    krita_installer.set_ini_value(rc, "python", "enable_painterly_krita", "true")
    text = rc.read_text()
    assert "enable_painterly_krita=true" in text and "enable_painterly_krita=false" not in text
    assert "ShowRulers=true" in text and "enable_Other=true" in text
    krita_installer.set_ini_value(rc, "python", "enable_painterly_krita", None)
    krita_installer.remove_ini_section(rc, "painterly")
    text = rc.read_text()
    assert "painterly" not in text and "enable_Other=true" in text and "[General]" in text
    fresh = tmp_path / "new" / "kritarc"
    krita_installer.set_ini_value(fresh, "python", "enable_painterly_krita", "true")
    assert fresh.read_text() == "[python]\nenable_painterly_krita=true\n"


def test_kritarc_goes_with_a_profile_home(tmp_path):
    resources = tmp_path / "home" / ".local" / "share" / "krita"
    assert krita_installer.default_config(resources) == (tmp_path / "home" / ".config" / "kritarc").resolve()


def test_python_version_of_krita_library(tmp_path):
    lib = tmp_path / "kritapykrita.so"
    lib.write_bytes(b"\x7fELF....libpython3.13.so.1.0\x00libc.so.6")
    assert common.python_version_of_library(lib) == "3.13"
    lib.write_bytes(b"MZ...python310.dll\x00")
    assert common.python_version_of_library(lib) == "3.10"
    assert common.python_version_of_library(tmp_path / "missing") is None


def test_copy_client_is_an_importable_package(tmp_path):
    """The shipped package: the wire and the plugin core side by side, the same relative imports as in the
    repository, and ``painterly_client`` still handing out the client."""
    common.copy_client(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        import painterly_client
        from painterly.wire import endpoints    # the user's own socket (loopback TCP + token on Windows)
        from painterly_client.plugin_core import declarations, messaging
        assert painterly_client.DEFAULT_ENDPOINT == painterly_client.default_endpoint() == \
            endpoints.platform_default_endpoint() == messaging.default_endpoint()
        assert painterly_client.DEFAULT_ENDPOINT.startswith("ipc://" if endpoints.HAS_IPC else "tcp://127.0.0.1:")
        for name in ("Client", "ImageBuffer", "DaemonError", "DaemonUnavailable", "JobCancelled"):
            assert hasattr(painterly_client, name)
        assert messaging.client_module(str(tmp_path)).Client is painterly_client.Client
        assert declarations.label_of("style_weight") == "Style weight"
        with pytest.raises(painterly_client.DaemonUnavailable):   # nothing listens on this port
            client = painterly_client.Client("tcp://127.0.0.1:9", timeout=0.5)
            try:
                client.handshake()
            finally:
                client.close()
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "painterly_client"]:
            del sys.modules[name]


def test_krita_installer_installs_and_uninstalls(tmp_path):
    import argparse
    parser = argparse.ArgumentParser()
    krita_installer.add_arguments(parser)
    resources = tmp_path / "home" / ".local" / "share" / "krita"
    args = parser.parse_args(["--krita-resources", str(resources), "--krita-vendor", "never",
                              "--krita-python-version", "3.13"])
    logs = []
    assert krita_installer.install(args, logs.append)
    plugin = resources / "pykrita" / "painterly_krita"
    assert (plugin / "__init__.py").is_file() and (plugin / "painterly_client" / "wire" / "client.py").is_file()
    assert (plugin / "painterly_methods_bundled.json").is_file() and (plugin / "install_info.json").is_file()
    assert (resources / "pykrita" / "painterly_krita.desktop").read_text().count("X-KDE-Library=painterly_krita")
    assert not (plugin / "vendor").exists() and not list(plugin.rglob("__pycache__"))
    assert "enable_painterly_krita=true" in (tmp_path / "home" / ".config" / "kritarc").read_text()
    assert krita_installer.uninstall(args, logs.append)
    assert not plugin.exists() and not (resources / "pykrita" / "painterly_krita.desktop").exists()
    assert "painterly" not in (tmp_path / "home" / ".config" / "kritarc").read_text()


def test_install_py_lists_the_krita_installer():
    import install
    assert "installer.krita" in install.PLUGIN_INSTALLERS

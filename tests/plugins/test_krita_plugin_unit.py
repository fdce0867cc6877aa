"""Host-side tests of the Krita plugin's pure parts and its installer (no Krita needed)."""
import importlib.util
import struct
import sys
from pathlib import Path

import pytest

from conftest import REPO
from installer import common
from installer import krita as krita_installer


def load_pixels():
    # painterly_krita/__init__.py imports krita, so load the pure module by path
    spec = importlib.util.spec_from_file_location(
        "painterly_krita_pixels", REPO / "plugin_krita" / "painterly_krita" / "pixels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


px = load_pixels()


def test_swap_red_blue_8_and_16_bit():
    assert px.swap_red_blue(bytes([1, 2, 3, 4, 5, 6, 7, 8]), 8) == bytes([3, 2, 1, 4, 7, 6, 5, 8])
    bgra16 = struct.pack("<8H", 100, 200, 65000, 65535, 1, 2, 3, 4)
    assert struct.unpack("<8H", px.swap_red_blue(bgra16, 16)) == (65000, 200, 100, 65535, 3, 2, 1, 4)


def test_alpha_mask_and_to_8bit():
    assert px.alpha_mask(bytes([9, 9, 9, 0, 9, 9, 9, 255]), 8) == bytes([0, 255])
    rgba16 = struct.pack("<8H", 0, 0, 0, 0x80FF, 0, 0, 0, 0xFFFF)
    assert px.alpha_mask(rgba16, 16) == bytes([0x80, 0xFF])
    assert px.to_8bit(struct.pack("<2H", 0x1234, 0xABCD), 16) == bytes([0x12, 0xAB])


def test_mask_bounds_soft_and_empty():
    w, h = 6, 5
    mask = bytearray(w * h)
    mask[1 * w + 2] = 10          # soft pixels count as selected
    mask[3 * w + 4] = 255
    assert px.mask_bounds(bytes(mask), w, h) == (2, 1, 3, 3)
    assert px.mask_bounds(bytes(w * h), w, h) is None
    assert px.is_all(b"\xff" * 12) and not px.is_all(b"\xff" * 11 + b"\xfe") and not px.is_all(b"")


def test_grow_rect_clips_to_canvas_and_crop():
    assert px.grow_rect((10, 5, 20, 10), 8, (0, 0, 100, 18)) == (2, 0, 36, 18)
    assert px.grow_rect((90, 10, 20, 5), 0, (0, 0, 100, 100)) == (90, 10, 10, 5)
    data = bytes(range(16))       # 4x4, 1 byte per pixel
    assert px.crop(data, 4, (1, 2, 2, 2)) == bytes([9, 10, 13, 14])


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
    common.copy_client(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        import painterly_client
        from painterly.wire import endpoints    # the user's own socket (loopback TCP + token on Windows)
        assert painterly_client.DEFAULT_ENDPOINT == painterly_client.default_endpoint() == \
            endpoints.platform_default_endpoint()
        assert painterly_client.DEFAULT_ENDPOINT.startswith("ipc://" if endpoints.HAS_IPC else "tcp://127.0.0.1:")
        for name in ("Client", "ImageBuffer", "DaemonError", "DaemonUnavailable", "JobCancelled"):
            assert hasattr(painterly_client, name)
        with pytest.raises(painterly_client.DaemonUnavailable):   # nothing listens on this port
            client = painterly_client.Client("tcp://127.0.0.1:9", timeout=0.5)
            try:
                client.handshake()
            finally:
                client.close()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("painterly_client", None)
        sys.modules.pop("painterly_client.client", None)
        sys.modules.pop("painterly_client.protocol", None)


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
    assert (plugin / "__init__.py").is_file() and (plugin / "painterly_client" / "client.py").is_file()
    assert (resources / "pykrita" / "painterly_krita.desktop").read_text().count("X-KDE-Library=painterly_krita")
    assert not (plugin / "vendor").exists() and not list(plugin.rglob("__pycache__"))
    assert "enable_painterly_krita=true" in (tmp_path / "home" / ".config" / "kritarc").read_text()
    assert krita_installer.uninstall(args, logs.append)
    assert not plugin.exists() and not (resources / "pykrita" / "painterly_krita.desktop").exists()
    assert "painterly" not in (tmp_path / "home" / ".config" / "kritarc").read_text()


def test_install_py_lists_the_krita_installer():
    import install
    assert "installer.krita" in install.PLUGIN_INSTALLERS

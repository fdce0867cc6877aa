"""installer/gimp.py: where the GIMP 3 plug-in goes, and install.py --uninstall removing it (no GIMP needed)."""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from installer import gimp as gimp_installer  # noqa: E402


def install_args(*argv):
    parser = argparse.ArgumentParser()
    gimp_installer.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_install_layout_and_uninstall(tmp_path):
    profile = tmp_path / "GIMP" / "3.0"
    former = profile / "plug-ins" / "painterly-harmonize"        # an earlier version's folder
    former.mkdir(parents=True)
    (former / "painterly-harmonize.py").write_text("#!/usr/bin/env python3\n")
    dest = gimp_installer.install(install_args("--gimp-profile", str(profile), "--gimp-vendor", "never"),
                                  lambda m: None)[0]
    script = dest / "painterly.py"
    assert dest == profile / "plug-ins" / "painterly" and not former.exists()
    assert script.is_file() and os.access(script, os.X_OK)
    assert script.read_text().startswith("#!/usr/bin/env python3")
    assert {p.name for p in dest.glob("*.py")} == {p.name for p in gimp_installer.SOURCE.glob("*.py")}
    assert (dest / "painterly_client" / "wire" / "client.py").is_file()
    assert (dest / "painterly_client" / "plugin_core" / "declarations.py").is_file()
    info = json.loads((dest / "install_info.json").read_text())
    assert info["painterly_command"][0] == sys.executable
    bundled = json.loads((dest / "painterly_methods_bundled.json").read_text())
    assert {"global", "masked", "photo", "harmonize"} <= {m["name"] for m in bundled["methods"]}
    assert all("base_input" in m and "label" in m for m in bundled["methods"])
    r = subprocess.run([sys.executable, str(REPO / "install.py"), "--uninstall", "--gimp-profile", str(profile)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert not dest.exists() and "GIMP plug-in removed" in r.stdout

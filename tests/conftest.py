"""Shared pytest wiring.

apprig (../shared/apprig): drives real GIMP 3 / Krita 5 in a Debian chroot.

* Tests marked ``@pytest.mark.apprig`` (or using the ``apprig`` fixture) are
  SKIPPED with a clear reason when the chroot is not built or we are not root.
* ``apprig`` fixture: helpers around run-in.sh / make-*-profile.sh.

Configure with APPRIG_DIR (the apprig scripts; default: two levels up from
this file) and APPRIG_ROOT (the chroot; default /opt/apprig/trixie).
"""
import os
import pathlib
import subprocess
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
RIG = pathlib.Path(os.environ.get("APPRIG_DIR", REPO.parent / "shared" / "apprig"))
ROOT = pathlib.Path(os.environ.get("APPRIG_ROOT", "/opt/apprig/trixie"))


def apprig_unavailable():
    """None when usable, else the reason to skip."""
    if not (RIG / "run-in.sh").is_file():
        return "apprig scripts not found at %s (set APPRIG_DIR)" % RIG
    if os.geteuid() != 0:
        return "apprig needs root (mount + chroot)"
    if not (ROOT / ".apprig-stamp").is_file():
        return "apprig chroot not built at %s: run %s/build.sh (needs Debian mirror access, ~3 min)" % (ROOT, RIG)
    return None


def pytest_configure(config):
    """The painterly daemon's per-user files (default socket, token) in a private folder of this run, so
    no test reaches or changes the user's own daemon or token."""
    private = pathlib.Path(tempfile.mkdtemp(prefix="painterly-test-user-"))
    (private / "run").mkdir(mode=0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(private / "run")
    os.environ["PAINTERLY_TOKEN_FILE"] = str(private / "daemon.token")
    os.environ.pop("PAINTERLY_ENDPOINT", None)
    os.environ.pop("PAINTERLY_TOKEN", None)


def pytest_collection_modifyitems(config, items):
    reason = apprig_unavailable()
    if reason:
        for item in items:
            if "apprig" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


class Apprig:
    rig, root = RIG, ROOT

    def run(self, *cmd, share=(), env=None, timeout=300, stdin=None):
        """run-in.sh: CMD inside the chroot; each path in share is visible at
        the same path inside.  Returns subprocess.CompletedProcess (bytes)."""
        args = ["bash", str(RIG / "run-in.sh"), "-t", str(timeout)]
        for path in share:
            args += ["-s", str(path)]
        for key, value in (env or {}).items():
            args += ["-e", "%s=%s" % (key, value)]
        args += [str(ROOT)] + [str(c) for c in cmd]
        return subprocess.run(args, input=stdin, capture_output=True, timeout=timeout + 30)

    def gimp_profile(self, dest, *plugins):
        """Fresh GIMP profile (copy of a warm template) with the given plug-ins."""
        subprocess.run(["bash", str(RIG / "bin/make-gimp-profile.sh"), str(ROOT), str(dest)]
                       + [str(p) for p in plugins], check=True)
        return dest

    def krita_home(self, dest, *plugins):
        """Fresh Krita $HOME (warm template) with apprig_test_driver + plugins enabled."""
        subprocess.run(["bash", str(RIG / "bin/make-krita-home.sh"), str(ROOT), str(dest)]
                       + [str(p) for p in plugins], check=True)
        return dest

    def gimp_batch(self, script, profile, share=(), env=None, timeout=300):
        """gimp-console-3.0 batch mode with a Python script fed on stdin."""
        env = dict(env or {}, GIMP3_DIRECTORY=str(profile))
        return self.run("gimp-console-3.0", "-i", "--batch-interpreter", "python-fu-eval",
                        "-b", "-", "--quit", share=share, env=env, timeout=timeout,
                        stdin=pathlib.Path(script).read_bytes())

    def krita(self, image, home, driver_config, share=(), env=None, timeout=300):
        """krita --nosplash IMAGE under Xvfb with the test driver configured."""
        env = dict(env or {}, HOME=str(home), APPRIG_KRITA_DRIVER_CONFIG=str(driver_config))
        return self.run("/apprig/bin/apprig-xvfb-run", "krita", "--nosplash", image,
                        share=share, env=env, timeout=timeout, stdin=b"")


@pytest.fixture
def apprig():
    reason = apprig_unavailable()
    if reason:
        pytest.skip(reason)
    return Apprig()

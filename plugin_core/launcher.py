"""Starting a local daemon from an app: the ``painterly`` command the installer recorded in the plugin's
``install_info.json`` (else the one on PATH), run detached, with the app's own Python settings kept out.
Pure Python 3.8+.
"""
import json
import os
import shutil
import subprocess

from .errors import UserError

INSTALL_INFO = "install_info.json"
# an app's own Python settings (e.g. an AppImage's PYTHONHOME) must not leak into the daemon's Python
PRIVATE_ENV = ("PYTHONHOME", "PYTHONPATH")


def painterly_command(plugin_dir):
    """How to run the ``painterly`` command from here (a list), or None."""
    try:
        with open(os.path.join(plugin_dir, INSTALL_INFO)) as f:
            command = json.load(f).get("painterly_command")
        if command:
            return list(command)
    except (IOError, OSError, ValueError, AttributeError):
        pass
    exe = shutil.which("painterly")
    return [exe] if exe else None


def daemon_arguments(command, endpoint=None, device=None):
    """The command line of a detached daemon; without an endpoint it listens at its own default."""
    args = list(command) + ["daemon", "--detach"]
    if endpoint:
        args += ["--endpoint", endpoint]
    if device and device != "auto":
        args += ["--device", device]
    return args


def start_daemon(plugin_dir, endpoint=None, device=None):
    """Start a daemon in the background; returns a sentence for the status line, or UserError."""
    command = painterly_command(plugin_dir)
    if not command:
        raise UserError("no_daemon_command", "The painterly command was not found: run install.py, or start the "
                        "daemon yourself with: painterly daemon")
    args = daemon_arguments(command, endpoint, device)
    env = dict((k, v) for k, v in os.environ.items() if k not in PRIVATE_ENV)
    try:
        subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True, env=env)
    except OSError as exc:
        raise UserError("no_daemon_command", "Could not start the painterly daemon (%s): %s" % (" ".join(args), exc))
    return "Starting the painterly daemon%s (device %s)..." % (" on " + endpoint if endpoint else "", device or "auto")

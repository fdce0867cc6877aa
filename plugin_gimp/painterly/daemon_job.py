"""Talking to the daemon from GIMP: connect (from the menu, offer to start a daemon that is down), run a
job with GIMP's progress bar, and cancel the daemon's job when GIMP's Cancel ends the plug-in.

GIMP's Cancel button on a plug-in's progress bar ends the plug-in process, which cannot then tell the
daemon; a small helper process (cancel_watch.py) holds the job id and cancels it when the plug-in goes
away without saying "done".
"""
import os
import subprocess
import sys
import threading
import time

import gi
from gi.repository import Gimp

from painterly_client.plugin_core import launcher
from painterly_client.plugin_core.errors import UserError, log

HERE = os.path.dirname(os.path.abspath(__file__))
WATCHER = os.path.join(HERE, "cancel_watch.py")
CONNECT_TIMEOUT = float(os.environ.get("PAINTERLY_CONNECT_TIMEOUT") or 10.0)
START_WAIT_S = 120          # a fresh daemon imports torch and loads the weights


def ask_to_start(endpoint, reason):
    """Interactive only: ask whether to start the daemon; True once it was started."""
    gi.require_version('Gtk', '3.0')
    from gi.repository import Gtk
    dialog = Gtk.MessageDialog(message_type=Gtk.MessageType.QUESTION, buttons=Gtk.ButtonsType.YES_NO,
                               text="The Painterly daemon is not running")
    dialog.format_secondary_text("%s\n\nStart it now?" % reason)
    answer = dialog.run()
    dialog.destroy()
    if answer != Gtk.ResponseType.YES:
        return False
    Gimp.progress_init(launcher.start_daemon(HERE, endpoint))
    return True


def connect(client, endpoint, interactive):
    """A connected Client and the daemon's handshake; from the menu, offers to start a daemon that is down."""
    conn = client.Client(endpoint, timeout=CONNECT_TIMEOUT)
    try:
        return conn, conn.handshake()
    except client.DaemonUnavailable as exc:
        conn.close()
        if not (interactive and launcher.painterly_command(HERE) and ask_to_start(endpoint, str(exc))):
            raise
    deadline, last = time.monotonic() + START_WAIT_S, None
    while time.monotonic() < deadline:
        conn = client.Client(endpoint, timeout=3.0)
        try:
            info = conn.handshake()
            conn.timeout = CONNECT_TIMEOUT
            return conn, info
        except client.DaemonUnavailable as exc:
            last = exc
            conn.close()
            Gimp.progress_pulse()
    raise UserError("unavailable", "The Painterly daemon did not start within %d s: %s" % (START_WAIT_S, last))


def start_cancel_watcher(endpoint, job_id):
    env = dict(os.environ)
    vendor = os.path.join(HERE, "vendor")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, vendor if vendor in sys.path else None,
                                                    env.get("PYTHONPATH")) if p)
    try:
        return subprocess.Popen([sys.executable, WATCHER, endpoint, job_id], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, env=env, start_new_session=True)
    except OSError as exc:
        log("cancel watcher not started: %s" % exc, "painterly-gimp")
        return None


def stop_cancel_watcher(watcher):
    if watcher is None:
        return
    try:
        watcher.stdin.write(b"done\n")
        watcher.stdin.close()
        watcher.wait(5)
    except Exception as exc:   # noqa: BLE001 - the watcher only matters when we die
        log("cancel watcher: %s" % exc, "painterly-gimp")


class Progress(object):
    """Daemon progress events -> GIMP's progress bar."""

    def __init__(self, label):
        self.label = label
        Gimp.progress_init("Painterly: %s..." % label)

    def __call__(self, event):
        total = max(1, int(event.total or 0))
        Gimp.progress_update(min(1.0, float(event.iteration) / total))
        stage = (" (%s)" % event.stage) if event.stage else ""
        Gimp.progress_set_text("Painterly: %s%s %d/%d" % (self.label, stage, event.iteration, total))


def run_job(conn, method, params, images):
    """Submit the job and wait for its result, with GIMP's progress bar and the cancel watcher."""
    progress = Progress(method.label)
    job_id = conn.submit(method.name, params, images)
    watcher = start_cancel_watcher(conn.endpoint, job_id)
    try:
        return conn.wait(job_id, on_progress=progress, cancel_event=threading.Event())
    finally:
        stop_cancel_watcher(watcher)
        Gimp.progress_end()

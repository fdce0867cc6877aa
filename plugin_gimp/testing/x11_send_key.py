"""Type one key chord into an X11 window found by its title (for the undo test; runs in the chroot).

    python3 x11_send_key.py TITLE_PART KEY [ctrl]      e.g.  x11_send_key.py "GIMP" z ctrl

Uses Gdk's test helper (an X SendEvent to the window), as there is no xdotool/XTest in the chroot.
"""
import sys

import gi
gi.require_version("Gdk", "3.0")
gi.require_version("GdkX11", "3.0")
from gi.repository import Gdk, GdkX11  # noqa: E402

from x11_window_shot import find, title_of, windows, x11, XWindowAttributes  # noqa: E402


def main(title_part, key, *mods):
    dpy = x11.XOpenDisplay(None)
    found = find(dpy, title_part)
    if found is None:
        print("x11_send_key: no window titled *%s*; windows: %s" % (title_part, titles(dpy)), file=sys.stderr)
        return 1
    title, (x, y, w, h), xid = found
    display = Gdk.Display.get_default()
    window = GdkX11.X11Window.foreign_new_for_display(display, xid)
    state = Gdk.ModifierType.CONTROL_MASK if "ctrl" in mods else 0
    keyval = Gdk.keyval_from_name(key)
    for kind in (Gdk.EventType.KEY_PRESS, Gdk.EventType.KEY_RELEASE):
        if not Gdk.test_simulate_key(window, w // 2, h // 2, keyval, state, kind):
            print("x11_send_key: sending failed", file=sys.stderr)
            return 1
    display.flush()
    print("x11_send_key: %s%s sent to %r" % ("Ctrl+" if state else "", key, title), flush=True)
    return 0


def titles(dpy):
    import ctypes
    out = []
    for win in windows(dpy, x11.XDefaultRootWindow(dpy)):
        title = title_of(dpy, win)
        if title:
            attrs = XWindowAttributes()
            x11.XGetWindowAttributes(dpy, win, ctypes.byref(attrs))
            out.append("%s (%dx%d, map state %d)" % (title, attrs.width, attrs.height, attrs.map_state))
    return out


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

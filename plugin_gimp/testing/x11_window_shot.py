"""Screenshot of an X11 window found by its title (for the dialog test; runs in the apprig chroot).

    python3 x11_window_shot.py TITLE_PART OUT.png [TIMEOUT_S [SETTLE_S]]

Waits until a window whose title contains TITLE_PART is mapped, lets it draw, and saves its area of the
screen (plus the whole screen as OUT-screen.png).  Exit 0 on success, 1 on timeout.  Uses libX11 through
ctypes to find the window (no xdotool/ImageMagick in the chroot) and Gdk to read the pixels.
"""
import ctypes
import ctypes.util
import sys
import time

import gi
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk  # noqa: E402

x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
Window = ctypes.c_ulong
x11.XOpenDisplay.restype = ctypes.c_void_p
x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
x11.XDefaultRootWindow.restype = Window
x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
x11.XQueryTree.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(Window), ctypes.POINTER(Window),
                           ctypes.POINTER(ctypes.POINTER(Window)), ctypes.POINTER(ctypes.c_uint)]
x11.XFetchName.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(ctypes.c_char_p)]
x11.XFree.argtypes = [ctypes.c_void_p]
x11.XGetGeometry.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(Window)] + \
    [ctypes.POINTER(ctypes.c_int)] * 2 + [ctypes.POINTER(ctypes.c_uint)] * 4
x11.XTranslateCoordinates.argtypes = [ctypes.c_void_p, Window, Window, ctypes.c_int, ctypes.c_int,
                                      ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int),
                                      ctypes.POINTER(Window)]


class XWindowAttributes(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int), ("width", ctypes.c_int), ("height", ctypes.c_int),
                ("border_width", ctypes.c_int), ("depth", ctypes.c_int), ("visual", ctypes.c_void_p),
                ("root", Window), ("class_", ctypes.c_int), ("bit_gravity", ctypes.c_int),
                ("win_gravity", ctypes.c_int), ("backing_store", ctypes.c_int),
                ("backing_planes", ctypes.c_ulong), ("backing_pixel", ctypes.c_ulong),
                ("save_under", ctypes.c_int), ("colormap", ctypes.c_ulong), ("map_installed", ctypes.c_int),
                ("map_state", ctypes.c_int), ("all_event_masks", ctypes.c_long),
                ("your_event_mask", ctypes.c_long), ("do_not_propagate_mask", ctypes.c_long),
                ("override_redirect", ctypes.c_int), ("screen", ctypes.c_void_p)]


x11.XGetWindowAttributes.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(XWindowAttributes)]
IS_VIEWABLE = 2


def windows(dpy, win):
    root, parent = Window(), Window()
    children, n = ctypes.POINTER(Window)(), ctypes.c_uint()
    if not x11.XQueryTree(dpy, win, ctypes.byref(root), ctypes.byref(parent), ctypes.byref(children),
                          ctypes.byref(n)):
        return
    kids = [children[i] for i in range(n.value)]
    if children:
        x11.XFree(children)
    for kid in kids:
        yield kid
        yield from windows(dpy, kid)


x11.XInternAtom.restype = ctypes.c_ulong
x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
x11.XGetWindowProperty.argtypes = [ctypes.c_void_p, Window, ctypes.c_ulong, ctypes.c_long, ctypes.c_long,
                                   ctypes.c_int, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong),
                                   ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_ulong),
                                   ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_void_p)]


def title_of(dpy, win):
    """_NET_WM_NAME (UTF-8, what GTK sets) or else WM_NAME; None when the window has neither."""
    prop = ctypes.c_void_p()
    actual, fmt, n, after = ctypes.c_ulong(), ctypes.c_int(), ctypes.c_ulong(), ctypes.c_ulong()
    net_wm_name = x11.XInternAtom(dpy, b"_NET_WM_NAME", False)
    utf8 = x11.XInternAtom(dpy, b"UTF8_STRING", False)
    if x11.XGetWindowProperty(dpy, win, net_wm_name, 0, 1024, False, utf8, ctypes.byref(actual),
                              ctypes.byref(fmt), ctypes.byref(n), ctypes.byref(after),
                              ctypes.byref(prop)) == 0 and prop.value:
        title = ctypes.string_at(prop.value, n.value).decode("utf-8", "replace")
        x11.XFree(prop)
        if title:
            return title
    name = ctypes.c_char_p()
    if x11.XFetchName(dpy, win, ctypes.byref(name)) and name.value:
        return name.value.decode("utf-8", "replace")
    return None


def find(dpy, title_part):
    root = x11.XDefaultRootWindow(dpy)
    for win in windows(dpy, root):
        title = title_of(dpy, win)
        if title:
            attrs = XWindowAttributes()
            x11.XGetWindowAttributes(dpy, win, ctypes.byref(attrs))
            if title_part in title and attrs.map_state == IS_VIEWABLE and attrs.width > 50:
                x, y, child = ctypes.c_int(), ctypes.c_int(), Window()
                x11.XTranslateCoordinates(dpy, win, root, 0, 0, ctypes.byref(x), ctypes.byref(y),
                                          ctypes.byref(child))
                return title, (x.value, y.value, attrs.width, attrs.height), win
    return None


def main(title_part, out, timeout=90.0, settle=2.0):
    dpy = x11.XOpenDisplay(None)
    if not dpy:
        print("x11_window_shot: cannot open the display", file=sys.stderr)
        return 1
    deadline = time.monotonic() + timeout
    found = None
    while time.monotonic() < deadline and found is None:
        found = find(dpy, title_part)
        time.sleep(0.5)
    if found is None:
        print("x11_window_shot: no window titled *%s* within %.0f s" % (title_part, timeout), file=sys.stderr)
        return 1
    time.sleep(settle)                    # let it finish drawing (previews, choosers, the instant preview)
    title, (x, y, w, h), _ = find(dpy, title_part) or found
    root = Gdk.get_default_root_window()
    Gdk.pixbuf_get_from_window(root, x, y, w, h).savev(out, "png", [], [])
    Gdk.pixbuf_get_from_window(root, 0, 0, root.get_width(), root.get_height()).savev(
        out[:-4] + "-screen.png", "png", [], [])
    print("x11_window_shot: %r %dx%d at %d,%d -> %s" % (title, w, h, x, y, out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 90.0,
                  float(sys.argv[4]) if len(sys.argv) > 4 else 2.0))

"""The documents of the ``krita`` mock: layers with real pixels (numpy, Krita's B, G, R, A layout at 8 or
16 bits, one canvas-sized array per paint layer), 8-bit selections, transparency masks, normal alpha-over
compositing, and adding/removing nodes as undo steps (see krita.py)."""
import itertools

import numpy as np

DTYPES = {"U8": np.uint8, "U16": np.dtype("<u2")}
FULL = {"U8": 255, "U16": 65535}
_ids = itertools.count(1)


class Rect(object):
    def __init__(self, x=0, y=0, w=0, h=0):
        self._r = (int(x), int(y), int(w), int(h))

    def x(self):
        return self._r[0]

    def y(self):
        return self._r[1]

    def width(self):
        return self._r[2]

    def height(self):
        return self._r[3]

    def isEmpty(self):
        return self._r[2] <= 0 or self._r[3] <= 0


def _nonzero_rect(plane):
    ys, xs = np.nonzero(plane)
    if len(ys) == 0:
        return Rect()
    return Rect(xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min())


class Selection(object):
    """An 8-bit mask anywhere on the canvas (x, y: its top-left corner)."""

    def __init__(self):
        self._x, self._y, self._mask = 0, 0, np.zeros((0, 0), np.uint8)

    def x(self):
        return self._x

    def y(self):
        return self._y

    def width(self):
        return self._mask.shape[1]

    def height(self):
        return self._mask.shape[0]

    def select(self, x, y, w, h, value):
        self._x, self._y, self._mask = x, y, np.full((h, w), value, np.uint8)

    def setPixelData(self, data, x, y, w, h):
        self._x, self._y = x, y
        self._mask = np.frombuffer(bytes(data), np.uint8).reshape(h, w).copy()

    def pixelData(self, x, y, w, h):
        out = np.zeros((h, w), np.uint8)
        x0, y0 = max(x, self._x), max(y, self._y)
        x1, y1 = min(x + w, self._x + self.width()), min(y + h, self._y + self.height())
        if x1 > x0 and y1 > y0:
            out[y0 - y:y1 - y, x0 - x:x1 - x] = self._mask[y0 - self._y:y1 - self._y, x0 - self._x:x1 - self._x]
        return out.tobytes()

    def grow(self, xr, yr):
        """Dilate by a (2xr+1)x(2yr+1) box."""
        mask = np.pad(self._mask, ((yr, yr), (xr, xr)))
        out = mask.copy()
        for dy in range(-yr, yr + 1):
            for dx in range(-xr, xr + 1):
                out = np.maximum(out, np.roll(np.roll(mask, dy, 0), dx, 1))
        self._x, self._y, self._mask = self._x - xr, self._y - yr, out

    def feather(self, radius):
        """A box blur of the given radius (Krita's is Gaussian: close enough for the tests)."""
        mask = np.pad(self._mask.astype(np.float64), radius)
        out = np.zeros_like(mask)
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                out += np.roll(np.roll(mask, dy, 0), dx, 1)
        self._x, self._y = self._x - radius, self._y - radius
        self._mask = np.round(out / (2 * radius + 1) ** 2).astype(np.uint8)

    def duplicate(self):
        copy = Selection()
        copy._x, copy._y, copy._mask = self._x, self._y, self._mask.copy()
        return copy


class Node(object):
    def __init__(self, doc, name, kind):
        self._doc, self._name, self._type = doc, name, kind
        self._parent, self._children = None, []
        self._visible, self._locked, self._id = True, False, next(_ids)
        self._pixels = doc._blank() if kind == "paintlayer" else None
        self._selection = None

    def name(self):
        return self._name

    def setName(self, name):
        self._name = name

    def type(self):
        return self._type

    def uniqueId(self):
        return self._id

    def visible(self):
        return self._visible

    def setVisible(self, value):
        self._visible = bool(value)

    def locked(self):
        return self._locked

    def setLocked(self, value):
        self._locked = bool(value)

    def colorDepth(self):
        return self._doc.colorDepth()

    def parentNode(self):
        return self._parent

    def childNodes(self):
        return list(self._children)

    def _in_document(self):
        node = self
        while node._parent is not None:
            node = node._parent
        return node is self._doc._root

    def addChildNode(self, child, above):
        """Add ``child`` right above ``above`` (None: at the bottom); an undo step when in the document."""
        index = 0 if above is None else self._children.index(above) + 1

        def do():
            child._parent = self
            self._children.insert(index, child)

        def undo():
            self._children.remove(child)
            child._parent = None
        do()
        if self._in_document():
            self._doc._undoable("Add Layer", do, undo)
        return True

    def remove(self):
        parent = self._parent
        if parent is None:
            return False
        index = parent._children.index(self)

        def do():
            parent._children.remove(self)
            self._parent = None

        def undo():
            parent._children.insert(index, self)
            self._parent = parent
        in_document = self._in_document()
        do()
        if in_document:
            self._doc._undoable("Remove Layer", do, undo)
        return True

    def setSelection(self, selection):
        self._selection = selection.duplicate()

    def hasExtents(self):
        return not self.bounds().isEmpty()

    def bounds(self):
        if self._type == "paintlayer":
            return _nonzero_rect(self._pixels[..., 3])
        rects = [c.bounds() for c in self._children if not c.type().endswith("mask")]
        rects = [r for r in rects if not r.isEmpty()]
        if not rects:
            return Rect()
        x0, y0 = min(r.x() for r in rects), min(r.y() for r in rects)
        x1 = max(r.x() + r.width() for r in rects)
        y1 = max(r.y() + r.height() for r in rects)
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def pixelData(self, x, y, w, h):
        return self._doc._cut(self._pixels if self._pixels is not None else self._rendered(), x, y, w, h)

    def projectionPixelData(self, x, y, w, h):
        return self._doc._cut(self._rendered(), x, y, w, h)

    def setPixelData(self, data, x, y, w, h):
        arr = np.frombuffer(bytes(data), DTYPES[self._doc.colorDepth()]).reshape(h, w, 4)
        H, W = self._pixels.shape[:2]
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
        if x1 > x0 and y1 > y0:
            self._pixels[y0:y1, x0:x1] = arr[y0 - y:y1 - y, x0 - x:x1 - x]

    def _rendered(self):
        """This node as it shows: a paint layer through its transparency masks, a group composited."""
        if self._type == "paintlayer":
            out = self._pixels.astype(np.float64)
            for mask in self._children:
                if mask.type() == "transparencymask" and mask._selection is not None:
                    sel = np.frombuffer(mask._selection.pixelData(0, 0, out.shape[1], out.shape[0]), np.uint8)
                    out[..., 3] *= sel.reshape(out.shape[:2]) / 255.0
            return np.round(out).astype(self._pixels.dtype)
        return self._doc._composite([c for c in self._children if not c.type().endswith("mask")])


class Document(object):
    def __init__(self, width, height, depth="U8", model="RGBA"):
        self._w, self._h, self._depth, self._model = width, height, depth, model
        self._root = Node(self, "root", "grouplayer")
        self._active, self._selection = None, None
        self.undo_stack, self.redo_stack = [], []

    # -- test helpers (not Krita's API)
    def add_layer(self, name, rgba=None, above=None):
        """A paint layer from an H×W×4 R,G,B,A array (document depth), added without an undo step."""
        node = self.createNode(name, "paintlayer")
        if rgba is not None:
            node._pixels[...] = np.asarray(rgba)[..., [2, 1, 0, 3]]
        index = 0 if above is None else self._root._children.index(above) + 1
        self._root._children.insert(index, node)
        node._parent = self._root
        self._active = node
        return node

    def rgba(self, node=None):
        """The composite (or a node's own pixels) as an H×W×4 R,G,B,A array."""
        data = self._root._rendered() if node is None else node._pixels
        return data[..., [2, 1, 0, 3]]

    def _undoable(self, text, do, undo):
        self.undo_stack.append((text, do, undo))
        del self.redo_stack[:]

    def _blank(self):
        return np.zeros((self._h, self._w, 4), DTYPES[self._depth])

    def _cut(self, arr, x, y, w, h):
        out = np.zeros((h, w, 4), arr.dtype)
        x0, y0, x1, y1 = max(0, x), max(0, y), min(self._w, x + w), min(self._h, y + h)
        if x1 > x0 and y1 > y0:
            out[y0 - y:y1 - y, x0 - x:x1 - x] = arr[y0:y1, x0:x1]
        return out.tobytes()

    def _composite(self, nodes):
        full = float(FULL[self._depth])
        rgb, alpha = np.zeros((self._h, self._w, 3)), np.zeros((self._h, self._w, 1))
        for node in nodes:                     # bottom to top
            if not node.visible():
                continue
            layer = node._rendered().astype(np.float64) / full
            a = layer[..., 3:]
            out_a = a + alpha * (1 - a)
            rgb = np.where(out_a > 0, (layer[..., :3] * a + rgb * alpha * (1 - a)) / np.maximum(out_a, 1e-12), 0)
            alpha = out_a
        return np.round(np.concatenate([rgb, alpha], -1) * full).astype(DTYPES[self._depth])

    # -- Krita's API
    def width(self):
        return self._w

    def height(self):
        return self._h

    def colorModel(self):
        return self._model

    def colorDepth(self):
        return self._depth

    def rootNode(self):
        return self._root

    def activeNode(self):
        return self._active

    def setActiveNode(self, node):
        self._active = node

    def selection(self):
        return None if self._selection is None else self._selection.duplicate()

    def setSelection(self, selection):
        self._selection = None if selection is None else selection.duplicate()

    def createNode(self, name, kind):
        return Node(self, name, kind)

    def createTransparencyMask(self, name):
        return Node(self, name, "transparencymask")

    def nodeByName(self, name):
        stack = list(self._root._children)
        while stack:
            node = stack.pop(0)
            if node.name() == name:
                return node
            stack.extend(node._children)
        return None

    def pixelData(self, x, y, w, h):
        return self._cut(self._root._rendered(), x, y, w, h)

    def refreshProjection(self):
        pass

    def waitForDone(self):
        pass

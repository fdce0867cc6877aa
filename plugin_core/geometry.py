"""Sizes and rectangles in canvas pixels: :class:`Extent` (width, height) and :class:`Bounds` (x, y,
width, height), and the rules that turn a mask's bounds into the region sent to the daemon.

Both apps measure in whole pixels from the top-left corner; an empty rectangle has a zero width or
height. Pure Python 3.8+.
"""
from collections import namedtuple

AUTO_MARGIN = -1            # context margin "automatic": see context_margin()
AUTO_MARGIN_EXTRA = 32      # pixels added to half the object's size by the automatic margin


class Extent(namedtuple("Extent", "width height")):
    """A size in pixels."""
    __slots__ = ()

    @property
    def area(self):
        return self.width * self.height

    @property
    def is_empty(self):
        return self.width <= 0 or self.height <= 0

    @property
    def longest(self):
        return max(self.width, self.height)

    def fit_within(self, longest):
        """This size scaled down (aspect kept, never up) so that its longest side is at most ``longest``."""
        if self.longest <= longest:
            return self
        scale = float(longest) / self.longest
        return Extent(max(1, int(round(self.width * scale))), max(1, int(round(self.height * scale))))

    def __str__(self):
        return "%d\u00d7%d px" % (self.width, self.height)


class Bounds(namedtuple("Bounds", "x y width height")):
    """A rectangle in pixels: its top-left corner and its size."""
    __slots__ = ()

    @classmethod
    def of(cls, extent):
        """The rectangle of a whole canvas of the given size, at (0, 0)."""
        return cls(0, 0, extent[0], extent[1])

    @property
    def extent(self):
        return Extent(self.width, self.height)

    @property
    def right(self):
        return self.x + self.width

    @property
    def bottom(self):
        return self.y + self.height

    @property
    def is_empty(self):
        return self.width <= 0 or self.height <= 0

    @property
    def area(self):
        return 0 if self.is_empty else self.width * self.height

    def grow(self, margin):
        """``margin`` pixels added on every side (negative: taken away, down to an empty rectangle)."""
        width, height = self.width + 2 * margin, self.height + 2 * margin
        return Bounds(self.x - margin, self.y - margin, max(0, width), max(0, height))

    def intersect(self, other):
        """The part of this rectangle inside ``other`` (an empty rectangle when they do not overlap)."""
        x0, y0 = max(self.x, other[0]), max(self.y, other[1])
        x1, y1 = min(self.right, other[0] + other[2]), min(self.bottom, other[1] + other[3])
        return Bounds(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def union(self, other):
        """The smallest rectangle holding both (an empty one counts for nothing)."""
        other = Bounds(*other)
        if other.is_empty:
            return self
        if self.is_empty:
            return other
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        return Bounds(x0, y0, max(self.right, other.right) - x0, max(self.bottom, other.bottom) - y0)

    def contains(self, other):
        other = Bounds(*other)
        return (self.x <= other.x and self.y <= other.y and other.right <= self.right
                and other.bottom <= self.bottom)

    def offset(self, dx, dy):
        return Bounds(self.x + dx, self.y + dy, self.width, self.height)

    def relative_to(self, origin):
        """This rectangle in the coordinates of a buffer whose top-left corner is at ``origin`` (x, y)."""
        return self.offset(-origin[0], -origin[1])

    def __str__(self):
        return "%d\u00d7%d px at (%d, %d)" % (self.width, self.height, self.x, self.y)


def context_margin(bounds, margin):
    """The context margin in pixels: ``margin`` itself, or with AUTO_MARGIN (any negative value) half the
    object's longest side plus AUTO_MARGIN_EXTRA, room for the painting around it and for the engine's
    dilation and feathering."""
    if margin is None or margin < 0:
        return Bounds(*bounds).extent.longest // 2 + AUTO_MARGIN_EXTRA
    return int(margin)


def region_around(bounds, margin, canvas):
    """The region sent to the daemon: the mask's bounds grown by the context margin, inside the canvas."""
    bounds = Bounds(*bounds)
    return bounds.grow(context_margin(bounds, margin)).intersect(canvas)

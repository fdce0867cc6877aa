"""Which part of the picture a job works on: the mask (the selection, else the active layer's
transparency) and the region around it that is sent to the daemon.

The apps describe what they have as :class:`MaskSource` objects (bounds and a reader of 8-bit mask
bytes over any rectangle, in canvas coordinates); :func:`choose_mask` applies the same rules and the same
sentences in both. Pure Python 3.8+.
"""
from . import pixels
from .errors import UserError
from .geometry import Bounds, region_around


class MaskSource(object):
    """An 8-bit mask over the canvas: where it may be non-zero, and ``read(bounds) -> bytes`` (one byte
    per pixel of any rectangle inside the canvas)."""

    def __init__(self, bounds, read):
        self.bounds, self.read = Bounds(*bounds), read


class MaskChoice(object):
    """The mask a job uses: ``source`` ("selection", "layer alpha" or "whole layer"), ``bounds`` of
    what it covers (canvas coordinates) and ``read`` (None: no mask, the whole region counts)."""

    def __init__(self, source, bounds, read=None):
        self.source, self.bounds, self.read = source, Bounds(*bounds), read

    def mask_for(self, region):
        """The mask bytes over ``region``, or None without a mask."""
        return None if self.read is None else bytes(self.read(Bounds(*region)))

    def region(self, margin, canvas):
        """The region to send: the mask's bounds grown by the context margin (pixels, or AUTO_MARGIN)."""
        return region_around(self.bounds, margin, canvas)


def _tight(source, canvas):
    """(the source's bounds inside the canvas, the mask bytes there, the bounds of its non-zero bytes)."""
    bounds = source.bounds.intersect(canvas)
    if bounds.is_empty:
        return bounds, b"", None
    data = bytes(source.read(bounds))
    tight = pixels.nonzero_bounds(data, bounds.width, bounds.height)
    return bounds, data, None if tight is None else tight.offset(bounds.x, bounds.y)


def choose_mask(method, canvas, layer_name, selection=None, alpha=None):
    """The mask for ``method`` (a MethodSpec) on the active layer, or UserError with what to do.

    ``canvas``: the area that can be read (Bounds); ``selection``: a MaskSource, or None when nothing is
    selected; ``alpha``: the active layer's transparency as a MaskSource, or None when the layer has no
    alpha channel. A selection covering the whole canvas (Select All) counts as no selection: the whole
    layer, i.e. everything painted on it."""
    canvas = Bounds(*canvas)
    whole = False
    if selection is not None:
        bounds, data, tight = _tight(selection, canvas)
        if tight is None:
            raise UserError("empty_selection", "The selection does not cover any pixel of the layer %r: select the "
                            "area to work on (on this layer), or deselect to use the layer's transparency."
                            % layer_name)
        if bounds != canvas or not pixels.is_all(data):
            return MaskChoice("selection", tight, selection.read)
        whole = True
    layer = alpha.bounds.intersect(canvas) if alpha is not None else canvas
    if layer.is_empty:
        raise UserError("empty_layer", "The layer %r is empty." % layer_name)
    if not method.masks:
        return MaskChoice("whole layer", layer)
    if alpha is None:
        if method.needs_mask and not whole:
            raise UserError("no_selection", _nothing_selected(layer_name))
        return MaskChoice("whole layer", layer, (lambda b: pixels.solid(b.extent, 1)) if method.needs_mask else None)
    bounds, data, tight = _tight(alpha, canvas)
    if tight is None:
        raise UserError("empty_layer", "The layer %r is fully transparent: nothing to work on." % layer_name)
    if pixels.is_all(data) and bounds == canvas and not whole:
        if method.needs_mask:
            raise UserError("no_selection", _nothing_selected(layer_name))
        return MaskChoice("whole layer", bounds)       # an optional mask: none, the whole layer
    return MaskChoice("whole layer" if whole else "layer alpha", tight, alpha.read)


def _nothing_selected(layer_name):
    return ("There is no selection and the layer %r has no transparency: select the pasted object (or the "
            "area to work on) first, or paste the object as a layer with transparency around it." % layer_name)

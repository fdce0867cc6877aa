"""Reading a Krita document into a job: the mask and region (chosen by the plugin core's rules), the base
image and every further image the method declares, each from the source the user picked. Runs on the GUI
thread; only reads (layers hidden to see what is below are shown again at once).

Krita hands RGBA documents out as B,G,R,A (8-bit, or 16-bit little-endian); the wire wants R,G,B,A.
"""
from krita import Selection

from .painterly_client.plugin_core import pixels, request, settings as core_settings
from .painterly_client.plugin_core.errors import UserError
from .painterly_client.plugin_core.geometry import Bounds, Extent
from .painterly_client.plugin_core.region import MaskSource, choose_mask
from .qt_compat import FMT_ARGB32, FMT_RGBA8888, KEEP_ASPECT, SMOOTH, QtGui, image_bytes

SUPPORTED = {("RGBA", "U8"): 8, ("RGBA", "U16"): 16}


class Job(object):
    """Everything a job needs, read on the GUI thread: ``doc``, ``node`` (the active layer), ``depth``,
    ``method`` (MethodSpec), ``params``, ``region`` (Bounds), ``mask_source``, ``mask`` (bytes or None),
    ``images`` {input name: ImageBuffer}; the job thread adds what it learns."""

    def __init__(self, **values):
        self.__dict__.update(values)


def bit_depth(doc):
    return SUPPORTED.get((doc.colorModel(), doc.colorDepth()))


def paint_node(node):
    """The layer to work on: masks (e.g. the selection mask Krita adds) give way to their parent."""
    while node is not None and node.type().endswith("mask"):
        node = node.parentNode()
    return node


def all_nodes(node):
    for child in node.childNodes():
        yield child
        for sub in all_nodes(child):
            yield sub


def layer_names(doc):
    return [n.name() for n in all_nodes(doc.rootNode()) if not n.type().endswith("mask")]


def find_layer(doc, name):
    for node in all_nodes(doc.rootNode()):
        if node.name() == name and not node.type().endswith("mask"):
            return node
    return None


def bounds_of(qrect):
    return Bounds(qrect.x(), qrect.y(), qrect.width(), qrect.height())


def layers_at_and_above(node):
    """The node and every layer above it, up to the top of the stack."""
    out, first = [], True
    while node is not None and node.parentNode() is not None:
        parent = node.parentNode()
        siblings = parent.childNodes()
        index = [s.uniqueId() for s in siblings].index(node.uniqueId())
        out.extend(s for s in siblings[index + (0 if first else 1):] if not s.type().endswith("mask"))
        first, node = False, parent
    return out


def visible_below(doc, node, rect):
    """The canvas over ``rect`` as it looks without the active layer and what is above it (Krita's own
    compositing), in the document's BGRA layout."""
    stack = [s for s in node.parentNode().childNodes() if not s.type().endswith("mask")]
    if node.parentNode().uniqueId() == doc.rootNode().uniqueId() and stack[0].uniqueId() == node.uniqueId():
        raise UserError("no_style", "There are no layers below the active layer to take a picture from: choose a "
                        "layer or an image file in the Painterly docker.")
    hidden = [n for n in layers_at_and_above(node) if n.visible()]
    try:
        for n in hidden:
            n.setVisible(False)
        doc.refreshProjection()
        doc.waitForDone()
        return bytes(doc.pixelData(*rect))
    finally:
        for n in hidden:
            n.setVisible(True)
        doc.refreshProjection()


def qimage(data, extent, depth):
    """A QImage (own copy) of Krita BGRA pixels, 8-bit."""
    return QtGui.QImage(pixels.to_8bit(data, depth), extent[0], extent[1], extent[0] * 4, FMT_ARGB32).copy()


def packed_rgba(image):
    """A QImage's pixels as packed 8-bit RGBA (no row padding)."""
    image = image.convertToFormat(FMT_RGBA8888)
    raw, stride, row = image_bytes(image), image.bytesPerLine(), image.width() * 4
    if stride != row:
        raw = b"".join(raw[r * stride:r * stride + row] for r in range(image.height()))
    return raw


def read_source(doc, node, depth, spec, source, rect):
    """The BGRA bytes (document depth) of ``rect`` from ``source``, or a QImage for a whole image file."""
    if source.kind == core_settings.FILE:
        image = QtGui.QImage(source.file) if source.file else QtGui.QImage()
        if image.isNull():
            raise UserError("no_" + spec.name, "The image file %r for %s cannot be read: choose a PNG or JPEG file "
                            "in the Painterly docker." % (source.file, spec.label) if source.file else
                            "No image file chosen for %s: pick one in the Painterly docker." % spec.label)
        if not spec.aligned:
            return image
        if (image.width(), image.height()) != (doc.width(), doc.height()):
            raise UserError("no_" + spec.name, "The image file for %s is %d\u00d7%d px: it must be the size of the "
                            "canvas (%d\u00d7%d px), or choose a layer." % (spec.label, image.width(),
                                                                        image.height(), doc.width(), doc.height()))
        image = image.copy(*rect).convertToFormat(FMT_ARGB32)
        data = pixels.swap_red_blue(packed_rgba(image), 8)
        return data if depth == 8 else pixels.widen(data)
    if source.kind == core_settings.LAYER:
        layer = find_layer(doc, source.layer) if source.layer else None
        if layer is None:
            raise UserError("no_" + spec.name, "The layer %r chosen for %s does not exist: pick one in the Painterly "
                            "docker." % (source.layer, spec.label))
        return bytes(layer.projectionPixelData(*rect))
    return visible_below(doc, node, rect)


def image_for(client, doc, node, depth, spec, source, rect):
    """The ImageBuffer of input ``spec``: aligned ones at the document's depth over the region, the others
    whole, reduced to request.STYLE_MAX_SIDE (only their statistics matter), 8-bit."""
    data = read_source(doc, node, depth, spec, source, rect)
    if spec.aligned:
        return client.ImageBuffer(rect.width, rect.height, 4, depth, pixels.swap_red_blue(data, depth), rect.x, rect.y)
    image = data if isinstance(data, QtGui.QImage) else qimage(data, rect.extent, depth)
    size = request.whole_size(Extent(image.width(), image.height()))
    if (image.width(), image.height()) != size:
        image = image.scaled(size.width, size.height, KEEP_ASPECT, SMOOTH)
    return client.ImageBuffer(image.width(), image.height(), 4, 8, packed_rgba(image))


def gather(doc, method, method_settings, plugin_settings, client):
    """Read the document into a Job for ``method`` (or raise UserError with what to do)."""
    if doc is None:
        raise UserError("no_document", "Open an image first.")
    depth = bit_depth(doc)
    if depth is None:
        raise UserError("color_model", "Painterly works on RGB/Alpha 8-bit or 16-bit integer images; this one is "
                        "%s %s. Convert it with Image > Convert Image Color Space (RGB/Alpha, 16-bit integer keeps "
                        "the most detail) and run it again." % (doc.colorModel(), doc.colorDepth()))
    node = paint_node(doc.activeNode())
    if node is None:
        raise UserError("no_layer", "Select a layer to work on in the Layers docker.")
    canvas = Bounds(0, 0, doc.width(), doc.height())
    sel = doc.selection()
    selection = None if sel is None else MaskSource(
        (sel.x(), sel.y(), sel.width(), sel.height()), lambda b: bytes(sel.pixelData(*b)))
    alpha = MaskSource(bounds_of(node.bounds()), lambda b: pixels.alpha_of(node.pixelData(*b), depth))
    choice = choose_mask(method, canvas, node.name(), selection, alpha)
    region = choice.region(plugin_settings["context"], canvas)
    mask = choice.mask_for(region)

    base = doc.pixelData(*region) if method_settings.sample_merged else node.pixelData(*region)
    images = {method.base_input: client.ImageBuffer(region.width, region.height, 4, depth,
                                                    pixels.swap_red_blue(base, depth), region.x, region.y)}
    for spec in method.masks:
        if mask is not None:
            images[spec.name] = client.ImageBuffer(region.width, region.height, 1, 8, mask, region.x, region.y)
    for spec in method.sources:
        source = method_settings.sources.get(spec.name) or core_settings.default_source(spec)
        if source.kind != core_settings.NONE:
            images[spec.name] = image_for(client, doc, node, depth, spec, source,
                                          request.rect_for(spec, region, canvas))
    return Job(doc=doc, node=node, depth=depth, method=method, params=dict(method_settings.params),
               region=region, mask_source=choice.source, mask=mask,
               images=request.check_inputs(method, images), edge=(plugin_settings["grow"], plugin_settings["feather"]))


def compositing_selection(job):
    """What the new layer's transparency mask selects: where the job's mask is non-zero, grown and feathered
    by Krita (the soft levels inside come from the result's own alpha; masking with them again would
    square them). None when the job has no mask (the whole region)."""
    if job.mask is None:
        return None
    sel = Selection()
    sel.setPixelData(pixels.coverage(job.mask), *job.region)
    grow, feather = job.edge
    if grow > 0:
        sel.grow(grow, grow)
    if feather > 0:
        sel.feather(feather)
    return sel

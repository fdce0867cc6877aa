"""GIMP pixels in and out: the active layer, the selection, what is visible and the chosen layers read
as wire buffers over the region the plugin core chose (image coordinates), and the result written as a
new layer above the active one in one undo group. The original layers are never written.

Babl formats: the primes mean gamma-encoded (sRGB) values, as the engine expects ("R'G'B'A u8"; plain
"RGBA u8" would be linear light). Images above 8 bits travel as 16-bit.
"""
from gi.repository import Gegl, Gimp

from painterly_client.plugin_core import pixels, request
from painterly_client.plugin_core.geometry import Bounds, Extent
from painterly_client.plugin_core.region import MaskSource, choose_mask

U8 = (Gimp.Precision.U8_LINEAR, Gimp.Precision.U8_NON_LINEAR, Gimp.Precision.U8_PERCEPTUAL)


def pixel_format(image):
    """(Babl format, depth) for exchanging the image's pixels."""
    return ("R'G'B'A u8", 8) if image.get_precision() in U8 else ("R'G'B'A u16", 16)


def offsets(drawable):
    return tuple(drawable.get_offsets()[1:])


def canvas_of(drawable):
    """The drawable's area in image coordinates."""
    x, y = offsets(drawable)
    return Bounds(x, y, drawable.get_width(), drawable.get_height())


def read_local(drawable, bounds, fmt, scale=1.0):
    """Bytes of a rectangle in the drawable's own coordinates (scaled ones with ``scale``: Gegl resamples),
    transparent where the drawable does not reach, in the wire's byte order."""
    rect = Gegl.Rectangle.new(bounds.x, bounds.y, bounds.width, bounds.height)
    data = bytes(drawable.get_buffer().get(rect, scale, fmt, Gegl.AbyssPolicy.NONE))
    return pixels.little_endian(data, 16 if fmt.endswith("u16") else 8)


def read(drawable, bounds, fmt):
    """Bytes of an image-coordinate rectangle of a drawable."""
    return read_local(drawable, Bounds(*bounds).relative_to(offsets(drawable)), fmt)


def read_selection(image, bounds):
    rect = Gegl.Rectangle.new(bounds.x, bounds.y, bounds.width, bounds.height)
    return bytes(image.get_selection().get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.NONE))


def choose(image, drawable, method, margin):
    """(MaskChoice, region) for the job, by the plugin core's rules (UserError with what to do)."""
    selection = None
    if not Gimp.Selection.is_empty(image):
        _, _, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
        selection = MaskSource((x1, y1, x2 - x1, y2 - y1), lambda b: read_selection(image, b))
    alpha = None
    if drawable.has_alpha():
        alpha = MaskSource(canvas_of(drawable), lambda b: read(drawable, b, "Y'A u8")[1::2])
    canvas = canvas_of(drawable)
    choice = choose_mask(method, canvas, drawable.get_name(), selection, alpha)
    return choice, choice.region(margin, canvas)


def visible(image, bounds, fmt):
    """What is visible (all layers merged, as GIMP composites them) over ``bounds``."""
    layer = Gimp.Layer.new_from_visible(image, image, "painterly visible")
    try:
        return read(layer, bounds, fmt)
    finally:
        layer.delete()            # never added to the image: no undo step, nothing left behind


def whole(client, layer, fmt, depth):
    """A layer used whole (a style painting), reduced to request.STYLE_MAX_SIDE by Gegl."""
    full = Extent(layer.get_width(), layer.get_height())
    size = request.whole_size(full)
    scale = float(size.width) / full.width
    return client.ImageBuffer(size.width, size.height, 4, depth, read_local(layer, Bounds.of(size), fmt, scale))


def gather(client, image, drawable, method, sources, sample_merged, margin):
    """(images, MaskChoice) for ``method``: the base, the mask and each chosen source layer."""
    fmt, depth = pixel_format(image)
    choice, region = choose(image, drawable, method, margin)
    x, y, w, h = region
    base = visible(image, region, fmt) if sample_merged else read(drawable, region, fmt)
    images = {method.base_input: client.ImageBuffer(w, h, 4, depth, base, x, y)}
    mask = choice.mask_for(region)
    for spec in method.masks:
        if mask is not None:
            images[spec.name] = client.ImageBuffer(w, h, 1, 8, mask, x, y)
    for spec in method.sources:
        layer = sources.get(spec.name)
        if layer is None:
            continue
        images[spec.name] = client.ImageBuffer(w, h, 4, depth, read(layer, region, fmt), x, y) if spec.aligned \
            else whole(client, layer, fmt, depth)
    return images, choice


def insert_result(image, drawable, result, name, selection_mask):
    """The result as a new layer right above ``drawable``, in one undo group; the drawable is untouched.
    ``selection_mask``: limit it with a layer mask made from the selection (methods without a mask)."""
    res = result.image
    fmt = "R'G'B'A u16" if res.depth == 16 else "R'G'B'A u8"
    layer_type = (Gimp.ImageType.GRAYA_IMAGE if image.get_base_type() == Gimp.ImageBaseType.GRAY
                  else Gimp.ImageType.RGBA_IMAGE)
    image.undo_group_start()
    try:
        layer = Gimp.Layer.new(image, name, res.width, res.height, layer_type, 100.0, Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, drawable.get_parent(), image.get_item_position(drawable))
        layer.set_offsets(res.x, res.y)
        buf = layer.get_buffer()
        buf.set(Gegl.Rectangle.new(0, 0, res.width, res.height), fmt, pixels.little_endian(res.data, res.depth))
        buf.flush()
        if selection_mask:
            layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
        layer.update(0, 0, res.width, res.height)
    finally:
        image.undo_group_end()
    Gimp.displays_flush()
    return layer

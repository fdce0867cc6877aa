"""Putting a job together the same way in both apps: the canvas rectangle each input is read from, the
checks before anything is sent (every required image present, the daemon's size limits) and the result
layer's name. Pure Python 3.8+.
"""
from .errors import UserError
from .geometry import Bounds, Extent

STYLE_MAX_SIDE = 1024   # an image used whole (a style painting) is sent at most this large: only its
                        # statistics matter


def rect_for(spec, region, canvas):
    """Where input ``spec`` is read from: the region for the base, masks and aligned inputs, the whole
    canvas for the rest."""
    return Bounds(*region) if spec.aligned or spec.is_mask else Bounds(*canvas)


def whole_size(extent):
    """The size an image used whole is sent at."""
    return Extent(*extent).fit_within(STYLE_MAX_SIDE)


def check_inputs(method, images):
    """UserError when a required input is missing; the names of inputs the method does not declare are
    dropped (a daemon older than the app's declarations)."""
    declared = dict((spec.name, spec) for spec in method.inputs)
    missing = [spec for spec in method.inputs if spec.required and spec.name not in images]
    if missing:
        spec = missing[0]
        raise UserError("no_" + spec.name, "%s needs the image %r (%s): choose where it comes from."
                        % (method.label, spec.label, spec.help or spec.name))
    return dict((name, image) for name, image in images.items() if name in declared)


def check_limits(images, limits):
    """UserError ("too_large") when the images break the daemon's limits from its handshake."""
    limits = limits or {}
    largest = max(images.values(), key=lambda im: im.width * im.height)
    size = Extent(largest.width, largest.height)
    longest = max(max(im.width, im.height) for im in images.values())
    if limits.get("max_side") and longest > limits["max_side"]:
        raise UserError("too_large", "Too large: an image of %s is over the daemon's limit of %d px a side. Select a "
                        "smaller area or lower the context margin." % (size, limits["max_side"]))
    total = sum(im.width * im.height for im in images.values())
    if limits.get("max_pixels") and total > limits["max_pixels"]:
        raise UserError("too_large", "Too large: the images to send hold {:,} pixels (the largest {}), the daemon "
                        "accepts at most {:,}. Select a smaller area, lower the context margin or use a smaller "
                        "style image.".format(total, size, limits["max_pixels"]))
    nbytes = sum(len(im.data) for im in images.values())
    if limits.get("max_message_bytes") and nbytes > limits["max_message_bytes"]:
        raise UserError("too_large", "Too large: %d MB of pixels to send, the daemon accepts %d MB. Select a "
                        "smaller area." % (nbytes >> 20, limits["max_message_bytes"] >> 20))


def result_name(method, params):
    """The new layer's name: the method's label and its basic parameters, e.g.
    ``Harmonize Selection (preview, strength 0.5)``."""
    described = method.describe_values(params)
    return "%s (%s)" % (method.label, described) if described else method.label

"""Byte-level glue between Krita's pixel layout and the daemon's: no Qt, no Krita, no image math.

Krita hands RGBA documents out as B,G,R,A per pixel (8-bit, or 16-bit little-endian integers); the
daemon speaks R,G,B,A.  Selections and masks are one byte per pixel.  Rectangles are (x, y, w, h) in
canvas pixels.
"""
from array import array

SUPPORTED = {("RGBA", "U8"): 8, ("RGBA", "U16"): 16}


def bit_depth(color_model, color_depth):
    """8 or 16 for the RGBA integer documents this plugin reads, else None."""
    return SUPPORTED.get((color_model, color_depth))


def swap_red_blue(data, depth):
    """BGRA <-> RGBA (the same swap both ways), 8- or 16-bit samples."""
    if depth == 8:
        buf = bytearray(data)
        buf[0::4], buf[2::4] = buf[2::4], buf[0::4]
        return bytes(buf)
    samples = array("H")
    samples.frombytes(bytes(data))
    samples[0::4], samples[2::4] = samples[2::4], samples[0::4]
    return samples.tobytes()


def alpha_mask(data, depth):
    """The alpha channel of 4-channel pixels as an 8-bit mask (16-bit: the high byte)."""
    return bytes(data[3::4]) if depth == 8 else bytes(data[7::8])


def to_8bit(data, depth):
    """Samples reduced to 8 bits (16-bit little-endian: the high byte of each sample)."""
    return bytes(data) if depth == 8 else bytes(data[1::2])


def mask_bounds(mask, width, height):
    """Bounding box (x, y, w, h), relative to the mask, of its non-zero bytes, or None when all zero."""
    mask = bytes(mask)
    rows = [mask[y * width:(y + 1) * width] for y in range(height)]
    used = [y for y, row in enumerate(rows) if row.strip(b"\0")]
    if not used:
        return None
    left = min(len(rows[y]) - len(rows[y].lstrip(b"\0")) for y in used)
    right = max(len(rows[y].rstrip(b"\0")) for y in used)
    return (left, used[0], right - left, used[-1] + 1 - used[0])


def is_all(mask, value=255):
    """True when every byte of the mask equals value (e.g. a full-canvas selection)."""
    mask = bytes(mask)
    return len(mask) > 0 and mask.count(bytes((value,))) == len(mask)


def grow_rect(rect, margin, limit):
    """rect grown by margin pixels on every side and clipped to limit (both (x, y, w, h))."""
    x, y, w, h = rect
    lx, ly, lw, lh = limit
    x0, y0 = max(lx, x - margin), max(ly, y - margin)
    x1, y1 = min(lx + lw, x + w + margin), min(ly + lh, y + h + margin)
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def intersect(a, b):
    return grow_rect(a, 0, b)


def crop(data, width, rect, channels=1):
    """The rect (x, y, w, h) cut out of a width-wide buffer of `channels` bytes per pixel."""
    x, y, w, h = rect
    stride = width * channels
    return b"".join(bytes(data[(y + r) * stride + x * channels:(y + r) * stride + (x + w) * channels])
                    for r in range(h))


def fmt_size(rect):
    return "%d\u00d7%d px" % (rect[2], rect[3])

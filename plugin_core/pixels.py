"""Byte layouts between the apps and the wire: channel order, sample width and byte order, masks.

No image math: only reordering, cutting and reading bytes. The wire speaks R,G,B(,A) with 8-bit samples
or 16-bit little-endian ones; masks are one byte per pixel. Krita hands RGBA documents out as B,G,R,A;
GIMP's Babl formats use the machine's byte order. Pure Python 3.8+.
"""
import sys
from array import array

from .geometry import Bounds


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


def little_endian(data, depth):
    """Samples in the machine's byte order as the wire's little-endian ones (and back): a no-op for 8-bit
    samples and on little-endian machines."""
    if depth == 8 or sys.byteorder == "little":
        return bytes(data)
    samples = array("H")
    samples.frombytes(bytes(data))
    samples.byteswap()
    return samples.tobytes()


def alpha_of(data, depth, channels=4):
    """The last channel of interleaved pixels as an 8-bit mask (16-bit little-endian: the high byte)."""
    data = bytes(data)
    if depth == 8:
        return data[channels - 1::channels]
    return data[2 * channels - 1::2 * channels]


def to_8bit(data, depth):
    """Samples reduced to 8 bits (16-bit little-endian: the high byte of each sample)."""
    return bytes(data) if depth == 8 else bytes(data)[1::2]


def widen(data):
    """8-bit samples as 16-bit little-endian ones (v -> v * 257, so 255 stays full scale)."""
    data = bytes(data)
    out = bytearray(2 * len(data))
    out[0::2], out[1::2] = data, data
    return bytes(out)


def crop(data, width, bounds, channels=1):
    """The rectangle ``bounds`` (in the buffer's own coordinates) cut out of a ``width``-pixel-wide buffer
    of ``channels`` bytes per pixel."""
    x, y, w, h = bounds
    stride = width * channels
    data = memoryview(bytes(data))
    return b"".join(bytes(data[(y + r) * stride + x * channels:(y + r) * stride + (x + w) * channels])
                    for r in range(h))


def nonzero_bounds(mask, width, height):
    """Bounds, relative to the mask, of its non-zero bytes (soft ones count), or None when all are zero."""
    mask = bytes(mask)
    rows = [mask[y * width:(y + 1) * width] for y in range(height)]
    used = [y for y, row in enumerate(rows) if row.strip(b"\0")]
    if not used:
        return None
    left = min(len(rows[y]) - len(rows[y].lstrip(b"\0")) for y in used)
    right = max(len(rows[y].rstrip(b"\0")) for y in used)
    return Bounds(left, used[0], right - left, used[-1] + 1 - used[0])


def is_all(mask, value=255):
    """True when the mask has bytes and every one equals ``value`` (e.g. a fully selected canvas)."""
    mask = bytes(mask)
    return len(mask) > 0 and mask.count(bytes((value,))) == len(mask)


def is_soft(mask):
    """True when some byte is neither 0 nor 255 (a feathered or partial selection)."""
    return len(bytes(mask).translate(None, b"\x00\xff")) > 0


# every selected level -> fully selected
_COVERAGE = bytes([0] + [255] * 255)


def coverage(mask):
    """Where the mask is non-zero, at 255: the area a result may cover, whatever the levels inside."""
    return bytes(mask).translate(_COVERAGE)


def solid(extent, channels, value=255):
    """A buffer of ``extent`` pixels with every byte ``value`` (e.g. an all-selected mask)."""
    return bytes((value,)) * (extent[0] * extent[1] * channels)

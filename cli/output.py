"""The command line's image files, written without losing any: checked before anything is computed, then
written whole or not at all. Every command that writes an image goes through here.

* :func:`check_output` before the compute: a format painterly can write, not a folder, in a folder (made
  at write time if missing) the user may write in, and none of the command's inputs (every file it reads:
  style images, label maps, masks); :func:`check_outputs_apart` for a command writing several files.
* :func:`write_image`: formats without transparency (JPEG, ...) get transparent pixels flattened onto
  white, with a note saying so; the file is written next to its place and moved over it only once
  complete (:func:`painterly.daemon.store.atomic_file`), so a failure leaves any earlier file as it was.
"""
from __future__ import annotations

import functools
import io
import os
import sys
from pathlib import Path

import numpy as np

from .errors import UserError

COMMON = ".png, .tif, .webp or .jpg"


@functools.lru_cache(maxsize=None)
def _format_of(suffix: str):
    """(PIL format name, keeps transparency) for a file suffix, or None when PIL cannot write it."""
    from PIL import Image
    Image.init()
    name = Image.registered_extensions().get(suffix)
    if name is None or name not in Image.SAVE:
        return None

    def writes(mode):
        try:
            Image.new(mode, (2, 2)).save(io.BytesIO(), format=name)
            return True
        except Exception:  # any failure means "not in this mode"
            return False
    if not writes("RGB"):
        return None
    return name, writes("RGBA")


def image_format(path) -> tuple[str, bool]:
    found = _format_of(Path(path).suffix.lower())
    if found is None:
        raise UserError(f"cannot write {path}: {Path(path).suffix or 'no suffix'} is not an image format painterly "
                        f"can write (use {COMMON})")
    return found


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _writable_folder(path: Path, what: Path):
    """The nearest existing folder at or above ``path`` must be a folder the user may write in."""
    folder = path
    while not os.path.lexists(folder) and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {what}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {what}: no permission to write in {folder}")


def check_output(path, *inputs) -> Path:
    """Raise UserError (before any compute) unless ``path`` can take the result; ``inputs`` are the
    command's input files, none of which is ever overwritten."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder")
    _writable_folder(path.parent, path)
    image_format(path)
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"cannot write {path}: the file is read-only")
    return check_not_an_input(path, *inputs)


def check_not_an_input(path, *inputs) -> Path:
    """Raise UserError when ``path`` is (or links to) one of ``inputs``."""
    path = Path(path)
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise UserError(f"refusing to write the result over the input {source}: choose another output")
    return path


def _identity(path: Path):
    """What tells two paths of one file apart from two files: (device, inode) of an existing file, else the
    real path."""
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return os.path.realpath(path)


def check_outputs_apart(outputs, *inputs) -> list:
    """Raise UserError when one of ``outputs`` (files a command will write) is one of ``inputs`` or another
    of ``outputs``: every path is an input or an output, never both, and each output is written once.
    One look at each file, so a batch of thousands is checked at once."""
    sources = {_identity(Path(p)): p for p in inputs if p is not None}
    seen, outputs = {}, [Path(p) for p in outputs]
    for path in outputs:
        key = _identity(path)
        if key in sources:
            raise UserError(f"refusing to write the result {path} over the input {sources[key]}: choose another "
                            "output")
        if key in seen:
            raise UserError(f"{seen[key]} would be written twice by this command: choose another output")
        seen[key] = path
    return outputs


def check_folder(folder) -> Path:
    """Raise UserError unless ``folder`` is (or can be made as) a folder the user may write in."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"cannot write into {folder}: it is a file, not a folder")
    _writable_folder(folder, folder)
    return folder


def write_image(path, rgb: np.ndarray, alpha: np.ndarray | None = None, bit_depth: int = 8) -> Path:
    """Write an RGB float image (alpha kept aside) safely; see the module's description."""
    from painterly.daemon.store import atomic_file
    from painterly.engine import save_image
    path = Path(path)
    name, keeps_alpha = image_format(path)
    if alpha is not None and not keeps_alpha:
        alpha = np.clip(np.asarray(alpha, np.float32), 0, 1)
        if alpha.min() < 1:
            rgb = np.asarray(rgb, np.float32) * alpha[..., None] + (1 - alpha[..., None])
            print(f"note: {path}: {name} has no transparency, so the transparent parts are flattened onto "
                  "white (write .png to keep them)", file=sys.stderr)
        alpha = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as f:
            save_image(path, rgb, alpha, bit_depth, fileobj=f)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path

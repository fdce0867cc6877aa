"""Image pixels through shared memory between a client and a daemon on the same machine, the socket carrying
only the messages. Pure Python 3.8+ (stdlib ``mmap``), so it works in the apps' own Python.

A mapping is a file in the folder of the daemon's ``ipc://`` socket (the user's own folder, mode 0700,
checked by both sides before the socket is used), created by the client with ``O_CREAT | O_EXCL |
O_NOFOLLOW`` and mode 0600 and mapped with :mod:`mmap`. The client writes a job's input images into its
input mapping and names, in the submit request, the regions holding them (``"shm": {"file", "regions":
[[offset, length], ...], "result"}``); the daemon opens the file by name inside its own folder, without
following links, and reads it only when it is a regular file of its own user, mode 0600 (no access for
group or others) and with one link (:func:`open_checked`); the same checks apply to the result mapping the
client offers, into which the daemon writes the result; the ``done`` event then describes the image with
``"shm": result file`` and no frame. So another user can neither read a mapping (the folder and the file
are closed to them) nor make the daemon read or write one of theirs in its place (the owner and mode
checks, no links followed); a file planted under the expected name is refused, never used.

The client reuses its mappings from one job to the next (mapping and touching 64 MiB of fresh memory
costs more than the copy), except an input mapping whose job it did not see end (a cancel): that one is
dropped and a new one made, so a job still reading it is never written under. A result mapping is
reused only once its job was seen to end and nothing refers to the result's pixels any more; one offered
to a job this client gave up on (a cancel, no answer) is dropped, never offered again.
"""
from __future__ import absolute_import

import binascii
import mmap
import os
import re
import stat
import sys

NAME_RE = re.compile(r"^painterly-shm-[0-9]+-[0-9a-f]{16}\.map$")
MAX_RESULT_SLOTS = 4          # result mappings a client keeps; beyond, results come as frames
ALIGN = 64


class MappingRefused(Exception):
    """A mapping that must not be used (wrong owner, mode, kind, links, name or size): the sentence says why."""


def available():
    return hasattr(os, "O_NOFOLLOW") and hasattr(os, "getuid")


def folder_of(endpoint):
    """The folder where the mappings of the daemon at ``endpoint`` live: its ``ipc://`` socket's folder, or
    None where there is none (TCP, abstract sockets): those endpoints send pixels as frames."""
    if not available() or not endpoint or not endpoint.startswith("ipc://") or endpoint.startswith("ipc://@"):
        return None
    return os.path.dirname(endpoint[len("ipc://"):]) or None


def new_name():
    return "painterly-shm-%d-%s.map" % (os.getpid(), binascii.hexlify(os.urandom(8)).decode("ascii"))


def check_fd(fd, uid=None, size=None):
    """Raise MappingRefused unless ``fd`` is a regular file of ``uid`` (default: this process's), with no
    access for group or others, one link, and at least ``size`` bytes long. Returns its stat."""
    st = os.fstat(fd)
    uid = os.geteuid() if uid is None else uid
    if not stat.S_ISREG(st.st_mode):
        raise MappingRefused("it is not a regular file")
    if st.st_uid != uid:
        raise MappingRefused("it belongs to uid %d, not to uid %d" % (st.st_uid, uid))
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise MappingRefused("its mode is %o: group or others have access" % stat.S_IMODE(st.st_mode))
    if st.st_nlink != 1:
        raise MappingRefused("it has %d links" % st.st_nlink)
    if size is not None and st.st_size < size:
        raise MappingRefused("it holds %d bytes, fewer than the %d asked for" % (st.st_size, size))
    return st


def open_checked(folder_fd, name, uid=None):
    """(Daemon side.) ``(mmap, stat)`` of the mapping ``name`` in the folder open as ``folder_fd``, after the
    checks of :func:`check_fd`; MappingRefused otherwise."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise MappingRefused("%r is not the name of a painterly mapping" % (name,))
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags, dir_fd=folder_fd)
    except OSError as exc:
        raise MappingRefused("it cannot be opened (%s)" % (exc.strerror or exc))
    try:
        st = check_fd(fd, uid)
        if st.st_size == 0:
            raise MappingRefused("it is empty")
        return mmap.mmap(fd, st.st_size), st
    finally:
        os.close(fd)


class Mapping(object):
    """(Client side.) A new owner-only file of ``size`` bytes in ``folder``, mapped; removed by close()."""

    def __init__(self, folder, size):
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        for _ in range(8):
            self.name = new_name()
            self.path = os.path.join(folder, self.name)
            try:
                fd = os.open(self.path, flags, 0o600)
                break
            except FileExistsError:
                continue
        else:
            raise MappingRefused("no new mapping could be made in %s" % folder)
        try:
            st = os.fstat(fd)
            self.ident = (st.st_dev, st.st_ino)
            os.fchmod(fd, 0o600)            # whatever the umask
            check_fd(fd)
            os.ftruncate(fd, size)
            self.map = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            self._unlink()
            raise
        os.close(fd)
        self.size = size
        self.lent_to = None             # inputs: the job reading them, until it is seen to end; results: the
                                        # job the mapping was offered to, until its end is seen
        self._base_refs = sys.getrefcount(self.map)

    def _unlink(self):
        """Remove the file, if the name is still this mapping's (not a file put there since)."""
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == getattr(self, "ident", None):
                os.unlink(self.path)
        except OSError:
            pass

    def in_use(self):
        """Whether a view of this mapping (a result's pixels) is still alive somewhere."""
        return sys.getrefcount(self.map) > self._base_refs

    def view(self, offset, length):
        return memoryview(self.map)[offset:offset + length]

    def close(self):
        """Remove the file; the memory goes when the last view of it does (the daemon's too)."""
        self._unlink()
        self.map = None


def layout(images):
    """``[(name, offset, length)]`` of ``images`` ({name: ImageBuffer}) packed in one mapping, and its size."""
    out, offset = [], 0
    for name, image in images.items():
        out.append((name, offset, image.nbytes))
        offset += (image.nbytes + ALIGN - 1) // ALIGN * ALIGN
    return out, max(offset, ALIGN)


class ClientMappings(object):
    """A client's input mapping and result mappings in ``folder``; see the module's description."""

    def __init__(self, folder):
        self.folder = folder
        self.inputs = None
        self.results = []
        self.offered = None     # the result mapping named in the submit being sent

    def put(self, images, result_bytes):
        """Write ``images`` into the input mapping; returns the request's ``shm`` field (naming a free result
        mapping of at least ``result_bytes``, when one can be had) and ``{name: frame index}`` past the sent
        frames: the regions are appended, in this order, after the message's own frames."""
        places, size = layout(images)
        if self.inputs is not None and (self.inputs.lent_to is not None or self.inputs.size < size):
            self.inputs.close()
            self.inputs = None
        if self.inputs is None:
            self.inputs = Mapping(self.folder, size)
        field = {"file": self.inputs.name, "regions": []}
        for name, offset, length in places:
            self.inputs.map[offset:offset + length] = memoryview(images[name].data).cast("B")
            field["regions"].append([offset, length])
        result = self.offered = self._result_mapping(result_bytes)
        if result is not None:
            result.lent_to = ""          # offered: its job id follows with lend()
            field["result"] = result.name
        return field, [name for name, _, _ in places]

    def _result_mapping(self, nbytes):
        free = [m for m in self.results if m.lent_to is None and not m.in_use()]
        for mapping in free:
            if mapping.size >= nbytes:
                return mapping
        if free:                         # too small: replace one
            free[0].close()
            self.results.remove(free[0])
        elif len(self.results) >= MAX_RESULT_SLOTS:
            return None
        mapping = Mapping(self.folder, max(nbytes, ALIGN))
        self.results.append(mapping)
        return mapping

    def lend(self, job_id):
        """The daemon took the submit as job ``job_id``."""
        if self.inputs is not None:
            self.inputs.lent_to = job_id
        if self.offered is not None:
            self.offered.lent_to, self.offered = job_id, None

    def returned(self, job_id):
        """The job was seen to end: its inputs may be written over, its result mapping offered again once
        its view is gone."""
        for mapping in [self.inputs] + self.results:
            if mapping is not None and mapping.lent_to == job_id:
                mapping.lent_to = None

    def abandon(self, job_id=None):
        """This client gives up on ``job_id`` (or on the submit being sent: its inputs and offered result
        mapping): those mappings are dropped, as the daemon may still read or write them."""
        for mapping in [self.inputs] + self.results:
            if mapping is None:
                continue
            if (mapping.lent_to == job_id) if job_id is not None else (mapping is self.inputs or mapping.lent_to == ""):
                mapping.close()
        if self.inputs is not None and self.inputs.map is None:
            self.inputs = None
        self.results = [m for m in self.results if m.map is not None]
        self.offered = None

    def result_view(self, name, nbytes):
        """The pixels the daemon wrote into result mapping ``name`` (a view: the mapping is not reused while
        it lives), or None when this client offered no such mapping."""
        for mapping in self.results:
            if mapping.name == name and nbytes <= mapping.size:
                return mapping.view(0, nbytes)
        return None

    def close(self):
        for mapping in ([self.inputs] if self.inputs is not None else []) + self.results:
            mapping.close()
        self.inputs, self.results = None, []


def client_mappings(endpoint, enabled=True):
    """The shared-memory side of a client of ``endpoint``, or None (not a local ``ipc://`` socket, disabled
    by ``enabled`` or ``$PAINTERLY_SHM=0``)."""
    folder = folder_of(endpoint)
    if not enabled or folder is None or os.environ.get("PAINTERLY_SHM", "1").strip() in ("0", "no", "off"):
        return None
    return ClientMappings(folder)


def submit_images(mappings, header, images):
    """Put a submit's ``images`` ({name: ImageBuffer}) in shared memory: the header's ``shm`` field and image
    descriptors are filled in, and no frame is sent. Returns False (nothing changed) when the mappings
    cannot be made, so the caller sends frames."""
    result_bytes = max(image.width * image.height * 4 * image.depth // 8 for image in images.values())
    try:
        field, order = mappings.put(images, result_bytes)
    except (OSError, MappingRefused, ValueError):
        return False
    header["shm"] = field
    header["images"] = dict((name, images[name].descriptor(index)) for index, name in enumerate(order))
    return True


def result_image(mappings, desc, image_class):
    """The result an event describes with ``"shm"`` (a view of this client's result mapping), or None."""
    if mappings is None or not isinstance(desc, dict) or not isinstance(desc.get("shm"), str):
        return None
    try:
        nbytes = desc["width"] * desc["height"] * desc["channels"] * desc["depth"] // 8
        view = mappings.result_view(desc["shm"], nbytes)
    except (KeyError, TypeError):
        return None
    if view is None:
        return None
    return image_class(desc["width"], desc["height"], desc["channels"], desc["depth"], view,
                       desc.get("x", 0), desc.get("y", 0)).check("result")

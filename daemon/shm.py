"""The daemon's side of shared memory (:mod:`painterly.wire.shm`): a local client's pixels read from, and its
result written into, mappings in the folder of the daemon's ``ipc://`` socket, each opened without following
links and used only when it is a regular file of the daemon's own user, mode 0600, with one link.

Also the two rules of ``live`` jobs (a preview that the next one replaces): they are neither journaled
nor written to disk, and their result is dropped once it went to a client.
"""
from __future__ import annotations

import collections
import logging
import os

from painterly.wire import protocol, shm
from painterly.wire.protocol import ProtocolError

log = logging.getLogger("painterly.daemon")

CACHED = 8   # mappings kept open (a client reuses its own from job to job)


class SharedMemory:
    def __init__(self, endpoint: str):
        self.folder = shm.folder_of(endpoint)
        self.folder_fd = None
        if self.folder is not None:
            try:
                self.folder_fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                log.warning("no shared memory: the socket's folder %s cannot be opened (%s)", self.folder, exc)
        self.maps: collections.OrderedDict[str, tuple] = collections.OrderedDict()   # name -> (mmap, dev, ino)

    def close(self):
        self.maps.clear()       # each mapping goes when the last job's view of it does
        if self.folder_fd is not None:
            os.close(self.folder_fd)
            self.folder_fd = None

    def mapping(self, name: str):
        """The mapping ``name``, checked (MappingRefused otherwise); kept open while the file is the same."""
        if self.folder_fd is None:
            raise shm.MappingRefused("this daemon's endpoint has no folder for shared memory")
        if not isinstance(name, str) or not shm.NAME_RE.match(name):
            raise shm.MappingRefused("%r is not the name of a painterly mapping" % (name,))
        cached = self.maps.get(name)
        if cached is not None:
            try:
                st = os.stat(name, dir_fd=self.folder_fd, follow_symlinks=False)
            except OSError:
                st = None
            if st is not None and (st.st_dev, st.st_ino) == cached[1:] and st.st_nlink == 1:
                self.maps.move_to_end(name)
                return cached[0]
            del self.maps[name]    # removed or replaced: open (and check) what is there now
        mapped, st = shm.open_checked(self.folder_fd, name)
        self.maps[name] = (mapped, st.st_dev, st.st_ino)
        while len(self.maps) > CACHED:
            self.maps.popitem(last=False)
        return mapped

    def purge(self):
        """Forget the mappings whose file is gone (a client closed): their memory goes with the last view."""
        for name, (_, dev, ino) in list(self.maps.items()):
            try:
                st = os.stat(name, dir_fd=self.folder_fd, follow_symlinks=False)
            except OSError:
                st = None
            if st is None or (st.st_dev, st.st_ino) != (dev, ino):
                del self.maps[name]

    def attach(self, name, regions):
        """(For parse_request.) Views of a submit's regions in mapping ``name``."""
        self.purge()
        try:
            mapped = self.mapping(name)
        except shm.MappingRefused as exc:
            raise ProtocolError(protocol.AUTH, f"the shared memory {name!r} was refused: {exc}; nothing of it was "
                                "read (send the pixels as frames, or use your own daemon's socket)")
        views = []
        for offset, length in regions:
            if offset + length > len(mapped):
                raise ProtocolError(protocol.BAD_MESSAGE, f"a shared memory region [{offset}, {length}] lies past "
                                    f"the end of {name!r} ({len(mapped)} bytes)")
            views.append(memoryview(mapped)[offset:offset + length])
        return views

    @staticmethod
    def adopt(job, identity, header):
        """Note on a new job who submitted it, whether it is live and where its result may go."""
        job.live = bool(header.get("live"))
        job.submitter = identity
        job.shm_result = (header.get("shm") or {}).get("result")

    def deliver(self, job, identity, message):
        """The done event for ``identity`` with the result written into the submitter's result mapping, or
        None (another client, no such mapping, or one refused: the result then goes as a frame)."""
        target = getattr(job, "shm_result", None)
        if target is None or identity != getattr(job, "submitter", None):
            return None
        header, frames = message(job)
        if header.get("event") != "done" or len(frames) != 1:
            return None
        data = memoryview(frames[0]).cast("B")
        try:
            mapped = self.mapping(target)
        except shm.MappingRefused as exc:
            log.warning("job %s: result mapping %s refused (%s); the result goes as a frame", job.id, target, exc)
            return None
        if data.nbytes > len(mapped):
            return None
        mapped[:data.nbytes] = data
        image = dict(header["image"], shm=target)
        del image["frame"]
        return dict(header, image=image), []


def is_live(job) -> bool:
    return bool(getattr(job, "live", False))

"""Pixels through shared memory between a client and a local daemon (wire/shm.py, daemon/shm.py): the round
trip, live jobs, the reuse rules of the mappings, and the checks that keep another user's file out."""
import os
import stat
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from painterly.daemon import buffers
from painterly.daemon.config import DaemonConfig
from painterly.daemon.server import Daemon
from painterly.wire import protocol, shm
from painterly.wire.client import Client, DaemonError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "daemon"))
from other_user import OTHER_UID, run_as_other_user  # noqa: E402


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shm")
    os.chmod(folder, 0o700)
    d = Daemon(DaemonConfig(endpoint="ipc://%s/daemon.sock" % folder, devices=("cpu",), results_dir=folder / "results",
                            allow_test_methods=True))
    ready = threading.Event()
    thread = threading.Thread(target=d.serve_forever, kwargs={"ready": lambda ep: ready.set()}, daemon=True)
    thread.start()
    assert ready.wait(120)
    yield d
    d.running = False
    thread.join(10)


def image(seed, side=64, depth=8):
    dtype = np.uint8 if depth == 8 else np.uint16
    return buffers.from_uint(np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, (side, side, 4), dtype=dtype),
                             x=3, y=5)


def sent_frames(client):
    """Count the frames each request of ``client`` sends."""
    counts = []
    send = client._send
    client._send = lambda frames: (counts.append(len(frames)), send(frames))[1]
    return counts


@pytest.mark.parametrize("depth", [8, 16])
def test_round_trip_goes_through_the_mappings_and_the_socket_carries_only_the_header(daemon, depth):
    content = image(depth, depth=depth)
    with Client(daemon.endpoint, timeout=20) as client:
        counts = sent_frames(client)
        result = client.run("echo", {}, {"content": content})
        assert bytes(result.image.data) == bytes(content.data)
        assert (result.image.x, result.image.y, result.image.depth) == (3, 5, depth)
        assert counts and counts[0] == 1                        # the submit: a header, no pixel frame
        assert result.image.data.obj is client._shm.results[0].map   # the result read from the mapping
        for mapping in [client._shm.inputs] + client._shm.results:
            st = os.lstat(mapping.path)
            assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
            assert os.path.dirname(mapping.path) == os.path.dirname(daemon.endpoint[len("ipc://"):])
        paths = [m.path for m in [client._shm.inputs] + client._shm.results]
    assert not any(os.path.exists(p) for p in paths)            # closing the client removes its mappings


def test_mappings_are_reused_but_never_under_a_live_view_or_a_job_not_seen_to_end(daemon):
    with Client(daemon.endpoint, timeout=20) as client:
        first = client.run("echo", {}, {"content": image(1)})
        inputs = client._shm.inputs.name
        second = client.run("echo", {}, {"content": image(2)})
        assert client._shm.inputs.name == inputs                 # the job ended: its inputs are reused
        assert first.image.data.obj is not second.image.data.obj  # the first result is still looked at
        assert bytes(first.image.data) == bytes(image(1).data) and bytes(second.image.data) == bytes(image(2).data)
        held = second.image.data.obj
        del first, second
        third = client.run("echo", {}, {"content": image(3)})
        assert third.image.data.obj in [m.map for m in client._shm.results]
        assert len(client._shm.results) == 2
        del held
        job = client.submit("echo", {"iterations": 50, "delay": 0.05}, {"content": image(4)})
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(protocol.JobCancelled):
            client.wait(job, cancel_event=cancel)             # not seen to end in the daemon: may still read
        client.run("echo", {}, {"content": image(5)})
        assert client._shm.inputs.name != inputs


def test_several_jobs_in_flight_each_get_their_own_result(daemon):
    with Client(daemon.endpoint, timeout=20) as client:
        sent = {client.submit("echo", {"iterations": 2, "delay": 0.02}, {"content": image(20 + i, depth=8 + 8 * (i % 2))}):
                image(20 + i, depth=8 + 8 * (i % 2)) for i in range(6)}
        assert len(client._shm.results) == shm.MAX_RESULT_SLOTS       # the last two results come as frames
        results = [(client.wait(job), content) for job, content in sent.items()]
        assert all(bytes(r.image.data) == bytes(c.data) for r, c in results)
        held = [r for r, _ in results if isinstance(r.image.data, memoryview) and r.image.data.obj is not None
                and r.image.data.obj in [m.map for m in client._shm.results]]
        assert len(held) == shm.MAX_RESULT_SLOTS and len({id(r.image.data.obj) for r in held}) == len(held)


def test_a_live_job_is_not_journaled_and_its_result_goes_once(daemon):
    with Client(daemon.endpoint, timeout=20) as client:
        job = client.submit("echo", {"iterations": 3, "delay": 0.05}, {"content": image(6)}, live=True)
        assert not (daemon.results_dir / ("%s.inputs" % job)).exists()
        assert bytes(client.wait(job).image.data) == bytes(image(6).data)
        with pytest.raises(DaemonError) as err:
            client.wait(job, timeout=5)
        assert err.value.code == protocol.NOT_FOUND
        kept = client.submit("echo", {}, {"content": image(7)})  # not live: journaled, fetchable again
        client.wait(kept)
        assert bytes(client.wait(kept).image.data) == bytes(image(7).data)


def test_without_shared_memory_and_over_tcp_the_pixels_go_as_frames(daemon):
    with Client(daemon.endpoint, timeout=20, shared_memory=False) as client:
        counts = sent_frames(client)
        assert bytes(client.run("echo", {}, {"content": image(8)}).image.data) == bytes(image(8).data)
        assert counts[0] == 2 and client._shm is None
    assert shm.folder_of("tcp://127.0.0.1:7878") is None and shm.folder_of("ipc://@painterly") is None


def submit_naming(daemon, name, regions=None):
    """A submit whose pixels are said to be in mapping ``name`` of the daemon's folder: the error, or None."""
    content = image(9)
    with Client(daemon.endpoint, timeout=20, shared_memory=False) as client:
        header = {"type": "submit", "method": "echo", "params": {}, "images": {"content": content.descriptor(0)},
                  "shm": {"file": name, "regions": regions or [[0, content.nbytes]]}, "live": True}
        try:
            client._request(header)
        except DaemonError as exc:
            return exc
    return None


def plant(folder, name, mode=0o600, size=64 * 64 * 4):
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
    os.ftruncate(fd, size)
    os.fchmod(fd, mode)
    os.close(fd)
    return path


def test_the_daemon_refuses_links_loose_modes_and_foreign_names(daemon, tmp_path):
    folder = os.path.dirname(daemon.endpoint[len("ipc://"):])
    target = plant(str(tmp_path), "elsewhere")
    link = shm.new_name()
    os.symlink(target, os.path.join(folder, link))
    hard = shm.new_name()
    os.link(plant(folder, shm.new_name()), os.path.join(folder, hard))
    loose = plant(folder, shm.new_name(), mode=0o644)
    short = plant(folder, shm.new_name(), size=16)
    cases = {"symlink": (link, None), "hard link": (hard, None), "mode 0644": (os.path.basename(loose), None),
             "outside the folder": ("../" + os.path.basename(target), None), "not a mapping name": ("daemon.sock", None),
             "past its end": (os.path.basename(short), [[0, 64 * 64 * 4]])}
    for what, (name, regions) in cases.items():
        err = submit_naming(daemon, name, regions)
        assert err is not None and err.code in (protocol.AUTH, protocol.BAD_MESSAGE), what
        assert "refused" in str(err) or "past the end" in str(err) or "mapping's name" in str(err), (what, str(err))
    ok = plant(folder, shm.new_name())
    assert submit_naming(daemon, os.path.basename(ok)) is None   # the same request on a proper mapping


class FolderOpenedToAll(object):
    """The socket's folder writable by everyone and its parents searchable, as a careless administrator might
    leave them: only the checks on each mapping stand in the way."""

    def __init__(self, folder):
        self.paths = [Path(folder)] + [p for p in Path(folder).parents if str(p) not in ("/", "/tmp")]
        self.modes = {}

    def __enter__(self):
        for p in self.paths:
            self.modes[p] = stat.S_IMODE(os.lstat(p).st_mode)
            os.chmod(p, self.modes[p] | (0o777 if p == self.paths[0] else 0o711))
        return self

    def __exit__(self, *exc):
        for p, mode in self.modes.items():
            os.chmod(p, mode)


def try_to_read_and_replace(paths):
    """(As the other user.) Read each mapping, then put a file of its own in its place: what happened."""
    out = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                out["read " + os.path.basename(path)] = len(f.read(16))
        except OSError as exc:
            out["read " + os.path.basename(path)] = type(exc).__name__
    for path in paths:
        try:
            size = os.stat(path).st_size
            os.unlink(path)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            os.ftruncate(fd, size)
            os.write(fd, b"impostor")
            os.close(fd)
            out["replace " + os.path.basename(path)] = "replaced"
        except OSError as exc:
            out["replace " + os.path.basename(path)] = type(exc).__name__
    return out


def test_another_user_can_neither_read_nor_replace_a_mapping_of_the_users_daemon(daemon):
    folder = os.path.dirname(daemon.endpoint[len("ipc://"):])
    content = image(10)
    with Client(daemon.endpoint, timeout=20) as client:
        assert bytes(client.run("echo", {}, {"content": content}).image.data) == bytes(content.data)
        paths = [client._shm.inputs.path, client._shm.results[0].path]
        # As the daemon keeps its folder (0700): nothing of it can even be looked at.
        closed = run_as_other_user(try_to_read_and_replace, paths)
        assert set(closed.values()) == {"PermissionError"}, closed
        # With the folder opened to everyone: the mappings (0600) still cannot be read; the other user can
        # put files of its own in their place, and the daemon then refuses to use them.
        with FolderOpenedToAll(folder):
            opened = run_as_other_user(try_to_read_and_replace, paths)
        assert [opened["read " + os.path.basename(p)] for p in paths] == ["PermissionError"] * 2, opened
        assert [opened["replace " + os.path.basename(p)] for p in paths] == ["replaced"] * 2, opened
        assert {os.stat(p).st_uid for p in paths} == {OTHER_UID}
        before = daemon.admission.held_bytes, len(daemon.jobs)
        with pytest.raises(DaemonError) as err:
            client.run("echo", {}, {"content": content})          # the inputs' name is the impostor's now
        assert err.value.code == protocol.AUTH and "belongs to uid %d" % OTHER_UID in str(err.value)
        assert (daemon.admission.held_bytes, len(daemon.jobs)) == before   # no job made of it
        for p in paths:
            with open(p, "rb") as f:
                assert f.read(8) == b"impostor"                    # and nothing written into it
        assert client._shm.inputs is None and not client._shm.results   # the refused submit's mappings dropped
        assert bytes(client.run("echo", {}, {"content": content}).image.data) == bytes(content.data)
        result_path = client._shm.results[0].path                  # new mappings; now only the result one
        with FolderOpenedToAll(folder):                            # is replaced
            assert run_as_other_user(try_to_read_and_replace, [result_path])["replace " +
                                                                             os.path.basename(result_path)] == "replaced"
        result = client.run("echo", {}, {"content": content})
        assert bytes(result.image.data) == bytes(content.data)     # sent as a frame instead
        assert not isinstance(result.image.data, memoryview) or \
            result.image.data.obj not in [m.map for m in client._shm.results]
        for p in paths + [result_path]:
            with open(p, "rb") as f:
                assert f.read(8) == b"impostor"                    # never written into, nor removed

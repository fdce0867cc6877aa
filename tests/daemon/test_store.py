"""The result store and the token file never lose or expose a file: links planted in their place are not
followed, a result too large for the budget is refused without evicting others, the folders and the token
are the user's alone."""
import os
import stat
import struct

import pytest

from painterly.daemon.store import ResultStore, atomic_file
from painterly.daemon.tokens import write_token_file
from painterly.wire import protocol

from other_user import OTHER_UID, other_user_unavailable

MB = 1 << 20


def header(job):
    return protocol.event(job, "done", image={"width": 1, "height": 1, "channels": 4, "depth": 8, "frame": 0})


@pytest.fixture
def store(tmp_path):
    s = ResultStore(tmp_path / "results", disk_budget=3 * MB, keep=3600)
    s.open()
    return s


def test_links_planted_in_the_results_folder_are_never_followed(store, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in ("abc.tmp", ".abc.result.tmp", "abc.result"):
        os.symlink(victim, store.folder / name)
    path = store.write("abc", header("abc"), [b"\x01\x02\x03\x04"])
    assert victim.read_text() == "precious"
    assert path == store.path("abc") and not path.is_symlink()
    got_header, frames = store.read(path)
    assert got_header["job"] == "abc" and bytes(frames[0]) == b"\x01\x02\x03\x04"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.symlink(victim, store.folder / "def.result")       # a link is not a stored result
    assert store.find("def") is None
    with pytest.raises(OSError):
        store.read(store.folder / "def.result")


def test_a_result_larger_than_the_budget_is_refused_and_evicts_nothing(store):
    kept = [store.write(job, header(job), [bytes(MB)]) for job in ("a", "b")]
    assert store.write("huge", header("huge"), [bytes(4 * MB)]) is None
    assert all(p.is_file() for p in kept) and not store.path("huge").exists()
    # A result that fits makes room by deleting the oldest others only.
    os.utime(kept[0], (1, 1))
    assert store.write("c", header("c"), [bytes(int(1.5 * MB))]) is not None
    assert sorted(p.stem for p in store.folder.glob("*.result")) == ["b", "c"]


def test_the_results_folder_is_the_users_and_closed_to_others(tmp_path):
    made = ResultStore(tmp_path / "new" / "results", MB, 60)
    made.open()
    assert stat.S_IMODE(made.folder.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    with pytest.raises(PermissionError, match="open to other users"):
        ResultStore(loose, MB, 60).open()
    ResultStore(loose, MB, 60, fix_mode=True).open()           # painterly's own default folder: closed
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700
    link = tmp_path / "link"
    os.symlink(made.folder, link)
    with pytest.raises(PermissionError, match="symbolic link"):
        ResultStore(link, MB, 60).open()
    if other_user_unavailable() is None:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, OTHER_UID, OTHER_UID)
        with pytest.raises(PermissionError, match="belongs to another user"):
            ResultStore(theirs, MB, 60).open()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as f:
            f.write(b"half a new fi")
            raise RuntimeError("disk full, say")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    with atomic_file(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_a_result_file_is_one_buffer_with_its_header(store):
    path = store.write("xyz", header("xyz"), [b"pixels!!"])
    data = path.read_bytes()
    (size,) = struct.unpack_from("<I", data)
    assert data[4 + size:] == b"pixels!!"


# --- the token file ------------------------------------------------------------------------------------

def test_an_existing_empty_token_file_gets_a_long_token_and_mode_600(tmp_path):
    path = tmp_path / "cfg" / "daemon.token"
    path.parent.mkdir()
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    token = write_token_file(path)
    assert len(token) >= 32 and path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert write_token_file(path) == token                       # kept, not remade


def test_a_short_linked_or_exposed_token_is_refused(tmp_path):
    short = tmp_path / "short"
    short.write_text("abc\n")
    os.chmod(short, 0o600)
    with pytest.raises(PermissionError, match="at least 32"):
        write_token_file(short)
    real = tmp_path / "real"
    real.write_text("x" * 40)
    os.chmod(real, 0o600)
    link = tmp_path / "link"
    os.symlink(real, link)
    with pytest.raises(PermissionError, match="symbolic link"):
        write_token_file(link)
    exposed = tmp_path / "exposed"
    exposed.write_text("y" * 40)
    os.chmod(exposed, 0o644)
    with pytest.raises(PermissionError, match="readable by other users"):
        write_token_file(exposed)


def test_the_daemon_cli_refuses_a_short_token_before_starting(tmp_path, capsys):
    from painterly.cli import main as cli
    short = tmp_path / "short"
    short.write_text("abc\n")
    os.chmod(short, 0o600)
    assert cli.main(["daemon", "--endpoint", "tcp://127.0.0.1:1", "--token-file", str(short),
                     "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "at least 32" in err and "Traceback" not in err

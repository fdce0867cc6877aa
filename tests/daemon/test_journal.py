"""The daemon's journal of unfinished jobs and the files it keeps, without a daemon process."""
import os

import numpy as np
import pytest

from painterly.daemon import buffers
from painterly.daemon.jobs import Job
from painterly.daemon.journal import JobJournal
from painterly.daemon.store import ResultStore, StoreFull
from painterly.wire import protocol


def job(job_id, rng, size=(12, 9), depth=16):
    dtype = np.uint8 if depth == 8 else np.uint16
    images = {"content": buffers.from_uint(rng.integers(0, 255, (size[1], size[0], 4), dtype=dtype), x=3, y=-4),
              "mask": buffers.from_uint(rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8))}
    made = Job(job_id, "masked", {"iterations": 3, "network": "vgg16"}, images, 2)
    made.owner = "artist-1"
    return made


def test_unfinished_jobs_come_back_in_order_with_their_inputs(tmp_path):
    rng = np.random.default_rng(0)
    store = ResultStore(tmp_path, 10 * 2**20, 3600)
    store.open()
    journal = JobJournal(store)
    name = journal.open()
    sent = [job(f"job{i}", rng) for i in range(4)]
    for each in sent:
        journal.add(each)
    assert oct(os.stat(tmp_path / "jobs.sqlite3").st_mode & 0o777) == "0o600"
    assert oct(os.stat(store.inputs_path("job0")).st_mode & 0o777) == "0o600"
    sent[1].state, sent[1].error_code, sent[1].error_message = "failed", protocol.BAD_PARAMS, "bad size"
    journal.finish(sent[1])
    sent[2].state = "cancelled"
    journal.finish(sent[2])
    assert not store.inputs_path("job1").exists() and not store.inputs_path("job2").exists()
    journal.close()  # as a killed daemon would leave it

    again = JobJournal(store)
    assert again.open() == name  # the same daemon identity after a restart
    back = again.unfinished({"masked"})
    assert [j.id for j in back] == ["job0", "job3"]
    for old, new in zip((sent[0], sent[3]), back):
        assert (new.method, new.params, new.preview_every, new.owner, new.created) == \
               (old.method, old.params, old.preview_every, old.owner, old.created)
        for name_, image in old.images.items():
            restored = new.images[name_]
            assert (restored.width, restored.height, restored.channels, restored.depth, restored.x, restored.y) == \
                   (image.width, image.height, image.channels, image.depth, image.x, image.y)
            assert bytes(restored.data) == bytes(image.data)
    failed, cancelled = again.final("job1"), again.final("job2")
    assert (failed.state, failed.error_code, failed.error_message) == ("failed", protocol.BAD_PARAMS, "bad size")
    assert cancelled.state == "cancelled" and again.final("job0") is None
    again.expire(cutoff=failed.finished + 1)
    assert again.final("job1") is None
    again.close()


def test_a_job_whose_result_is_stored_or_inputs_lost_is_not_run_again(tmp_path):
    rng = np.random.default_rng(1)
    store = ResultStore(tmp_path, 10 * 2**20, 3600)
    store.open()
    journal = JobJournal(store)
    journal.open()
    stored, damaged, fine = job("stored", rng), job("damaged", rng), job("fine", rng)
    for each in (stored, damaged, fine):
        journal.add(each)
    store.write("stored", protocol.event("stored", "done"), [b"pixels"])  # stored just before a crash
    store.inputs_path("damaged").write_bytes(b"\x00\x00")
    assert [j.id for j in journal.unfinished({"masked"})] == ["fine"]
    lost = journal.final("damaged")
    assert lost.state == "failed" and "inputs were lost" in lost.error_message
    assert journal.final("stored") is None and store.find("stored") is not None


def test_inputs_that_do_not_fit_the_disk_budget_are_refused(tmp_path):
    rng = np.random.default_rng(2)
    store = ResultStore(tmp_path, 3000, 3600)
    store.open()
    journal = JobJournal(store)
    journal.open()
    journal.add(job("small", rng, size=(10, 10), depth=8))  # 400 + 100 bytes of pixels
    store.write("old", protocol.event("old", "done"), [bytes(2000)])
    journal.add(job("second", rng, size=(10, 10), depth=8))  # the old result goes to make room
    assert store.find("old") is None
    with pytest.raises(StoreFull, match="disk budget"):
        journal.add(job("big", rng, size=(40, 40), depth=16))
    assert not store.inputs_path("big").exists()
    assert [j.id for j in journal.unfinished({"masked"})] == ["small", "second"]


def test_one_daemon_per_journal(tmp_path):
    from painterly.daemon.locks import AlreadyRunning
    store = ResultStore(tmp_path, 10 * 2**20, 3600)
    store.open()
    first = JobJournal(store)
    first.open()
    with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}\\) runs the jobs of {tmp_path}"):
        JobJournal(store).open()
    first.close()
    again = JobJournal(store)          # the lock goes with the daemon that held it
    again.open()
    again.close()

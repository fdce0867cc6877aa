"""The daemon's journal of jobs (SQLite, ``jobs.sqlite3`` in the results folder): every admitted job is
written down with its inputs (through :class:`~.store.ResultStore`) before the submitter hears "queued",
and marked finished when its result is on disk or it failed or was cancelled. A daemon that starts reads
the journal and runs the unfinished jobs again, queued and interrupted alike, in their order; failed and
cancelled jobs stay answerable by id until they expire, like results.

One daemon per journal: a lock next to it is held while the daemon runs, so a second daemon given the same
results folder is refused at its start instead of running the first one's live jobs again.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
import uuid

from painterly.wire import protocol

from .jobs import Job
from .locks import PidLock
from .store import ResultStore

log = logging.getLogger("painterly.daemon")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    method TEXT NOT NULL,
    params TEXT NOT NULL,
    preview_every INTEGER NOT NULL,
    owner TEXT,
    created REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    finished REAL,
    code TEXT,
    message TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class JobJournal:
    def __init__(self, store: ResultStore):
        self.store = store
        self.path = store.folder / "jobs.sqlite3"
        self.db: sqlite3.Connection | None = None
        self.lock = PidLock(store.folder / "jobs.lock",
                            f"another painterly daemon (pid {{pid}}) runs the jobs of {store.folder}; stop it "
                            "('painterly daemon stop') or give this daemon a results folder of its own (--results-dir)")

    def open(self) -> str:
        """Open (or create) the journal; returns this daemon's lasting name, made at its first start.
        AlreadyRunning while another daemon has it open."""
        self.lock.acquire()
        if not self.path.exists():  # created user-only before SQLite opens it
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")     # a killed process loses nothing committed
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key = 'name'").fetchone()
        if row is None:
            name = uuid.uuid4().hex[:12]
            self.db.execute("INSERT INTO meta VALUES ('name', ?)", (name,))
            return name
        return row[0]

    def close(self):
        if self.db is not None:
            self.db.close()
            self.db = None
        self.lock.release()

    def add(self, job: Job):
        """Write the job and its inputs down (StoreFull when they do not fit)."""
        self.store.write_inputs(job.id, job.images)
        try:
            self.db.execute("INSERT INTO jobs (id, method, params, preview_every, owner, created) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            (job.id, job.method, json.dumps(job.params), job.preview_every, job.owner, job.created))
        except sqlite3.Error:
            self.store.remove_inputs(job.id)
            raise

    def finish(self, job: Job):
        """The job reached a final state: its inputs go, the state stays until it expires."""
        self.db.execute("UPDATE jobs SET state = ?, finished = ?, code = ?, message = ? WHERE id = ?",
                        (job.state, job.finished or time.time(), job.error_code, job.error_message, job.id))
        self.store.remove_inputs(job.id)

    def unfinished(self, methods) -> list[Job]:
        """The jobs to run again, oldest first, with their inputs read back. One whose inputs were lost, or
        whose method is not in ``methods`` any more, is marked failed, with the reason."""
        jobs = []
        rows = self.db.execute("SELECT id, method, params, preview_every, owner, created FROM jobs "
                               "WHERE state NOT IN ('done', 'failed', 'cancelled') ORDER BY seq").fetchall()
        for job_id, method, params, preview_every, owner, created in rows:
            job = Job(job_id, method, json.loads(params), None, preview_every, created=created)
            job.owner = owner
            if self.store.find(job_id) is not None:  # its result was stored just before the daemon stopped
                job.state, job.finished = "done", time.time()
                self.finish(job)
                continue
            try:
                job.images = self.store.read_inputs(job_id)
            except Exception as exc:  # missing or damaged file: said so to whoever asks for the job
                self.fail(job, protocol.ENGINE, f"the job's inputs were lost ({exc})")
                continue
            if method not in methods:
                self.fail(job, protocol.UNKNOWN_METHOD, f"this daemon has no method {method!r} any more")
                continue
            jobs.append(job)
        kept = {job.id for job in jobs}
        for path in self.store.folder.glob("*.inputs"):  # left by a job finished just before a crash
            if path.stem not in kept:
                self.store.remove_inputs(path.stem)
        return jobs

    def earlier(self) -> list[Job]:
        """The jobs earlier runs finished, oldest first, not yet expired: listed and fetched by id like this
        run's (a done one while its result file is still there)."""
        jobs = []
        for job_id, method, state, created, finished, code, message, owner in self.db.execute(
                "SELECT id, method, state, created, finished, code, message, owner FROM jobs "
                "WHERE state IN ('done', 'failed', 'cancelled') ORDER BY seq"):
            job = Job(job_id, method, {}, None, 0, created=created)
            job.state, job.finished, job.error_code, job.error_message, job.owner = state, finished, code, message, owner
            if state == "done":
                job.result_path = self.store.find(job_id)
                if job.result_path is None:
                    continue
            jobs.append(job)
        return jobs

    def fail(self, job: Job, code: str, message: str):
        job.state, job.finished, job.error_code, job.error_message = "failed", time.time(), code, message
        self.finish(job)

    def final(self, job_id: str) -> Job | None:
        """A failed or cancelled job of this or an earlier run, if not expired."""
        row = self.db.execute("SELECT method, state, finished, code, message, owner FROM jobs WHERE id = ? AND "
                              "state IN ('failed', 'cancelled')", (job_id,)).fetchone()
        if row is None:
            return None
        method, state, finished, code, message, owner = row
        job = Job(job_id, method, {}, None, 0)
        job.state, job.finished, job.error_code, job.error_message, job.owner = state, finished, code, message, owner
        return job

    def expire(self, cutoff: float):
        self.db.execute("DELETE FROM jobs WHERE finished IS NOT NULL AND finished < ?", (cutoff,))

"""Jobs the user finds again: ``painterly jobs`` lists them with their state and ``painterly fetch`` writes a
result by id, after the ``submit`` that sent the job died and its daemon was killed and restarted (the
journal runs the job again); ``submit`` names the job and, when its daemon goes away, the command that gets
it later. One journal per daemon: a second daemon on the same results folder is refused at its start."""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from painterly.daemon import buffers
from painterly.wire.client import Client

from daemon_process import DaemonProcess
from private_dirs import daemon_dir, own_dir  # noqa: F401 (fixtures)
from sample_jobs import random_rgba

RNG = np.random.default_rng(11)
CLI = [sys.executable, "-m", "painterly.cli"]


def test_a_second_daemon_on_the_same_results_folder_is_refused_and_reruns_nothing(own_dir):
    own_dir.chmod(0o700)                                 # the socket's folder: the user's alone
    first = DaemonProcess(own_dir)
    try:
        with Client(first.endpoint, timeout=10) as c:
            job = c.submit("echo", {"iterations": 300, "delay": 0.05}, {"content": random_rgba(RNG, 8, 8)})
            while c.status(job)["state"] != "running":
                time.sleep(0.02)
            second = subprocess.run(CLI + ["daemon", "--endpoint", f"ipc://{own_dir}/second.sock", "--device", "cpu",
                                           "--allow-test-methods", "--results-dir", str(own_dir / "results")],
                                    capture_output=True, text=True, timeout=120)
            assert second.returncode == 2, second
            assert f"another painterly daemon (pid {first.pid}) runs the jobs of {own_dir / 'results'}" in second.stderr
            assert "--results-dir" in second.stderr and "Traceback" not in second.stderr
            assert "queued again" not in second.stderr
            assert c.status(job)["state"] == "running"
            c.cancel(job)
    finally:
        first.stop()
    assert first.output().count(f"job {job} queued") == 1


def test_jobs_and_fetch_find_a_job_again_after_submit_and_daemon_died(own_dir):
    own_dir.chmod(0o700)
    endpoint = f"ipc://{own_dir}/d.sock"
    daemon = DaemonProcess(own_dir, endpoint=endpoint)
    arr = buffers.as_uint_array(random_rgba(RNG, 24, 16)).copy()
    Image.fromarray(arr).save(own_dir / "in.png")
    submit = None
    try:
        with Client(endpoint, timeout=10) as c:
            done = c.submit("echo", {}, {"content": random_rgba(RNG, 8, 8)})
            c.wait(done)
        while not (own_dir / "results" / f"{done}.result").is_file():
            time.sleep(0.05)
        submit = subprocess.Popen(CLI + ["submit", "echo", str(own_dir / "in.png"), "-p", "iterations=60", "-p",
                                         "delay=0.05", "-o", str(own_dir / "out.png"), "--endpoint", endpoint,
                                         "--timeout", "2"], stderr=subprocess.PIPE, text=True)
        line = submit.stderr.readline()
        job = re.match(r"job ([0-9a-f]{32}) \(echo\) on ", line).group(1)
        assert f"'painterly fetch {job} -o {own_dir / 'out.png'} --endpoint {endpoint}' writes its result" in line
        with Client(endpoint, timeout=10) as c:
            while c.status(job)["state"] != "running":
                time.sleep(0.02)
        daemon.kill()                                    # as a crash or a power cut would end it
        _, err = submit.communicate(timeout=30)
        assert submit.returncode == 2 and "stopped answering" in err and "Traceback" not in err, err
        assert f"then 'painterly fetch {job} -o {own_dir / 'out.png'} --endpoint {endpoint}' writes" in err, err
        assert not (own_dir / "out.png").exists()

        daemon = DaemonProcess(own_dir, endpoint=endpoint)     # the same results folder: the same journal
        listed = subprocess.run(CLI + ["jobs", "--endpoint", endpoint], capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed
        states = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()}
        assert states[done] == "done" and states[job] in ("queued", "running", "done"), listed.stdout
        fetched = subprocess.run(CLI + ["fetch", job, "-o", str(own_dir / "out.png"), "--endpoint", endpoint,
                                        "--quiet"], capture_output=True, text=True, timeout=120)
        assert fetched.returncode == 0, fetched
        assert np.array_equal(np.asarray(Image.open(own_dir / "out.png")), arr)
        assert f"job {job} queued again" in daemon.output()
        only_done = subprocess.run(CLI + ["jobs", "--state", "done", "--quiet", "--endpoint", endpoint],
                                   capture_output=True, text=True, timeout=60)
        assert {line.split()[0] for line in only_done.stdout.splitlines()} == {done, job}, only_done.stdout
        unknown = subprocess.run(CLI + ["fetch", "f" * 32, "-o", str(own_dir / "x.png"), "--endpoint", endpoint],
                                 capture_output=True, text=True, timeout=60)
        assert unknown.returncode == 2 and f"no job {'f' * 32}" in unknown.stderr and "Traceback" not in unknown.stderr
    finally:
        daemon.stop()
        if submit is not None and submit.poll() is None:
            os.kill(submit.pid, signal.SIGKILL)

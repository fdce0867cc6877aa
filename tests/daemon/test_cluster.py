"""A real Dask cluster on loopback, started by these tests: a painterly scheduler, two painterly worker
processes and a daemon that sends its jobs there (``painterly daemon --cluster``). Every process is
stopped by its PID at the end."""
import re
import threading
import time

import numpy as np
import pytest

from painterly.daemon import buffers
from painterly.wire.client import Client, JobCancelled
from cluster_processes import SchedulerProcess, WorkerProcess
from daemon_process import DaemonProcess
from private_dirs import daemon_dir  # noqa: F401 (fixtures)
from sample_jobs import SMALL_JOB, as_buffers, engine_layer, masked_inputs

LONG_JOB = dict(SMALL_JOB, size=128, iterations=400)  # stopped by cancel long before its end


class Cluster:
    def __init__(self, folder):
        self.folder = folder
        self.scheduler = SchedulerProcess(folder)
        self.workers = [WorkerProcess(folder, self.scheduler.address, wait=False) for _ in range(2)]
        for worker in self.workers:
            worker.wait_ready()

    def worker_at(self, device):
        """The worker process a job's device string ("tcp://HOST:PORT cpu") names."""
        address = device.split()[0]
        return next(w for w in self.workers if w.address == address and w.proc.poll() is None)

    def replace(self, worker):
        self.workers.remove(worker)
        self.workers.append(WorkerProcess(self.folder, self.scheduler.address))

    def restart_scheduler(self):
        """Kill the scheduler and start it again on its address; the workers join it again."""
        port = int(self.scheduler.address.rsplit(":", 1)[1])
        joined = [len(re.findall(worker.ready_pattern, worker.output())) for worker in self.workers]
        self.scheduler.kill()
        self.scheduler = SchedulerProcess(self.folder, port=port)
        for worker, times in zip(self.workers, joined):
            worker.wait_ready(times=times + 1)

    def stop(self):
        for process in self.workers + [self.scheduler]:
            process.stop()


@pytest.fixture(scope="module")
def cluster(daemon_dir):
    running = Cluster(daemon_dir)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def cluster_daemon(cluster, daemon_dir):
    daemon = DaemonProcess(daemon_dir, "--cluster", cluster.scheduler.address, "--preview-every", "1")
    yield daemon
    daemon.stop()
    assert daemon.proc.returncode == 0, daemon.output()
    assert "Traceback" not in daemon.output(), daemon.output()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def layer(result):
    return buffers.as_uint_array(result.image)


def test_handshake_lists_the_cluster_workers(cluster, cluster_daemon):
    with Client(cluster_daemon.endpoint, timeout=30) as c:
        devices = c.handshake()["devices"]
    assert sorted(d.split()[0] for d in devices) == sorted(w.address for w in cluster.workers)
    assert all("CPU 1" in d for d in devices)


def test_progress_and_previews_stream_back_from_the_worker(cluster_daemon):
    images = as_buffers(*masked_inputs(seed=90))
    events = []
    with Client(cluster_daemon.endpoint, timeout=30) as c:
        result = c.run("masked", dict(SMALL_JOB, iterations=6), images, on_progress=events.append)
    iterations = [e.iteration for e in events]
    assert iterations == sorted(iterations) and iterations[-1] == 6 and len(iterations) >= 4, iterations
    assert all(e.total == 6 and "total" in e.losses for e in events)
    previews = [e.preview for e in events if e.preview is not None]
    assert previews and all(p.channels == 3 and len(bytes(p.data)) == p.width * p.height * 3 for p in previews)
    assert result.meta["method"] == "masked"


def test_two_clients_ten_jobs_each_are_bit_identical_to_the_in_process_engine(cluster, cluster_daemon):
    jobs = {seed: as_buffers(*masked_inputs(seed=seed)) for seed in range(20)}
    results, devices, errors = {}, {}, []

    def one_client(seeds):
        try:
            with Client(cluster_daemon.endpoint, timeout=30) as c:
                sent = {c.submit("masked", SMALL_JOB, jobs[seed]): seed for seed in seeds}
                for job_id, seed in sent.items():
                    results[seed] = c.wait(job_id, timeout=300)
                    devices[seed] = c.status(job_id)["device"]
        except Exception as exc:  # reported by the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one_client, args=(range(start, start + 10),)) for start in (0, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert not errors, errors
    assert sorted(results) == list(range(20))
    for seed, result in results.items():
        want = engine_layer("masked", jobs[seed], SMALL_JOB)
        assert np.array_equal(layer(result), want), (seed, np.abs(layer(result).astype(int) - want).max())
    workers = {device.split()[0] for device in devices.values()}
    assert workers == {w.address for w in cluster.workers}, devices   # both workers computed


def test_cancel_of_a_running_job_stops_it_within_an_iteration_and_its_worker_takes_the_next(
        cluster, cluster_daemon):
    images = as_buffers(*masked_inputs(seed=40, size=128))
    with Client(cluster_daemon.endpoint, timeout=30) as c:
        first, second = (c.submit("masked", LONG_JOB, images) for _ in range(2))
        wait_for(lambda: all(c.status(j)["state"] == "running" for j in (first, second)), 120, "two running jobs")
        wait_for(lambda: c.status(first)["iteration"] >= 3, 60, "a few iterations")
        seen = c.status(first)["iteration"]
        asked = time.monotonic()
        c.cancel(first)
        wait_for(lambda: c.status(first)["state"] == "cancelled", 15, "the cancel")
        status = c.status(first)
        print(f"cancelled after {time.monotonic() - asked:.2f} s: seen at iteration {seen}, stopped at "
              f"{status['iteration']}")
        assert status["iteration"] <= seen + 2, status
        with pytest.raises(JobCancelled):
            c.wait(first)
        # The cancelled job's worker is free at once: the next job runs there while the other is busy.
        following = c.submit("masked", SMALL_JOB, images)
        wait_for(lambda: c.status(following)["state"] in ("running", "done"), 30, "the next job")
        assert c.status(following)["device"] == status["device"]
        result = c.wait(following, timeout=120)
        assert np.array_equal(layer(result), engine_layer("masked", images, SMALL_JOB))
        c.cancel(second)
        wait_for(lambda: c.status(second)["state"] == "cancelled", 15, "the second cancel")


def test_batch_through_the_cluster_daemon_matches_the_in_process_command(cluster_daemon, daemon_dir):
    from PIL import Image

    from painterly.cli import main as cli
    folder = daemon_dir / "batch"
    for sub in ("in", "masks"):
        (folder / sub).mkdir(parents=True)
    for seed in range(3):
        content, style, mask = masked_inputs(seed=seed)
        Image.fromarray(buffers.quantize(content, 8)).save(folder / "in" / f"c{seed}.png")
        Image.fromarray(buffers.quantize(mask, 8)).save(folder / "masks" / f"c{seed}.png")
    Image.fromarray(buffers.quantize(style, 8)).save(folder / "style.png")
    params = ["--size", "32", "--iterations", "3", "--network", "vgg16", "--quiet"]
    common = ["--mask-dir", str(folder / "masks"), "--style", str(folder / "style.png"), *params]
    assert cli.main(["batch", "masked", str(folder / "in"), "-o", str(folder / "out"), "--daemon",
                     cluster_daemon.endpoint, *common]) == 0
    for seed in range(3):
        local = folder / f"local{seed}.png"
        assert cli.main(["stylize", str(folder / "in" / f"c{seed}.png"), str(folder / "style.png"), "--mask",
                         str(folder / "masks" / f"c{seed}.png"), "-o", str(local), "--device", "cpu", *params]) == 0
        got = np.asarray(Image.open(folder / "out" / f"c{seed}.png")).astype(int)
        want = np.asarray(Image.open(local)).astype(int)
        assert got.shape == want.shape and np.abs(got - want).max() <= 1, seed


def test_a_worker_killed_mid_job_the_job_completes_on_another(cluster, cluster_daemon):
    params = dict(SMALL_JOB, size=64, iterations=40)
    sent = {seed: as_buffers(*masked_inputs(seed=seed, size=64)) for seed in (50, 51, 52)}
    with Client(cluster_daemon.endpoint, timeout=30) as c:
        ids = {c.submit("masked", params, images): seed for seed, images in sent.items()}
        first = next(iter(ids))
        wait_for(lambda: c.status(first)["iteration"] >= 2, 120, "the first job to run")
        victim = cluster.worker_at(c.status(first)["device"])
        victim.kill()
        print(f"killed worker {victim.address} (pid {victim.pid}) at iteration {c.status(first)['iteration']}")
        for job_id, seed in ids.items():
            result = c.wait(job_id, timeout=300)
            assert np.array_equal(layer(result), engine_layer("masked", sent[seed], params)), seed
            assert c.status(job_id)["device"].split()[0] != victim.address
    cluster.replace(victim)


def test_daemon_killed_with_five_queued_and_one_running_then_restarted_finishes_all(cluster, cluster_daemon,
                                                                                   daemon_dir):
    folder = daemon_dir / "durable"
    folder.mkdir(mode=0o700)  # the daemon's socket folder: the user's own
    endpoint = f"ipc://{folder}/durable.sock"
    address = cluster.scheduler.address
    daemon = DaemonProcess(folder, "--cluster", address, endpoint=endpoint)
    params = dict(SMALL_JOB, size=48, iterations=25)
    sent = {seed: as_buffers(*masked_inputs(seed=seed, size=48)) for seed in range(60, 66)}
    image = buffers.from_uint(np.zeros((8, 8, 4), np.uint8))
    with Client(cluster_daemon.endpoint, timeout=30) as other:
        # Another daemon's job keeps one worker busy, so this daemon has one job running at a time.
        busy = other.submit("echo", {"iterations": 600, "delay": 0.05}, {"content": image})
        wait_for(lambda: other.status(busy)["state"] == "running", 60, "the busy job")
        try:
            clients = [Client(endpoint, timeout=30), Client(endpoint, timeout=30)]
            ids = {}
            for index, (seed, images) in enumerate(sent.items()):
                ids[clients[index % 2].submit("masked", params, images)] = (index % 2, seed)
            first = next(iter(ids))
            wait_for(lambda: clients[0].status(first)["iteration"] >= 2, 120, "the first job to run")
            states = [clients[0].status(j)["state"] for j in ids]
            assert states.count("running") == 1 and states.count("queued") == 5, states
            daemon.proc.kill()  # SIGKILL
            daemon.proc.wait()
            for client in clients:
                client.close()
            restarted = DaemonProcess(folder, "--cluster", address, endpoint=endpoint)
            other.cancel(busy)
            try:
                assert restarted.output().count("queued again") == 6, restarted.output()
                clients = [Client(endpoint, timeout=30), Client(endpoint, timeout=30)]
                for job_id, (owner, seed) in ids.items():
                    result = clients[owner].wait(job_id, timeout=300)
                    assert np.array_equal(layer(result), engine_layer("masked", sent[seed], params)), seed
            finally:
                for client in clients:
                    client.close()
                restarted.stop()
            assert restarted.proc.returncode == 0 and "Traceback" not in restarted.output(), restarted.output()
        finally:
            other.cancel(busy)


def test_scheduler_killed_and_restarted_mid_job_the_job_completes(cluster, cluster_daemon):
    params = dict(SMALL_JOB, size=48, iterations=25)
    images = as_buffers(*masked_inputs(seed=70, size=48))
    with Client(cluster_daemon.endpoint, timeout=30) as c:
        job_id = c.submit("masked", params, images)
        wait_for(lambda: c.status(job_id)["iteration"] >= 2, 120, "the job to run")
        cluster.restart_scheduler()
        result = c.wait(job_id, timeout=300)
        assert np.array_equal(layer(result), engine_layer("masked", images, params))
        addresses = sorted(w.address for w in cluster.workers)
        wait_for(lambda: sorted(d.split()[0] for d in c.handshake()["devices"]) == addresses, 20,
                 "the daemon to see the workers that joined again")


def test_a_tls_cluster_admits_only_holders_of_its_certificates(daemon_dir, capsys):
    from distributed import Client as DaskClient

    from painterly.cli import main as cli
    from painterly.daemon.certs import security
    from painterly.daemon.cluster_worker import run_job
    certs, stranger = daemon_dir / "certs", daemon_dir / "another-ca"
    assert cli.main(["cluster-certs", str(certs)]) == 0 and cli.main(["cluster-certs", str(stranger)]) == 0
    assert oct(certs.stat().st_mode & 0o777) == "0o700"
    for key in ("ca-key.pem", "scheduler-key.pem", "worker-key.pem", "client-key.pem"):
        assert oct((certs / key).stat().st_mode & 0o777) == "0o600"
    assert cli.main(["daemon", "--cluster", "tls://127.0.0.1:1", "--results-dir", str(daemon_dir / "x")]) == 2
    assert "--tls DIR" in capsys.readouterr().err
    scheduler = SchedulerProcess(daemon_dir, "--tls", str(certs))
    worker = WorkerProcess(daemon_dir, scheduler.address, "--tls", str(certs))
    try:
        assert scheduler.address.startswith("tls://") and worker.address.startswith("tls://")
        image = buffers.from_uint(np.arange(6 * 5 * 4, dtype=np.uint8).reshape(5, 6, 4))
        image.data = bytes(image.data)
        with DaskClient(scheduler.address, security=security(certs, "client"), timeout=20,
                        set_as_default=False) as client:
            future = client.submit(run_job, "tls-job", None, "tls-job", "echo", {"iterations": 0, "delay": 0.0},
                                   {"content": image}, 0, time.time(), key="tls-job", pure=False)
            kind, header, frames = future.result(timeout=120)
            assert kind == "done" and frames == [image.data]
        plain = scheduler.address.replace("tls://", "tcp://")
        for address, credentials in ((plain, None), (scheduler.address, security(stranger, "client"))):
            with pytest.raises((OSError, TimeoutError)):
                DaskClient(address, security=credentials, timeout=3, set_as_default=False)
    finally:
        worker.stop()
        scheduler.stop()

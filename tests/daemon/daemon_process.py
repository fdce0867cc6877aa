"""A real painterly daemon in its own process, for the daemon's tests and benchmarks."""
import re
import signal
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    """Resident memory of a process, MiB."""
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


class ServiceProcess:
    """``painterly ARGS...`` in the background, its output in a log file; ready once ``ready_pattern`` (whose
    group is its ``address``) is in the log; stopped by its own PID."""

    ready_pattern = None
    ready_timeout = 180
    stop_timeout = 15

    def __init__(self, folder, *args, wait=True):
        self.log_path = folder / f"{args[0]}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "painterly.cli", *args], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.address = None
        if wait:
            self.wait_ready()

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout=None, times=1):
        """Wait for the ready line (its ``times``-th occurrence: a worker says it again when it rejoins)."""
        deadline = time.monotonic() + (timeout or self.ready_timeout)
        while time.monotonic() < deadline:
            found = re.findall(self.ready_pattern, self.output())
            if len(found) >= times:
                self.address = found[-1]
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.proc.args[3]} exited ({self.proc.returncode}):\n{self.output()}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.proc.args[3]} did not start:\n{self.output()}")

    def rss_mb(self):
        return rss_mb(self.proc.pid)

    def kill(self):
        """SIGKILL, as a crash or a power cut would end it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class DaemonProcess(ServiceProcess):
    """``painterly daemon`` on CPU with the echo test method; ``endpoint`` None: an ipc socket in
    ``tmp_path``, "default": the user's default endpoint."""

    ready_pattern = r"painterly daemon listening on (\S+)"
    ready_timeout = 90
    stop_timeout = 10

    def __init__(self, tmp_path, *extra, endpoint=None, wait=True):
        endpoint = endpoint or f"ipc://{tmp_path}/d{time.monotonic_ns() % 10**6}.sock"
        where = [] if endpoint == "default" else ["--endpoint", endpoint]
        super().__init__(tmp_path, "daemon", *where, "--device", "cpu", "--threads", "1", "--allow-test-methods",
                         "--results-dir", str(tmp_path / "results"), *extra, wait=wait)

    @property
    def endpoint(self):
        """What the daemon says it listens on (None until it is ready)."""
        return self.address

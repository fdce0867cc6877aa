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


class DaemonProcess:
    """``painterly daemon`` on CPU with the echo test method; ``endpoint`` None: an ipc socket in
    ``tmp_path``, "default": the user's default endpoint."""

    def __init__(self, tmp_path, *extra, endpoint=None, wait=True):
        self.log_path = tmp_path / f"daemon-{time.monotonic_ns()}.log"
        endpoint = endpoint or f"ipc://{tmp_path}/d{time.monotonic_ns() % 10**6}.sock"
        self.log = open(self.log_path, "wb")
        where = [] if endpoint == "default" else ["--endpoint", endpoint]
        argv = [sys.executable, "-m", "painterly.cli", "daemon", *where, "--device", "cpu",
                "--threads", "1", "--allow-test-methods", "--results-dir", str(tmp_path / "results"), *extra]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.endpoint = None
        if wait:
            self.wait_ready()

    def output(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r"painterly daemon listening on (\S+)", self.output())
            if match:
                self.endpoint = match.group(1)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited ({self.proc.returncode}):\n{self.output()}")
            time.sleep(0.1)
        raise RuntimeError(f"daemon did not start:\n{self.output()}")

    def rss_mb(self):
        return rss_mb(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

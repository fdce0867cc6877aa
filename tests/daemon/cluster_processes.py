"""A real Dask cluster for tests: ``painterly scheduler`` and ``painterly worker`` processes. Each is started
as a subprocess with its output in a log file, is ready once its start line is there, and is stopped by its
own PID."""
import re
import signal
import subprocess
import sys
import time


class ServiceProcess:
    """``painterly ARGS...`` in the background; ``address`` is what its ready line names."""

    ready_pattern = None

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

    def wait_ready(self, timeout=180, times=1):
        """Wait for the ready line (its ``times``-th occurrence: a worker says it again when it rejoins)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.findall(self.ready_pattern, self.output())
            if len(found) >= times:
                self.address = found[-1]
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.proc.args[3]} exited ({self.proc.returncode}):\n{self.output()}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.proc.args[3]} did not start:\n{self.output()}")

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
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class SchedulerProcess(ServiceProcess):
    ready_pattern = r"painterly scheduler listening on (\S+)"

    def __init__(self, folder, *extra, port=0, wait=True):
        super().__init__(folder, "scheduler", "--port", str(port), "--dashboard-port", "0", *extra, wait=wait)


class WorkerProcess(ServiceProcess):
    """A CPU worker with one job slot and one torch thread."""

    ready_pattern = r"painterly worker (\S+) joined"

    def __init__(self, folder, scheduler, *extra, wait=True):
        super().__init__(folder, "worker", "--scheduler", scheduler, "--cpu-jobs", "1", "--gpus", "0",
                         "--threads", "1", *extra, wait=wait)

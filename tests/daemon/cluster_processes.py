"""A real Dask cluster for tests: ``painterly scheduler`` and ``painterly worker`` processes. Each is started
as a subprocess with its output in a log file, is ready once its start line is there, and is stopped by its
own PID."""
from daemon_process import ServiceProcess


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

"""Helper process of the GIMP plug-in: cancels a daemon job if the plug-in dies before it finishes.

GIMP's Cancel button on a plug-in's progress bar ends the plug-in process, which cannot then tell the
daemon.  The plug-in starts this script with the job id and writes "done" to its stdin when the job is
over; end-of-file without "done" means the plug-in is gone, so the job is cancelled here.

    python3 cancel_watch.py ENDPOINT JOB_ID
"""
import sys


def main(endpoint, job_id):
    told = sys.stdin.buffer.read()          # blocks until the plug-in closes the pipe or dies
    if b"done" in told:
        return 0
    try:
        import zmq  # noqa: F401
    except ImportError:
        pass
    from painterly_client import Client, DaemonError
    client = Client(endpoint, timeout=5.0)
    try:
        client.cancel(job_id)
        sys.stderr.write("painterly: plug-in ended, job %s cancelled\n" % job_id)
    except DaemonError as exc:
        sys.stderr.write("painterly: could not cancel job %s: %s\n" % (job_id, exc))
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

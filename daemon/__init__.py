"""The painterly daemon: socket loop, job queue, workers, result store."""

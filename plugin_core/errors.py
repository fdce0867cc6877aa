"""Errors a user can act on, and the sentences both apps show for the client's exceptions.

Pure Python 3.8+; the client's exception classes are recognised by name, so this module loads even where
pyzmq/msgpack cannot.
"""


class UserError(Exception):
    """Something the user can fix: ``code`` for programs and tests, ``str()`` a sentence for people."""

    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


def _is(exc, class_name):
    return any(cls.__name__ == class_name for cls in type(exc).__mro__)


def is_cancelled(exc):
    return _is(exc, "JobCancelled")


def is_daemon_error(exc):
    """True for the client's errors (the daemon's own sentences, or no daemon answering)."""
    return _is(exc, "DaemonError")


def explain(exc):
    """``(code, sentence)`` for an exception raised while talking to the daemon or running a job."""
    if isinstance(exc, UserError):
        return exc.code, str(exc)
    if is_cancelled(exc):
        return "cancelled", "Cancelled."
    if _is(exc, "DaemonUnavailable"):
        text = "The painterly daemon is not running (%s)" % str(exc).rstrip(".")
        if "'painterly daemon'" not in text:
            text += "; start it with 'painterly daemon'"
        return "unavailable", text + "."
    if is_daemon_error(exc):
        code = getattr(exc, "code", "") or "job_failed"
        if code == "too_large":
            return code, "Too large: %s. Select a smaller area or lower the context margin." % exc
        return "job_failed", "The job failed: %s" % exc
    return "internal", "Painterly failed unexpectedly (%s: %s)." % (type(exc).__name__, exc)


def log(message, who="painterly"):
    """A line on the app's stderr (its terminal or log), for what the user need not see."""
    import sys
    sys.stderr.write("%s: %s\n" % (who, message))
    sys.stderr.flush()

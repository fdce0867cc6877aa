"""The error every sub-command raises for something the user can fix: shown as one line, no traceback."""


class UserError(Exception):
    """An error to show as one line, without a traceback."""

"""The user's access token for TCP daemons: made once, kept in a file only the user can read.

The file is opened without following links, must be a regular file of the user's, and is mode 0600
whatever it was before it held a token; a token that others could already read, or one shorter than
``MIN_TOKEN_LENGTH``, is refused rather than used."""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from painterly.wire.endpoints import HAS_OWNERS, MIN_TOKEN_LENGTH, private_folder

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def check_token(token: str, where) -> str:
    if len(token) < MIN_TOKEN_LENGTH:
        raise PermissionError(f"the token in {where} has {len(token)} characters; at least {MIN_TOKEN_LENGTH} are "
                              "needed (delete the file and a new token is made)")
    return token


def write_token_file(path: Path) -> str:
    """The token in ``path``, made (mode 0600) if the file is missing or empty; returns it."""
    path = Path(path)
    private_folder(str(path.parent), fix=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise PermissionError(f"cannot open the token file {path}: {exc.strerror}"
                              + (" (it is a symbolic link)" if os.path.islink(path) else "")) from None
    with os.fdopen(fd, "r+") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (HAS_OWNERS and st.st_uid != os.getuid()):
            raise PermissionError(f"the token file {path} is not a regular file of yours")
        _lock(fd)
        token = f.read().strip()
        if token:
            if HAS_OWNERS and st.st_mode & 0o077:
                raise PermissionError(f"the token file {path} is readable by other users, so its token may be "
                                      "known: delete the file and a new token is made")
            return check_token(token, path)
        token = new_token()
        if HAS_OWNERS:
            os.fchmod(fd, 0o600)
        f.seek(0)
        f.truncate()
        f.write(token + "\n")
        f.flush()
        os.fsync(fd)
        return token


def _lock(fd):
    """Two daemons starting at once make one token between them (the lock ends with the file's close)."""
    try:
        import fcntl
    except ImportError:  # Windows: no second daemon on the same port anyway
        return
    fcntl.flock(fd, fcntl.LOCK_EX)

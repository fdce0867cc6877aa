"""The shared access token of a daemon started with ``--auth token``: made once, kept in a user-only file."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def new_token() -> str:
    return secrets.token_urlsafe(32)


def write_token_file(path: Path) -> str:
    """Create the user-only token file if needed and return its token."""
    path = Path(path)
    if path.is_file() and path.read_text().strip():
        if path.stat().st_mode & 0o077:
            raise PermissionError(f"token file {path} is readable by other users; chmod 600 it")
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token

"""Crash-safe file operations for the key store directory.

Every file is written to a temporary name and renamed into place, so a reader
on any host sees either the old or the new content, never a partial file.
Writers serialise on an flock()ed lock file, which also works on NFSv4/EFS,
so two operators (or two first-starting workers) cannot interleave.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".lock"
TMP_SUFFIX = ".tmp"


def ensure_dir(directory: Path) -> None:
    """Create the store owner-only; an existing directory is left as the operator set it."""
    if directory.is_dir():
        return
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` with mode 0600 via temp file + fsync + os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable, so a power cut cannot bring back the old state."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def remove_stale_temps(directory: Path) -> None:
    """Temp files left by a writer that crashed; only called while holding the lock."""
    for tmp in directory.glob(f".*{TMP_SUFFIX}"):
        remove(tmp)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Exclusive writer lock across processes and hosts sharing the directory."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock

"""Atomic file writes: a temporary file in the target's folder, fsync, then ``os.replace``.

A reader therefore sees either the previous file or the complete new one, never a half
written file, even when the writer crashes or the machine loses power mid-write. On any
exception the temporary file is removed and the exception propagates.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"


def temp_prefix(path: Path) -> str:
    """The prefix of the temporary names used while ``path`` is written (``.NAME.``)."""
    return f".{path.name}."


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Create or replace ``path`` with what ``write`` writes to a binary file object.

    The folder of ``path`` must exist. Temporary files are named ``.NAME.<random>.tmp`` in that
    folder (same file system, so the rename is atomic).
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=TEMP_SUFFIX)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""Helpers over Django's storage API that work for local folders and S3 alike."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.core.files.storage import Storage, default_storage


def storage_delete_tree(prefix: str, *, storage: Storage | None = None) -> int:
    """Delete every stored file under ``prefix`` (a folder-like key ending in "/")."""
    storage = storage or default_storage
    deleted = 0
    try:
        dirs, files = storage.listdir(prefix)
    except FileNotFoundError:
        return 0
    for name in files:
        storage.delete(f"{prefix}{name}")
        deleted += 1
    for d in dirs:
        deleted += storage_delete_tree(f"{prefix}{d}/", storage=storage)
    if hasattr(storage, "path"):
        with contextlib.suppress(NotImplementedError, OSError):
            Path(storage.path(prefix)).rmdir()
    return deleted


@contextlib.contextmanager
def local_path(key: str, *, storage: Storage | None = None) -> Iterator[Path]:
    """A filesystem path for a stored file: the file itself when local, else a temporary copy."""
    storage = storage or default_storage
    try:
        path = Path(storage.path(key))
    except NotImplementedError:
        path = None
    if path is not None:
        yield path
        return
    suffix = Path(key).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp, storage.open(key, "rb") as src:
        shutil.copyfileobj(src, tmp, length=1024 * 1024)
        tmp.flush()
        yield Path(tmp.name)

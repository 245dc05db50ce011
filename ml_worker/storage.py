"""The ML worker's view of Earmark's storage: read and write by key, without Django.

Local storage is a folder (``EARMARK_MEDIA_ROOT``, as for the backend); S3-compatible storage is
read with boto3 using the same ``EARMARK_S3_*`` variables. Writes are atomic: readers see the
old object or the whole new one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from ml_worker.features.atomic import atomic_write


class Storage(Protocol):
    def exists(self, key: str) -> bool: ...
    def read_bytes(self, key: str) -> bytes: ...
    def write_bytes(self, key: str, data: bytes) -> None: ...
    def upload(self, key: str, source: Path) -> None: ...
    def local_copy(self, key: str) -> Any: ...  # a context manager yielding a Path


def check_key(key: str) -> str:
    """Refuse keys that could leave the storage root."""
    parts = PurePosixPath(key).parts
    if not key or key.startswith("/") or ".." in parts:
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(handle: Any) -> None:
            handle.write(data)

        atomic_write(path, write)

    def upload(self, key: str, source: Path) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)

        def copy(handle: Any) -> None:
            with source.open("rb") as src:
                shutil.copyfileobj(src, handle, 1024 * 1024)

        atomic_write(path, copy)

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        yield self.path(key)


class S3Storage:
    def __init__(
        self, *, bucket: str, endpoint_url: str, region: str, access_key_id: str, secret: str
    ) -> None:
        import boto3  # only S3 deployments need it

        self.bucket = bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret or None,
        )

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except self.client.exceptions.ClientError:
            return False
        return True

    def read_bytes(self, key: str) -> bytes:
        body = self.client.get_object(Bucket=self.bucket, Key=check_key(key))["Body"]
        return bytes(body.read())

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=check_key(key), Body=data)

    def upload(self, key: str, source: Path) -> None:
        self.client.upload_file(str(source), self.bucket, check_key(key))

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        suffix = PurePosixPath(key).suffix
        with tempfile.TemporaryDirectory(prefix="earmark-ml-") as folder:
            path = Path(folder) / f"audio{suffix}"
            self.client.download_file(self.bucket, check_key(key), str(path))
            yield path

"""Reading audio in place: a folder on the server or an S3-compatible bucket prefix.

A `Source` lists the audio files under a connection (by extension), tells their size, opens a
byte range for streaming and gives the decoder a local path (the file itself for a folder, a
temporary download for S3). Paths are always relative to the connection's root; nothing here
lets a stored path or a symlink reach outside it.

No Django models are imported: the services build a `ConnectionSpec` from a row.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

# Extensions a scan registers; the worker still identifies the format by content.
AUDIO_EXTENSIONS = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a"})
# Short timeouts and few retries: a wrong endpoint must fail the create request in seconds.
_S3_CONFIG = Config(
    connect_timeout=5, read_timeout=60, retries={"max_attempts": 2, "mode": "standard"}
)


class ConnectionFailed(Exception):
    """The connection cannot be used; ``str(error)`` is a sentence fit to show a manager.

    ``field`` names the connection setting at fault (``root``, ``bucket``, ``credentials``,
    ``endpoint_url``) or the relative ``path`` of one file.
    """

    def __init__(self, message: str, *, field: str = "root") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ConnectionSpec:
    """What a source needs to know; built from a `StorageConnection` row."""

    kind: str  # "folder" or "s3"
    root: str  # folder: absolute path; s3: key prefix ("" for the whole bucket)
    bucket: str = ""
    endpoint_url: str = ""
    region: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""


@dataclass(frozen=True)
class FoundFile:
    path: str  # relative to the connection, "/"-separated
    size_bytes: int


class Source(Protocol):
    def check(self) -> None:
        """Raise ConnectionFailed unless the place exists and can be listed and read."""

    def scan(self) -> Iterator[FoundFile]:
        """Every audio file under the root (by extension), in no particular order."""

    def size(self, path: str) -> int: ...

    def open(self, path: str, *, end: int | None = None) -> IO[bytes]:
        """A seekable-once reader; ``end`` (inclusive) is the last byte the caller will read."""

    def local_file(
        self, path: str, *, cache_dir: Path | None = None
    ) -> contextlib.AbstractContextManager[Path]:
        """A local path with the file's bytes. ``cache_dir``: keep remote downloads there for
        the next call (spectrogram tiles read the same recording again and again)."""


# Remote recordings kept on local disk for spectrogram tiles, per cache folder.
DOWNLOAD_CACHE_MAX_BYTES = 4 * 1024**3


def evict_cache(cache_dir: Path, *, max_bytes: int, keep: Path | None = None) -> int:
    """Delete the least recently used files until the folder holds at most ``max_bytes``.

    A reader that already opened an evicted file keeps reading it (POSIX unlink semantics).
    Returns how many files went.
    """
    entries = []
    with os.scandir(cache_dir) as found:
        for entry in found:
            if entry.is_file() and not entry.name.startswith(".part-"):
                stat = entry.stat()
                entries.append((stat.st_mtime, stat.st_size, Path(entry.path)))
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, file_path in sorted(entries):
        if total <= max_bytes:
            break
        if keep is not None and file_path == keep:
            continue
        file_path.unlink(missing_ok=True)
        total -= size
        removed += 1
    return removed


def is_audio_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in AUDIO_EXTENSIONS


def clean_relative_path(path: str) -> str:
    """``path`` as a normalised relative POSIX path; ConnectionFailed for absolute or ``..``.

    String operations, not PurePosixPath: imports call this for every row of a manifest.
    """
    unified = path.replace("\\", "/")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if not parts or unified.startswith("/") or ".." in parts or "\x00" in path:
        raise ConnectionFailed(
            f"{path!r} is not a relative path inside the connection", field="path"
        )
    return "/".join(parts)


def source_for(spec: ConnectionSpec, *, folder_roots: tuple[Path, ...]) -> Source:
    if spec.kind == "folder":
        return FolderSource(spec.root, folder_roots=folder_roots)
    if spec.kind == "s3":
        return S3Source(spec)
    raise ConnectionFailed(f"unknown connection kind {spec.kind!r}", field="kind")


def resolve_folder_root(root: str, *, folder_roots: tuple[Path, ...]) -> Path:
    """The real path of ``root`` if it is a readable folder inside an allowed root."""
    if not folder_roots:
        raise ConnectionFailed(
            "server folders are disabled: the administrator lists allowed folders in "
            "EARMARK_FOLDER_ROOTS"
        )
    allowed = ", ".join(str(r) for r in folder_roots)
    if not root or not Path(root).is_absolute():
        raise ConnectionFailed(f"give an absolute path inside one of: {allowed}")
    try:
        real = Path(root).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ConnectionFailed(f"folder {root} does not exist") from exc
    # Resolved first, so a symlink inside an allowed root cannot point outside it.
    if not any(real == r or real.is_relative_to(r) for r in folder_roots):
        raise ConnectionFailed(f"folder {root} is outside the allowed folders ({allowed})")
    if not real.is_dir():
        raise ConnectionFailed(f"{root} is not a folder")
    if not os.access(real, os.R_OK | os.X_OK):
        raise ConnectionFailed(f"folder {root} is not readable by the server")
    return real


class FolderSource:
    def __init__(self, root: str, *, folder_roots: tuple[Path, ...]) -> None:
        self._root_text = root
        self._folder_roots = folder_roots

    @property
    def root(self) -> Path:
        # Checked on every use: the allowed roots may have changed since the connection was made.
        return resolve_folder_root(self._root_text, folder_roots=self._folder_roots)

    def check(self) -> None:
        root = self.root
        try:
            with os.scandir(root) as entries:
                next(entries, None)
        except OSError as exc:
            raise ConnectionFailed(f"folder {self._root_text} cannot be listed: {exc}") from exc

    def scan(self) -> Iterator[FoundFile]:
        root = self.root
        # Symlinked folders are not followed (no loops, no escape); symlinked files are kept
        # only when they resolve inside the root.
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs.sort()
            for name in sorted(files):
                if not is_audio_name(name):
                    continue
                full = Path(folder) / name
                try:
                    real = full.resolve(strict=True)
                    if not real.is_relative_to(root) or not real.is_file():
                        continue
                    size = real.stat().st_size
                except (OSError, RuntimeError):
                    continue
                yield FoundFile(path=full.relative_to(root).as_posix(), size_bytes=size)

    def path(self, path: str) -> Path:
        root = self.root
        relative = clean_relative_path(path)
        try:
            real = (root / relative).resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise ConnectionFailed(f"{relative} is missing from {root}", field="path") from exc
        if not real.is_relative_to(root):
            raise ConnectionFailed(f"{relative} leads outside the connection", field="path")
        if not real.is_file():
            raise ConnectionFailed(f"{relative} is not a file", field="path")
        return real

    def size(self, path: str) -> int:
        return self.path(path).stat().st_size

    def open(self, path: str, *, end: int | None = None) -> IO[bytes]:
        return self.path(path).open("rb")

    @contextlib.contextmanager
    def local_file(self, path: str, *, cache_dir: Path | None = None) -> Iterator[Path]:
        yield self.path(path)


class S3Source:
    def __init__(self, spec: ConnectionSpec) -> None:
        self.spec = spec
        prefix = spec.root.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _s3_client(self.spec)
        return self._client

    def key(self, path: str) -> str:
        return self.prefix + clean_relative_path(path)

    def presigned_url(self, path: str, *, expires_s: int) -> str:
        """An expiring GET URL of one object (Signature Version 4), for a reader that must
        not hold the connection's credentials, such as the ML worker."""
        url = _s3_presigner(self.spec).generate_presigned_url(
            "get_object",
            Params={"Bucket": self.spec.bucket, "Key": self.key(path)},
            ExpiresIn=expires_s,
        )
        return str(url)

    def check(self) -> None:
        with self._errors(what=f"bucket {self.spec.bucket}"):
            self.client.head_bucket(Bucket=self.spec.bucket)
        with self._errors(what=f"prefix {self.prefix or '/'} of bucket {self.spec.bucket}"):
            self.client.list_objects_v2(Bucket=self.spec.bucket, Prefix=self.prefix, MaxKeys=1)

    def scan(self) -> Iterator[FoundFile]:
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors(what=f"bucket {self.spec.bucket}"):
            for page in paginator.paginate(Bucket=self.spec.bucket, Prefix=self.prefix):
                for obj in page.get("Contents", []):
                    key: str = obj["Key"]
                    relative = key[len(self.prefix) :]
                    if key.endswith("/") or not is_audio_name(relative):
                        continue
                    try:
                        relative = clean_relative_path(relative)
                    except ConnectionFailed:
                        continue  # keys such as "a/../b.wav" name nothing we could read back
                    yield FoundFile(path=relative, size_bytes=int(obj.get("Size", 0)))

    def size(self, path: str) -> int:
        with self._errors(what=path, missing_field="path"):
            head = self.client.head_object(Bucket=self.spec.bucket, Key=self.key(path))
        return int(head["ContentLength"])

    def open(self, path: str, *, end: int | None = None) -> IO[bytes]:
        return cast(IO[bytes], _S3RangeReader(self, self.key(path), end=end))

    @contextlib.contextmanager
    def local_file(self, path: str, *, cache_dir: Path | None = None) -> Iterator[Path]:
        suffix = PurePosixPath(path).suffix[:10]
        if cache_dir is not None:
            yield self._cached_download(path, cache_dir=cache_dir, suffix=suffix)
            return
        with tempfile.NamedTemporaryFile(suffix=suffix, prefix="earmark-s3-") as tmp:
            with self._errors(what=path, missing_field="path"):
                self.client.download_fileobj(self.spec.bucket, self.key(path), tmp)
            tmp.flush()
            yield Path(tmp.name)

    def _cached_download(self, path: str, *, cache_dir: Path, suffix: str) -> Path:
        """The object in ``cache_dir``, named by bucket, key, ETag and size so that a changed
        object is fetched again; written atomically, oldest files evicted past the limit."""
        key = self.key(path)
        with self._errors(what=path, missing_field="path"):
            head = self.client.head_object(Bucket=self.spec.bucket, Key=key)
        etag, size = str(head.get("ETag", "")), str(head["ContentLength"])
        identity = "\0".join([self.spec.endpoint_url, self.spec.bucket, key, etag, size])
        target = cache_dir / (hashlib.sha256(identity.encode()).hexdigest() + suffix)
        if target.exists():
            os.utime(target)  # most recently used: evicted last
            return target
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as fh, self._errors(what=path, missing_field="path"):
                self.client.download_fileobj(self.spec.bucket, key, fh)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        evict_cache(cache_dir, max_bytes=DOWNLOAD_CACHE_MAX_BYTES, keep=target)
        return target

    @contextlib.contextmanager
    def _errors(self, *, what: str, missing_field: str = "bucket") -> Iterator[None]:
        """Turn botocore's errors into one sentence naming the setting at fault."""
        try:
            yield
        except EndpointConnectionError as exc:
            raise ConnectionFailed(
                f"cannot reach {self.spec.endpoint_url or 'the S3 endpoint'}: {exc}",
                field="endpoint_url",
            ) from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            missing = code in {"404", "NotFound"} and missing_field == "bucket"
            if code == "NoSuchBucket" or missing:
                raise ConnectionFailed(
                    f"bucket {self.spec.bucket} does not exist", field="bucket"
                ) from exc
            if code in {"NoSuchKey", "404", "NotFound"}:
                raise ConnectionFailed(f"{what} is missing from the bucket", field="path") from exc
            if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"} or (
                status == 403
            ):
                raise ConnectionFailed(
                    f"access to {what} was refused: check the access key and secret ({code})",
                    field="credentials",
                ) from exc
            raise ConnectionFailed(f"S3 error on {what}: {code or exc}", field="bucket") from exc
        except BotoCoreError as exc:
            raise ConnectionFailed(f"S3 error on {what}: {exc}", field="endpoint_url") from exc


def _new_s3_client(spec: ConnectionSpec, config: Config) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=spec.endpoint_url or None,
        region_name=spec.region or None,
        aws_access_key_id=spec.access_key_id or None,
        aws_secret_access_key=spec.secret_access_key or None,
        config=config,
    )


@functools.lru_cache(maxsize=64)
def _s3_presigner(spec: ConnectionSpec) -> Any:
    """A client that signs URLs with SigV4 (botocore may pick the legacy scheme otherwise)."""
    return _new_s3_client(spec, _S3_CONFIG.merge(Config(signature_version="s3v4")))


@functools.lru_cache(maxsize=64)
def _s3_client(spec: ConnectionSpec) -> Any:
    """One client per connection settings and process: making one costs tens to hundreds of
    milliseconds, too much for every Range request of a playing recording. Clients are
    thread-safe; changed settings make a new key."""
    return _new_s3_client(spec, _S3_CONFIG)


class _S3RangeReader:
    """A reader over one object that asks S3 only for the bytes wanted (``Range``)."""

    def __init__(self, source: S3Source, key: str, *, end: int | None) -> None:
        self._source, self._key, self._end = source, key, end
        self._pos = 0
        self._body: Any = None

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0:
            raise OSError("only absolute seeks are supported")
        if self._body is not None and pos != self._pos:
            self._body.close()
            self._body = None
        self._pos = pos
        return pos

    def read(self, size: int = -1) -> bytes:
        if self._body is None:
            end = "" if self._end is None else str(self._end)
            with self._source._errors(what=self._key, missing_field="path"):
                response = self._source.client.get_object(
                    Bucket=self._source.spec.bucket, Key=self._key, Range=f"bytes={self._pos}-{end}"
                )
            self._body = response["Body"]
        data: bytes = self._body.read(None if size < 0 else size)
        self._pos += len(data)
        return data

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def __enter__(self) -> _S3RangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

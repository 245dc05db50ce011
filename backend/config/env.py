"""The one reader of the process environment for the backend.

Everything configurable is read here, once, into a frozen ``Env``. With nothing set the
application runs on embedded defaults: SQLite and media under ``var/`` and Celery over the
file-system transport, so a first run needs no services.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _bool(value: str | None, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, value: str | None, *, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {value!r}") from exc


def _paths(name: str, value: str) -> tuple[Path, ...]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    relative = [p for p in parts if not Path(p).is_absolute()]
    if relative:
        raise ValueError(f"{name} must list absolute paths, got {relative}")
    return tuple(Path(p).resolve() for p in parts)


@dataclass(frozen=True)
class Env:
    debug: bool
    secret_key: str
    allowed_hosts: tuple[str, ...]
    csrf_trusted_origins: tuple[str, ...]
    var_dir: Path
    database_url: str
    broker_url: str
    media_root: Path
    storage_backend: str  # "local" or "s3"
    s3_bucket: str
    s3_endpoint_url: str
    s3_access_key_id: str
    s3_secret_access_key: str
    s3_region: str
    max_upload_bytes: int
    max_duration_s: int
    max_zip_entries: int
    max_zip_ratio: int
    # Server folders that storage connections may read from (resolved, absolute); none: off.
    folder_roots: tuple[Path, ...]
    is_ci: bool
    http_host: str
    http_port: int
    web_workers: int

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")

    @property
    def broker_folder(self) -> Path:
        return self.var_dir / "broker"


def read_env(environ: os._Environ[str] | dict[str, str] | None = None) -> Env:
    e = os.environ if environ is None else environ
    var_dir = Path(e.get("EARMARK_VAR_DIR") or REPO_ROOT / "var").resolve()
    debug = _bool(e.get("DJANGO_DEBUG"), default=False)
    secret_key = e.get("DJANGO_SECRET_KEY", "")
    if not secret_key:
        # An embedded first run must work with nothing set; the key then lives in var/ so
        # sessions survive restarts. Production deployments set DJANGO_SECRET_KEY.
        secret_key = _embedded_secret(var_dir)
    hosts = e.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
    return Env(
        debug=debug,
        secret_key=secret_key,
        allowed_hosts=tuple(h.strip() for h in hosts.split(",") if h.strip()),
        csrf_trusted_origins=tuple(
            o.strip() for o in e.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
        ),
        var_dir=var_dir,
        database_url=e.get("DATABASE_URL") or f"sqlite:///{var_dir / 'earmark.sqlite3'}",
        broker_url=e.get("CELERY_BROKER_URL") or "filesystem://",
        media_root=Path(e.get("EARMARK_MEDIA_ROOT") or var_dir / "media").resolve(),
        storage_backend=e.get("EARMARK_STORAGE", "local"),
        s3_bucket=e.get("EARMARK_S3_BUCKET", ""),
        s3_endpoint_url=e.get("EARMARK_S3_ENDPOINT_URL", ""),
        s3_access_key_id=e.get("EARMARK_S3_ACCESS_KEY_ID", ""),
        s3_secret_access_key=e.get("EARMARK_S3_SECRET_ACCESS_KEY", ""),
        s3_region=e.get("EARMARK_S3_REGION", ""),
        max_upload_bytes=_int(
            "EARMARK_MAX_UPLOAD_BYTES", e.get("EARMARK_MAX_UPLOAD_BYTES"), default=2 * 1024**3
        ),
        max_duration_s=_int(
            "EARMARK_MAX_DURATION_S", e.get("EARMARK_MAX_DURATION_S"), default=12 * 3600
        ),
        max_zip_entries=_int(
            "EARMARK_MAX_ZIP_ENTRIES", e.get("EARMARK_MAX_ZIP_ENTRIES"), default=10_000
        ),
        max_zip_ratio=_int("EARMARK_MAX_ZIP_RATIO", e.get("EARMARK_MAX_ZIP_RATIO"), default=100),
        folder_roots=_paths("EARMARK_FOLDER_ROOTS", e.get("EARMARK_FOLDER_ROOTS", "")),
        is_ci=_bool(e.get("CI"), default=False),
        http_host=e.get("EARMARK_HOST", "127.0.0.1"),
        http_port=_int("EARMARK_PORT", e.get("EARMARK_PORT"), default=8000),
        web_workers=_int("EARMARK_WEB_WORKERS", e.get("EARMARK_WEB_WORKERS"), default=2),
    )


def _embedded_secret(var_dir: Path) -> str:
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


ENV = read_env()

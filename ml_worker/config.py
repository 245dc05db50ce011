"""The ML worker's own reader of the environment (it is deployed apart from the backend and
may not import it). It reads the same variables as ``backend/config/env.py``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class WorkerEnv:
    broker_url: str
    var_dir: Path
    torch_threads: int
    media_root: Path
    storage_backend: str
    s3_bucket: str
    s3_endpoint_url: str
    s3_region: str
    s3_access_key_id: str
    s3_secret_access_key: str

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")


def read_env(environ: dict[str, str] | None = None) -> WorkerEnv:
    e = dict(os.environ) if environ is None else environ
    threads = e.get("EARMARK_TORCH_THREADS", "")
    var_dir = Path(e.get("EARMARK_VAR_DIR") or REPO_ROOT / "var").resolve()
    return WorkerEnv(
        broker_url=e.get("CELERY_BROKER_URL") or "filesystem://",
        var_dir=var_dir,
        torch_threads=int(threads) if threads else max(1, (os.cpu_count() or 1)),
        media_root=Path(e.get("EARMARK_MEDIA_ROOT") or var_dir / "media").resolve(),
        storage_backend=e.get("EARMARK_STORAGE", "local"),
        s3_bucket=e.get("EARMARK_S3_BUCKET", ""),
        s3_endpoint_url=e.get("EARMARK_S3_ENDPOINT_URL", ""),
        s3_region=e.get("EARMARK_S3_REGION", ""),
        s3_access_key_id=e.get("EARMARK_S3_ACCESS_KEY_ID", ""),
        s3_secret_access_key=e.get("EARMARK_S3_SECRET_ACCESS_KEY", ""),
    )

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

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")


def read_env(environ: dict[str, str] | None = None) -> WorkerEnv:
    e = dict(os.environ) if environ is None else environ
    threads = e.get("EARMARK_TORCH_THREADS", "")
    return WorkerEnv(
        broker_url=e.get("CELERY_BROKER_URL") or "filesystem://",
        var_dir=Path(e.get("EARMARK_VAR_DIR") or REPO_ROOT / "var").resolve(),
        torch_threads=int(threads) if threads else max(1, (os.cpu_count() or 1)),
    )

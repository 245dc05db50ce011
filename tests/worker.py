"""Real Celery worker processes for integration tests.

The worker runs the application's own settings (not the test settings), pointed at the test
database, the test media folder and the same broker as the test process: Redis when
CELERY_BROKER_URL is set (as in CI), else the file-system transport in the test's folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from backend.config.env import REPO_ROOT


def database_url() -> str:
    db: dict[str, Any] = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    def __init__(self, *, app: str, queue: str, log_path: Path) -> None:
        self.app, self.queue, self.log_path = app, queue, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EARMARK_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="backend.config.settings.local",
            DATABASE_URL=database_url(),
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            EARMARK_VAR_DIR=str(settings.TEST_VAR_DIR),
            EARMARK_MEDIA_ROOT=str(settings.MEDIA_ROOT),
            EARMARK_TORCH_THREADS="1",
        )
        return env

    def start(self, timeout_s: float = 60) -> WorkerProcess:
        cmd = [
            sys.executable, "-m", "celery", "-A", self.app, "worker",
            "-Q", self.queue, "--concurrency", "1", "--pool", "prefork",
            "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            "--hostname", f"test-{self.queue}-{os.getpid()}@%h",
        ]  # fmt: skip
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT
        )
        self.wait_for_log("ready.", timeout_s=timeout_s)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, *, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"worker never logged {text!r} in {timeout_s} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

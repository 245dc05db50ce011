"""Thin Celery tasks of the ML worker; the work itself lives in the pure packages."""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from ml_worker.celery_app import ENV, app
from ml_worker.contracts import TASK_PING
from ml_worker.device import configure_threads, worker_info

logger = logging.getLogger(__name__)


@signals.worker_process_init.connect
def _init_process(**_: Any) -> None:
    configure_threads(ENV.torch_threads)


@app.task(name=TASK_PING, soft_time_limit=30, time_limit=60)
def ping() -> dict[str, Any]:
    info = worker_info()
    logger.info("ml worker alive on %s (torch %s)", info.device, info.torch_version)
    return info.to_json()

"""Thin Celery tasks of the ML worker; the work itself lives in the pure packages."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from celery import signals

from ml_worker.celery_app import ENV, app
from ml_worker.contracts import (
    QUEUE_DEFAULT,
    TASK_PING,
    TASK_TRAIN,
    TASK_TRAINING_FINISHED,
    TASK_TRAINING_PROGRESS,
    TrainingOutcome,
    TrainingProgress,
    TrainingRequest,
)
from ml_worker.device import configure_threads, pick_device, worker_info
from ml_worker.pipeline import run_training
from ml_worker.storage import LocalStorage, S3Storage, Storage

logger = logging.getLogger(__name__)

# Progress messages are throttled: at most one per this many seconds (the last one always goes).
PROGRESS_EVERY_S = 1.0


@signals.worker_process_init.connect
def _init_process(**_: Any) -> None:
    configure_threads(ENV.torch_threads)


def storage() -> Storage:
    if ENV.storage_backend == "s3":
        return S3Storage(
            bucket=ENV.s3_bucket,
            endpoint_url=ENV.s3_endpoint_url,
            region=ENV.s3_region,
            access_key_id=ENV.s3_access_key_id,
            secret=ENV.s3_secret_access_key,
        )
    return LocalStorage(ENV.media_root)


@app.task(name=TASK_PING, soft_time_limit=30, time_limit=60)
def ping() -> dict[str, Any]:
    info = worker_info()
    logger.info("ml worker alive on %s (torch %s)", info.device, info.torch_version)
    return info.to_json()


@app.task(name=TASK_TRAIN, acks_late=True, reject_on_worker_lost=True)
def train(run_id: int, attempt: int, request_key: str) -> None:
    """Run one training request; report progress and the outcome to the backend by name."""
    store = storage()
    last_sent = [0.0]

    def report(progress: TrainingProgress) -> None:
        now = time.monotonic()
        if now - last_sent[0] >= PROGRESS_EVERY_S:
            last_sent[0] = now
            app.send_task(
                TASK_TRAINING_PROGRESS,
                args=[run_id, attempt, progress.to_json()],
                queue=QUEUE_DEFAULT,
            )

    try:
        request = TrainingRequest.from_json(json.loads(store.read_bytes(request_key)))
    except (OSError, ValueError, KeyError) as exc:
        outcome = TrainingOutcome(
            run_id=run_id, attempt=attempt, state="failed", error=f"unreadable request: {exc}"
        )
    else:
        outcome = run_training(
            request,
            store,
            report=report,
            device=pick_device(),
            cache_root=ENV.var_dir / "ml-cache",
        )
    outcome_key = request_key.rsplit("/", 1)[0] + "/outcome.json"
    store.write_bytes(outcome_key, json.dumps(outcome.to_json()).encode())
    logger.info("training run %s attempt %s: %s", run_id, attempt, outcome.state)
    app.send_task(TASK_TRAINING_FINISHED, args=[run_id, attempt, outcome_key], queue=QUEUE_DEFAULT)

"""Thin tasks of the ML loop on the backend's default worker (the ML worker calls two of them
by name, see ``ml_worker.contracts``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from backend.common.queue import TASK_TRAINING_MAYBE_START
from backend.predictions.services import (
    TASK_TRAINING_DISPATCH,
    TASK_TRAINING_REAP,
    training_dispatch,
    training_finish,
    training_maybe_start,
    training_progress,
    training_reap,
)
from ml_worker.contracts import TASK_TRAINING_FINISHED, TASK_TRAINING_PROGRESS


@shared_task(name=TASK_TRAINING_DISPATCH, acks_late=True)
def training_dispatch_task(run_id: int) -> None:
    training_dispatch(run_id=run_id)


@shared_task(name=TASK_TRAINING_PROGRESS, acks_late=True)
def training_progress_task(run_id: int, attempt: int, progress: dict[str, Any]) -> None:
    training_progress(run_id=run_id, attempt=attempt, progress=progress)


@shared_task(name=TASK_TRAINING_FINISHED, acks_late=True, soft_time_limit=1800)
def training_finished_task(run_id: int, attempt: int, outcome_key: str) -> None:
    training_finish(run_id=run_id, attempt=attempt, outcome_key=outcome_key)


@shared_task(name=TASK_TRAINING_MAYBE_START, acks_late=True)
def training_maybe_start_task(project_id: int) -> None:
    training_maybe_start(project_id=project_id)


@shared_task(name=TASK_TRAINING_REAP)
def training_reap_task() -> None:
    training_reap()

from celery import shared_task

from backend.audio.services import (
    TASK_ITEM_PROCESS,
    TASK_ITEMS_PROCESS_BATCH,
    item_process,
    items_process_batch,
)


@shared_task(
    name=TASK_ITEM_PROCESS,
    acks_late=True,
    soft_time_limit=3600,
    time_limit=3660,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
)
def item_process_task(item_id: int) -> None:
    item_process(item_id=item_id)


@shared_task(
    name=TASK_ITEMS_PROCESS_BATCH,
    acks_late=True,
    soft_time_limit=6 * 3600,
    time_limit=6 * 3600 + 60,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
)
def items_process_batch_task(item_ids: str) -> None:
    """``item_ids`` comma-joined; a rerun skips the items already ready."""
    items_process_batch(item_ids=[int(i) for i in item_ids.split(",") if i])

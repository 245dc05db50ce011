from celery import shared_task

from backend.audio.services import TASK_ITEM_PROCESS, item_process


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

from celery import shared_task

from backend.common.storage import storage_delete_tree


@shared_task(
    name="earmark.common.storage_delete_prefix",
    soft_time_limit=600,
    time_limit=660,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def storage_delete_prefix(prefix: str) -> int:
    # Deleting what is already gone is a no-op, so running twice is safe.
    return storage_delete_tree(prefix)

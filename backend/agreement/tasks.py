from celery import shared_task

from backend.agreement.services import agreement_refresh
from backend.common.queue import TASK_AGREEMENT_REFRESH


@shared_task(
    name=TASK_AGREEMENT_REFRESH,
    acks_late=True,
    soft_time_limit=600,
    time_limit=660,
    ignore_result=True,
)
def agreement_refresh_task(project_id: int) -> None:
    """Recompute a project's agreement report (debounced; safe to run twice)."""
    agreement_refresh(project_id=project_id)

from celery import shared_task

from backend.dataio.exports import export_job_run
from backend.dataio.services import TASK_EXPORT_RUN, TASK_IMPORT_RUN, import_job_run


@shared_task(
    name=TASK_IMPORT_RUN, acks_late=True, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 60
)
def import_run_task(job_id: int) -> None:
    # No autoretry: a failure is recorded on the job; running again is safe (idempotent).
    import_job_run(job_id=job_id)


@shared_task(
    name=TASK_EXPORT_RUN, acks_late=True, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 60
)
def export_run_task(job_id: int) -> None:
    export_job_run(job_id=job_id)

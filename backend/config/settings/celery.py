"""Celery settings: Redis in deployments, the file-system transport when embedded."""

from __future__ import annotations

from backend.config.env import ENV
from ml_worker.contracts import QUEUE_DEFAULT, QUEUE_ML, TASK_PREFIX

CELERY_BROKER_URL = ENV.broker_url
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if ENV.embedded_broker:
    for sub in ("out", "processed", "control"):
        (ENV.broker_folder / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(ENV.broker_folder / "out"),
        "data_folder_out": str(ENV.broker_folder / "out"),
        "processed_folder": str(ENV.broker_folder / "processed"),
        # Without this kombu writes its exchange files into the current directory.
        "control_folder": str(ENV.broker_folder / "control"),
        # kombu waits a whole second between polls of an empty folder by default, which with
        # prefetch 1 caps an embedded worker at about one task per second per process.
        "polling_interval": 0.05,
        "store_processed": False,
    }
# Results travel through the database (written by services), never through a result backend.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = QUEUE_DEFAULT
# ML work goes to the ML worker (GPU machines consume "ml"); everything else to "default".
CELERY_TASK_ROUTES = {f"{TASK_PREFIX}*": {"queue": QUEUE_ML}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False

# Periodic work, run by the default worker's embedded beat (``--beat``): the reaper resends or
# fails training runs whose ML worker stopped reporting, and expired leases free their slots.
CELERY_BEAT_SCHEDULE = {
    "reap-training-runs": {"task": "earmark.predictions.reap", "schedule": 60.0},
    # Expired leases are also released lazily by every next-item call.
    "release-expired-leases": {
        "task": "earmark.annotations.release_expired_leases",
        "schedule": 60.0,
    },
}

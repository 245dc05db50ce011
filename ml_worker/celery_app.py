"""The ML worker's Celery application: consumes queue "ml" only.

Start it with ``celery -A ml_worker.celery_app worker -Q ml --concurrency 1``.
"""

from __future__ import annotations

from celery import Celery

from ml_worker.broker import use_atomic_filesystem_transport
from ml_worker.config import read_env
from ml_worker.contracts import QUEUE_ML, TASK_PREFIX

ENV = read_env()
use_atomic_filesystem_transport()

app = Celery("earmark-ml", include=["ml_worker.tasks"])
app.conf.update(
    broker_url=ENV.broker_url,
    task_default_queue=QUEUE_ML,
    task_routes={f"{TASK_PREFIX}*": {"queue": QUEUE_ML}},
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    result_backend=None,
    broker_connection_retry_on_startup=True,
)
if ENV.embedded_broker:
    folder = ENV.var_dir / "broker"
    for sub in ("out", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder / "out"),
        "data_folder_out": str(folder / "out"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "polling_interval": 0.05,
        "store_processed": False,
    }

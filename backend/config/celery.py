"""The backend's Celery application (queue "default": ingest, peaks, exports, agreement)."""

from __future__ import annotations

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

# The embedded broker (filesystem://) uses the ML worker's atomic variant of kombu's transport
# (ml_worker/broker.py: kombu only, shared so both apps write messages the same way). Named
# by string: the backend still imports nothing of ml_worker beyond its contracts.
TRANSPORT_ALIASES["filesystem"] = "ml_worker.broker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings.local")

app = Celery("earmark")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

"""Enqueueing work: always after commit, always by id, by task name.

Services name tasks instead of importing them, so the layering stays services -> selectors and
a task module may import its services freely.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

TaskArg = int | str


def enqueue_on_commit(task_name: str, *args: TaskArg) -> None:
    """Send ``task_name(*args)`` once the current transaction commits (at once if none)."""

    def send() -> None:
        if current_app.conf.task_always_eager:
            # Unit-test settings only; the application never runs eagerly. Task modules are
            # discovered lazily, so load them before looking the task up.
            current_app.loader.import_default_modules()
            current_app.tasks[task_name].apply(args=args, throw=True)
        else:
            # Routing (settings.CELERY_TASK_ROUTES) picks the queue from the task name.
            current_app.send_task(task_name, args=args)

    transaction.on_commit(send)


# Tasks that services of a lower layer ask for by name (the task lives in a higher app):
# the submit service asks for both after every submission; each task debounces itself.
TASK_TRAINING_MAYBE_START = "earmark.predictions.maybe_train"
TASK_AGREEMENT_REFRESH = "earmark.agreement.refresh"

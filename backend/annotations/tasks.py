"""Periodic upkeep of the labelling queue (run by the default worker's embedded beat)."""

from __future__ import annotations

from celery import shared_task

from backend.annotations.services import leases_release_expired

TASK_LEASES_RELEASE = "earmark.annotations.release_expired_leases"


@shared_task(name=TASK_LEASES_RELEASE)
def leases_release_task() -> int:
    """Free the slots of expired leases even when nobody asks for a next item; repeats in
    batches until none are left."""
    released = 0
    while True:
        batch = leases_release_expired()
        released += batch
        if batch == 0:
            return released

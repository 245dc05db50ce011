from __future__ import annotations

from django.db import models

from backend.common.models import BaseModel
from backend.projects.models import Project


class AgreementReport(BaseModel):
    """The last computed agreement report of a project, kept as JSON for the dashboard and API.

    Computing it reads every submitted annotation, so the worker does it after submissions
    (debounced) instead of each page view. ``submitted_count`` and ``last_submitted_at`` record
    which submissions it reflects; a report whose figures differ from the live ones is stale.
    """

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="agreement_report"
    )
    report = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    # When a worker last claimed a refresh; refreshes within the debounce window return at once.
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_count = models.PositiveIntegerField(default=0)
    last_submitted_at = models.DateTimeField(null=True, blank=True)
    compute_s = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"agreement report of project {self.project_id} at {self.computed_at}"

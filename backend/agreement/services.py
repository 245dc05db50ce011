"""Computing and caching a project's agreement report.

The worker runs ``agreement_refresh`` after submissions (``annotation_submit`` enqueues it on
commit). Refreshes are debounced: a refresh that starts within ``debounce_s`` of the previous
one returns at once, so a burst of submissions costs one computation. The API and the
dashboard show the cached report with ``stale`` and ask for a refresh when it is stale and the
window has passed, so the last submissions of a burst are picked up too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backend.agreement.metrics import EventSettings
from backend.agreement.models import AgreementReport
from backend.agreement.report import ReportSettings, build_report
from backend.agreement.selectors import (
    Fingerprint,
    agreement_report_get,
    item_names,
    label_groups,
    project_work,
    submission_fingerprint,
)
from backend.common.queue import TASK_AGREEMENT_REFRESH, enqueue_on_commit
from backend.projects.models import Project

DEFAULT_DEBOUNCE_S = 30.0


def debounce_s() -> float:
    return float(getattr(settings, "EARMARK_AGREEMENT_DEBOUNCE_S", DEFAULT_DEBOUNCE_S))


def report_settings() -> ReportSettings:
    """Segment matching collars: Django settings ``EARMARK_AGREEMENT_ONSET_COLLAR_S``,
    ``..._OFFSET_COLLAR_S`` and ``..._OFFSET_LENGTH_FRACTION`` (0.2, 0.2, 0.2 when unset)."""
    defaults = EventSettings()

    def value(name: str, default: float) -> float:
        return float(getattr(settings, f"EARMARK_AGREEMENT_{name}", default))

    return ReportSettings(
        events=EventSettings(
            onset_collar_s=value("ONSET_COLLAR_S", defaults.onset_collar_s),
            offset_collar_s=value("OFFSET_COLLAR_S", defaults.offset_collar_s),
            offset_length_fraction=value("OFFSET_LENGTH_FRACTION", defaults.offset_length_fraction),
        )
    )


def agreement_compute(*, project: Project) -> dict[str, Any]:
    """The agreement report of a project as JSON-ready data (reads every submitted annotation)."""
    work = project_work(project_id=project.pk)
    groups, segment_labels = label_groups(project=project)
    report = build_report(
        work.annotations,
        work.segments,
        groups,
        segment_labels,
        truth=work.truth,
        usernames=work.usernames,
        settings=report_settings(),
    )
    names = item_names(item_ids=[row["item_id"] for row in report["disputed_items"]])
    for row in report["disputed_items"]:
        row["name"] = names.get(row["item_id"], "")
    return report


def _is_current(report: AgreementReport, fingerprint: Fingerprint) -> bool:
    return (
        report.computed_at is not None
        and report.submitted_count == fingerprint.submitted_count
        and report.last_submitted_at == fingerprint.last_submitted_at
    )


def _claim(report: AgreementReport, now: datetime, force: bool) -> bool:
    """Take the refresh slot unless another refresh started within the debounce window."""
    qs = AgreementReport.objects.filter(pk=report.pk)
    if not force:
        cutoff = now - timedelta(seconds=debounce_s())
        qs = qs.filter(Q(started_at__isnull=True) | Q(started_at__lt=cutoff))
    return qs.update(started_at=now) == 1


def agreement_refresh(*, project_id: int, force: bool = False) -> AgreementReport | None:
    """Recompute the project's report if it is out of date; None when debounced or the project
    is gone. Safe to run twice: a second run finds the report current and returns it."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    report, _ = AgreementReport.objects.get_or_create(project=project)
    if not _claim(report, timezone.now(), force):
        return None
    fingerprint = submission_fingerprint(project_id=project_id)
    if not force and _is_current(report, fingerprint):
        return report
    started = time.perf_counter()
    data = agreement_compute(project=project)
    with transaction.atomic():
        report = AgreementReport.objects.select_for_update().get(pk=report.pk)
        report.report = data
        report.computed_at = timezone.now()
        report.submitted_count = fingerprint.submitted_count
        report.last_submitted_at = fingerprint.last_submitted_at
        report.compute_s = round(time.perf_counter() - started, 3)
        report.save(
            update_fields=[
                "report",
                "computed_at",
                "submitted_count",
                "last_submitted_at",
                "compute_s",
                "updated_at",
            ]
        )
    return report


@dataclass(frozen=True)
class ReportView:
    """The cached report as the API and dashboard show it."""

    report: dict[str, Any] | None
    computed_at: datetime | None
    compute_s: float | None
    reflects_submitted: int
    submitted: int
    stale: bool
    refreshing: bool


def agreement_report_view(*, project: Project) -> ReportView:
    """The cached report and whether it is stale; asks the worker for a refresh when it is
    stale and no refresh started within the debounce window."""
    fingerprint = submission_fingerprint(project_id=project.pk)
    report = agreement_report_get(project=project)
    stale = report is None or not _is_current(report, fingerprint)
    refreshing = False
    if stale and fingerprint.submitted_count:
        cutoff = timezone.now() - timedelta(seconds=debounce_s())
        if report is None or report.started_at is None or report.started_at < cutoff:
            enqueue_on_commit(TASK_AGREEMENT_REFRESH, project.pk)
            refreshing = True
            # Eager in unit tests: the refresh may already have run.
            report = agreement_report_get(project=project)
            stale = report is None or not _is_current(report, fingerprint)
        else:
            refreshing = True
    if not fingerprint.submitted_count and report is None:
        stale = False
    return ReportView(
        report=report.report if report is not None and report.computed_at else None,
        computed_at=report.computed_at if report is not None else None,
        compute_s=report.compute_s if report is not None and report.computed_at else None,
        reflects_submitted=report.submitted_count if report is not None else 0,
        submitted=fingerprint.submitted_count,
        stale=stale,
        refreshing=refreshing and stale,
    )

"""The project dashboard: progress and agreement at a glance, as server-rendered SVG.

The view reads the same selectors and cached report as ``GET /api/projects/{id}/agreement/``
and ``.../progress/``, and turns them into chart geometry here so the templates only place
shapes. No JavaScript and no CDN: the page is plain HTML and inline SVG.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from backend.agreement.selectors import annotator_activity, items_by_progress, submissions_per_day
from backend.agreement.services import agreement_report_view
from backend.common.exceptions import NotFound, PermissionDeniedError
from backend.projects.models import Membership
from backend.projects.selectors import project_access
from backend.users.models import User

DAYS = 30
DISPUTED_SHOWN = 20
PROGRESS_PARTS = [  # key, legend, colour
    ("done", "done", "#2f9e44"),
    ("in_progress", "in progress", "#f2a33a"),
    ("not_started", "not started", "#c5ccd6"),
    ("pending", "processing", "#8ab4f8"),
    ("failed", "failed", "#b00020"),
]


def reliability(alpha: float | None) -> tuple[str, str]:
    """Krippendorff's rule of thumb: 0.8 and above reliable, 0.667 to 0.8 tentative."""
    if alpha is None:
        return "not enough overlap", "muted"
    if alpha >= 0.8:
        return "reliable", "good"
    if alpha >= 0.667:
        return "tentative", "fair"
    return "unreliable", "poor"


def segment_verdict(f1: float | None) -> tuple[str, str]:
    """Event F1 has no published reliability bands; these say how often people's events match."""
    if f1 is None:
        return "not enough overlap", "muted"
    if f1 >= 0.8:
        return "consistent", "good"
    if f1 >= 0.6:
        return "mixed", "fair"
    return "inconsistent", "poor"


def group_verdict(group: dict[str, Any]) -> tuple[str, str]:
    if group.get("alpha") is None and group.get("percent_agreement") == 1.0:
        return "no variation to measure", "muted"
    return reliability(group.get("alpha"))


def heat_colour(value: float | None) -> str:
    """White at 0 to dark blue at 1; negative agreement in red."""
    if value is None:
        return "#f1f3f6"
    v = max(-1.0, min(1.0, value))
    if v < 0:
        t = -v
        return _mix((255, 255, 255), (192, 57, 43), t)
    return _mix((255, 255, 255), (31, 78, 160), v)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> str:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return f"#{r:02x}{g:02x}{bl:02x}"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    text: str
    x: float
    y: float
    width: float
    height: float
    colour: str


def progress_bar(counts: dict[str, int], width: float = 900) -> tuple[list[Bar], int]:
    """One stacked horizontal bar of items by state."""
    total = sum(counts.values())
    bars, x = [], 0.0
    for key, legend, colour in PROGRESS_PARTS:
        n = counts.get(key, 0)
        w = width * n / total if total else 0.0
        bars.append(Bar(legend, float(n), f"{n:,}", x, 0, w, 28, colour))
        x += w
    return bars, total


def day_bars(
    rows: list[tuple[date, int]], today: date, days: int = DAYS
) -> tuple[list[Bar], int, list[dict[str, Any]]]:
    """Vertical bars of submissions for each of the last ``days`` days (zero days included)."""
    by_day = dict(rows)
    first = today - timedelta(days=days - 1)
    values = [
        (first + timedelta(days=i), by_day.get(first + timedelta(days=i), 0)) for i in range(days)
    ]
    top = max((n for _, n in values), default=0) or 1
    plot_h, step = 120.0, 900 / days
    bars = []
    for i, (day, n) in enumerate(values):
        h = plot_h * n / top
        bars.append(
            Bar(
                day.isoformat(),
                float(n),
                f"{day:%d %b}: {n}",
                i * step + 2,
                plot_h - h,
                step - 4,
                h,
                "#2f5fc4",
            )
        )
    # A tick every week counting back from today, so today is always labelled.
    ticks = [
        {
            "x": i * step + step / 2,
            "text": f"{day:%d %b}",
            "anchor": "end" if i == days - 1 else "middle",
        }
        for i, (day, _) in enumerate(values)
        if (days - 1 - i) % 7 == 0 and i * step > 20
    ]
    return bars, top, ticks


def label_bars(rows: list[tuple[str, float | None]], width: float = 420) -> list[Bar]:
    """Horizontal bars on a 0..1 scale (negative values drawn as empty, shown as text)."""
    bars = []
    for i, (label, value) in enumerate(rows):
        w = width * max(0.0, min(1.0, value)) if value is not None else 0.0
        text = "n/a" if value is None else f"{value:.2f}"
        _, css = reliability(value)
        colour = {"good": "#2f9e44", "fair": "#f2a33a", "poor": "#d9480f"}.get(css, "#c5ccd6")
        bars.append(Bar(label, value, text, 0, i * 26, w, 18, colour))
    return bars


def heatmap(
    names: list[str], matrix: list[list[float | None]], shared: list[list[int]], cell: int = 46
) -> dict[str, Any]:
    cells = []
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            cells.append(
                {
                    "x": j * cell,
                    "y": i * cell,
                    "colour": "#ffffff" if i == j else heat_colour(value),
                    "text": "" if i == j else ("n/a" if value is None else f"{value:.2f}"),
                    "dark": value is not None and i != j and value > 0.55,
                    "title": f"{names[i]} and {names[j]}: "
                    + ("not enough shared items" if value is None else f"{value:.3f}")
                    + f" over {shared[i][j]} shared items",
                }
            )
    return {
        "names": [{"text": n, "pos": k * cell + cell / 2} for k, n in enumerate(names)],
        "cells": cells,
        "cell": cell,
        "size": cell * len(names),
    }


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
def project_dashboard_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Progress and agreement of a project, for its managers and reviewers."""
    try:
        access = project_access(
            user=_user(request), project_id=project_id, minimum=Membership.Role.REVIEWER
        )
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from exc
    project = access.project
    view = agreement_report_view(project=project)
    report = view.report or {}
    today = timezone.now().date()
    counts = items_by_progress(project=project)
    bars, total_items = progress_bar(counts)
    days, day_top, day_ticks = day_bars(
        submissions_per_day(project=project, since=today - timedelta(days=DAYS - 1)), today
    )
    figures = {row["annotator_id"]: row for row in report.get("annotators", [])}
    people = [
        {**row, **{k: v for k, v in figures.get(row["annotator_id"], {}).items() if k not in row}}
        for row in annotator_activity(project=project)
    ]
    people_labels = [row for row in people if row.get("labels")]
    for row in people:
        # Throughput per hour of active labelling (the annotator's own lead time).
        hours = (row.get("total_lead_time_s") or 0) / 3600
        row["per_hour"] = round(row["submitted"] / hours) if hours else None
    names = [row["username"] for row in report.get("annotators", [])]
    heat = report.get("heatmap")
    groups = [
        {**g, "verdict": group_verdict(g)[0], "css": group_verdict(g)[1],
         "bars": label_bars([(lab["label"], lab["alpha"]) for lab in g["labels"]])}
        for g in report.get("clip_groups", [])
    ]  # fmt: skip
    segments = report.get("segments")
    segment_bars = (
        label_bars([(lab["label"], lab["f1"]) for lab in segments["labels"]]) if segments else []
    )
    disputed = report.get("disputed_items", [])[:DISPUTED_SHOWN]
    return render(
        request,
        "web/dashboard.html",
        {
            "project": project,
            "role": access.role,
            "view": view,
            "totals": report.get("totals"),
            "progress_bars": bars,
            "progress_total": total_items,
            "counts": counts,
            "day_bars": days,
            "day_top": day_top,
            "day_ticks": day_ticks,
            "days": DAYS,
            "people": people,
            "people_labels": people_labels,
            "groups": groups,
            "segments": segments,
            "segment_bars": segment_bars,
            "segment_verdict": segment_verdict(segments["f1"] if segments else None),
            "heatmap": heatmap(names, heat["matrix"], heat["shared_items"]) if heat else None,
            "heatmap_measure": (
                "Cohen's kappa over all clip labels"
                if heat and heat["measure"] == "cohen_kappa"
                else "event F1 of segments"
            ),
            "disputed": disputed,
            "histogram": report.get("disagreement_histogram", []),
        },
    )

"""The reviewers' page: submitted work awaiting review, filtered and paged, with accept and
reject buttons that call the same review service as ``POST /api/annotations/{id}/review/``.

Each row links to the item's compare view (``/items/{id}/annotate/?compare=1``), where a
reviewer sees every annotation of the item side by side and can also correct. The page lists
by keyset (``after`` / ``before`` an annotation id, oldest first) so paging through a queue of
any length costs the same and a row reviewed meanwhile does not shift the next page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from backend.agreement.selectors import label_groups
from backend.agreement.services import agreement_report_view
from backend.annotations.filters import ReviewQueueFilter
from backend.annotations.models import Annotation, Review
from backend.annotations.selectors import annotation_access, review_list
from backend.annotations.services import annotation_review
from backend.common.exceptions import ApplicationError, NotFound
from backend.projects.models import Membership
from backend.projects.selectors import ProjectAccess, membership_list
from backend.users.models import User
from backend.web.access import role_access

PAGE_SIZE = 50
DISPUTED_SHOWN = 10
STATES = {
    Annotation.ReviewState.PENDING: "awaiting review",
    Annotation.ReviewState.ACCEPTED: "accepted",
    Annotation.ReviewState.CORRECTED: "corrected by a reviewer",
    Annotation.ReviewState.REJECTED: "rejected, back with the annotator",
}
# Verdicts this page gives; corrections need the compare view's editor.
VERDICTS = (Review.Verdict.ACCEPTED, Review.Verdict.REJECTED)


def reviewer_access(request: HttpRequest, project_id: int) -> tuple[User, ProjectAccess]:
    """The caller and their access, if they review or manage the project: 404 for
    non-members, 403 for annotators."""
    return role_access(request, project_id, Membership.Role.REVIEWER)


@dataclass(frozen=True)
class Page:
    rows: list[Annotation]
    newer: int | None  # ``after`` of the next page (later submissions)
    older: int | None  # ``before`` of the previous page


def _page(qs: QuerySet[Annotation], after: int | None, before: int | None) -> Page:
    """One page in id order, by keyset: after an id, before an id, or from the start."""
    if before is not None:
        rows = list(qs.filter(pk__lt=before).order_by("-pk")[: PAGE_SIZE + 1])
        more_before = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        return Page(rows, rows[-1].pk if rows else None, rows[0].pk if more_before else None)
    if after is not None:
        qs = qs.filter(pk__gt=after)
    rows = list(qs.order_by("pk")[: PAGE_SIZE + 1])
    more_after = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return Page(
        rows,
        rows[-1].pk if more_after else None,
        rows[0].pk if after is not None and rows else None,
    )


def _cursor(request: HttpRequest, name: str, errors: list[str]) -> int | None:
    raw = request.GET.get(name, "")
    if not raw:
        return None
    if not raw.isdigit():
        errors.append(f"{name} must be an annotation id (a whole number), not {raw!r}")
        return None
    return int(raw)


def _url(path: str, params: dict[str, Any]) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def _labels_text(labels: dict[str, Any]) -> str:
    return "; ".join(f"{group}: {', '.join(chosen)}" for group, chosen in labels.items() if chosen)


@login_required
def review_queue_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Submitted annotations by review state (awaiting review by default), for reviewers and
    managers, filtered by annotator and label."""
    user, access = reviewer_access(request, project_id)
    project = access.project
    errors: list[str] = []
    state = request.GET.get("state") or Annotation.ReviewState.PENDING
    if state not in STATES:
        errors.append(f"state must be one of {', '.join(STATES)}, not {state!r}")
        state = Annotation.ReviewState.PENDING
    after = _cursor(request, "after", errors)
    before = _cursor(request, "before", errors)
    filters = ReviewQueueFilter(
        {k: v for k, v in request.GET.items() if k in ("annotator_username", "label") and v},
        queryset=review_list(access=access, user=user, review_state=state),
    )
    if not filters.is_valid():
        errors += [f"{field}: {' '.join(msgs)}" for field, msgs in filters.errors.items()]
    page = _page(filters.qs, after, before) if not errors else Page([], None, None)
    kept = {
        k: v for k, v in request.GET.items() if k in ("state", "annotator_username", "label") and v
    }
    here = reverse("web-review-queue", args=[project.pk])
    groups, segment_labels = label_groups(project=project)
    report = agreement_report_view(project=project).report or {}
    rows = []
    for a in page.rows:
        reviews = list(a.reviews.all())
        rows.append(
            {
                "annotation": a,
                "labels": _labels_text(a.clip_labels or {}),
                "segments": len(a.segments.all()),
                "last_review": reviews[-1] if reviews else None,
                "can_review": a.review_state == Annotation.ReviewState.PENDING
                and a.state == Annotation.State.SUBMITTED,
            }
        )
    cursor = {"after": after} if after else {"before": before} if before else {}
    return render(
        request,
        "web/review_queue.html",
        {
            "project": project,
            "role": access.role,
            "rows": rows,
            "state": state,
            "states": STATES.items(),
            "annotator_username": request.GET.get("annotator_username", ""),
            "label": request.GET.get("label", ""),
            "members": [
                m.user.username for m in membership_list(project=project).order_by("user__username")
            ],
            # Clip and segment labels, each name once (the label filter matches either).
            "label_options": list(
                dict.fromkeys([*(lab for g in groups for lab in g.labels), *segment_labels])
            ),
            "errors": errors,
            "here": _url(here, {**kept, **cursor}),
            "newer_url": _url(here, {**kept, "after": page.newer}) if page.newer else None,
            "older_url": _url(here, {**kept, "before": page.older}) if page.older else None,
            "first_url": _url(here, kept) if cursor else None,
            "disputed": report.get("disputed_items", [])[:DISPUTED_SHOWN],
        },
        status=400 if errors else 200,
    )


@login_required
@require_POST
def review_verdict_view(request: HttpRequest, project_id: int, annotation_id: int) -> HttpResponse:
    """Accept, or reject with a comment, one annotation from the review page; back to the page
    the reviewer came from."""
    user, access = reviewer_access(request, project_id)
    back = request.POST.get("next", "")
    queue = reverse("web-review-queue", args=[project_id])
    if not (
        back.startswith(queue)
        and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})
    ):
        back = queue
    try:
        annotation, _ = annotation_access(user=user, annotation_id=annotation_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if annotation.item.project_id != access.project.pk:
        raise Http404(f"annotation {annotation_id} is not in project {project_id}")
    verdict = request.POST.get("verdict", "")
    if verdict not in VERDICTS:
        messages.error(request, f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
        return redirect(back)
    try:
        annotation_review(
            annotation_id=annotation_id,
            reviewer=user,
            role=access.role,
            verdict=verdict,
            comment=request.POST.get("comment", ""),
        )
    except ApplicationError as exc:
        messages.error(request, f"Annotation {annotation_id}: {exc.message}")
    else:
        done = "accepted" if verdict == Review.Verdict.ACCEPTED else "rejected and sent back"
        messages.success(
            request,
            f"Annotation {annotation_id} by {annotation.annotator.username} on "
            f"{annotation.item.original_name} {done}.",
        )
    return redirect(back)

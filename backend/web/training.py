"""The training panel of the project page: latest runs and models, start and cancel buttons,
and (with an embedding model and a ranked queue) ordering the queue by embeddings.

Buttons post to these views (managers only), which call the same services as the REST API and
send the browser back to the project page; while a run is active the panel polls the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from backend.common.exceptions import ApplicationError
from backend.predictions.models import TrainingRun
from backend.predictions.selectors import (
    model_version_list,
    queue_order_available,
    training_run_list,
)
from backend.predictions.services import (
    queue_order_start,
    run_name,
    training_cancel,
    training_start,
)
from backend.projects.selectors import ProjectAccess
from backend.web.access import manager_access

_RUNS = 5


def training_panel(access: ProjectAccess) -> dict[str, Any]:
    """Template context for ``web/_training.html``."""
    runs = list(training_run_list(project=access.project).order_by("-id")[:_RUNS])
    return {
        "training_runs": runs,
        "training_active": any(r.state in ("queued", "running") for r in runs),
        "latest_model": model_version_list(project=access.project).order_by("-version").first(),
        "can_train": access.is_manager,
        "can_order": access.is_manager and queue_order_available(project=access.project),
    }


def _start(
    request: HttpRequest, project_id: int, start: Callable[..., TrainingRun]
) -> HttpResponse:
    """Start a run with ``start`` (a service) for a manager; say what happened on the page."""
    user, access = manager_access(request, project_id)
    try:
        run = start(project=access.project, user=user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{run_name(run).capitalize()} {run.pk} is queued.")
    return redirect("web-project", project_id=project_id)


@login_required
@require_POST
def training_start_view(request: HttpRequest, project_id: int) -> HttpResponse:
    return _start(request, project_id, training_start)


@login_required
@require_POST
def queue_order_view(request: HttpRequest, project_id: int) -> HttpResponse:
    return _start(request, project_id, queue_order_start)


@login_required
@require_POST
def training_cancel_view(request: HttpRequest, project_id: int, run_id: int) -> HttpResponse:
    _, access = manager_access(request, project_id)
    run = TrainingRun.objects.filter(pk=run_id, project=access.project).first()
    if run is None:
        raise Http404(f"training run {run_id} is not in this project")
    try:
        training_cancel(run=run)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{run_name(run).capitalize()} {run.pk} is cancelled.")
    return redirect("web-project", project_id=project_id)

"""The import and export panel of the project page: a file upload, an export button, the
latest jobs. The forms post to these views (managers only), which call the same services as
the REST API and send the browser back to the project page."""

from __future__ import annotations

from typing import IO, Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from backend.common.exceptions import (
    ApplicationError,
    NotFound,
    PermissionDeniedError,
    ValidationFailed,
)
from backend.dataio.selectors import export_job_list, import_job_list
from backend.dataio.services import ExportSpec, export_job_create, import_job_create
from backend.projects.models import Membership
from backend.projects.selectors import ProjectAccess, project_access
from backend.users.models import User

_JOBS = 5


def dataio_panel(access: ProjectAccess) -> dict[str, Any]:
    """Template context for ``web/_dataio.html`` (managers only)."""
    if not access.is_manager:
        return {}
    return {
        "import_jobs": list(import_job_list(project=access.project).order_by("-id")[:_JOBS]),
        "export_jobs": list(export_job_list(project=access.project).order_by("-id")[:_JOBS]),
    }


def _manager(request: HttpRequest, project_id: int) -> tuple[User, ProjectAccess]:
    user = request.user
    assert isinstance(user, User)
    try:
        access = project_access(user=user, project_id=project_id, minimum=Membership.Role.MANAGER)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from exc
    return user, access


@login_required
@require_POST
def dataio_import_view(request: HttpRequest, project_id: int) -> HttpResponse:
    user, access = _manager(request, project_id)
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise ValidationFailed("choose a file to import", fields={"file": ["required"]})
        job = import_job_create(
            project=access.project,
            user=user,
            fmt=request.POST.get("format", ""),
            options={},
            upload=cast(IO[bytes], upload),
            name=upload.name or "upload",
        )
        messages.info(request, f"Import {job.pk} queued; its report appears below.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("web-project", project_id=project_id)


@login_required
@require_POST
def dataio_export_view(request: HttpRequest, project_id: int) -> HttpResponse:
    user, access = _manager(request, project_id)
    spec = ExportSpec(fmt=request.POST.get("format", ""), source=request.POST.get("source", "all"))
    try:
        job = export_job_create(project=access.project, user=user, spec=spec)
        messages.info(request, f"Export {job.pk} queued; its file is linked below when ready.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("web-project", project_id=project_id)

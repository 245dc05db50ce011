"""The import and export panel of the project page: a file upload, an export button, the
latest jobs. The forms post to these views (managers only), which call the same services as
the REST API and send the browser back to the project page."""

from __future__ import annotations

from typing import IO, Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from backend.common.exceptions import (
    ApplicationError,
    ValidationFailed,
)
from backend.dataio.exports import ExportSpec, export_job_create
from backend.dataio.selectors import export_job_list, import_job_list
from backend.dataio.services import import_job_create
from backend.projects.selectors import ProjectAccess
from backend.web.access import manager_access

_JOBS = 5


def dataio_panel(access: ProjectAccess) -> dict[str, Any]:
    """Template context for ``web/_dataio.html`` (managers only)."""
    if not access.is_manager:
        return {}
    return {
        "import_jobs": list(import_job_list(project=access.project).order_by("-id")[:_JOBS]),
        "export_jobs": list(export_job_list(project=access.project).order_by("-id")[:_JOBS]),
    }


@login_required
@require_POST
def dataio_import_view(request: HttpRequest, project_id: int) -> HttpResponse:
    user, access = manager_access(request, project_id)
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
    user, access = manager_access(request, project_id)
    spec = ExportSpec(fmt=request.POST.get("format", ""), source=request.POST.get("source", "all"))
    try:
        job = export_job_create(project=access.project, user=user, spec=spec)
        messages.info(request, f"Export {job.pk} queued; its file is linked below when ready.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("web-project", project_id=project_id)

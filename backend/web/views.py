"""Server-rendered pages. They read through selectors, like the API, and hold no logic."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from backend.audio.selectors import item_access, item_counts_by_state, item_list
from backend.common.exceptions import NotFound
from backend.projects.models import Project
from backend.projects.selectors import project_access, project_list_for_user, role_lookup
from backend.users.models import User
from backend.web.dataio import dataio_panel
from backend.web.selectors import progress_by_project
from backend.web.training import training_panel

_PAGE = 100


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
def projects_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    role_of_project = role_lookup(user=user)
    rows = list(project_list_for_user(user=user).order_by("name"))
    progress = progress_by_project(user=user, project_ids=[p.pk for p in rows])
    projects = [
        {
            "id": p.pk,
            "name": p.name,
            "role": role_of_project(p.pk) or "",
            "annotations_per_item": p.annotations_per_item,
            "progress": progress[p.pk],
        }
        for p in rows
    ]
    return render(request, "web/projects.html", {"projects": projects})


@login_required
def project_page(request: HttpRequest, project_id: int) -> HttpResponse:
    user = _user(request)
    try:
        access = project_access(user=user, project_id=project_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    items = list(item_list(project=access.project).order_by("-id")[: _PAGE + 1])
    progress = progress_by_project(user=user, project_ids=[access.project.pk])
    return render(
        request,
        "web/project.html",
        {
            "project": access.project,
            "role": access.role,
            "items": items[:_PAGE],
            "more": len(items) > _PAGE,
            "counts": item_counts_by_state(project=access.project),
            "progress": progress[access.project.pk],
            **training_panel(access),
            **dataio_panel(access),
        },
    )


@login_required
def item_page(request: HttpRequest, item_id: int) -> HttpResponse:
    try:
        item, _ = item_access(user=_user(request), item_id=item_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return render(request, "web/item.html", {"item": item})


def _annotator_config(
    request: HttpRequest, project: Project, item_id: int | None
) -> dict[str, Any]:
    """What the annotator script needs; rendered with json_script (escaped for <script>)."""
    return {
        "projectId": project.pk,
        "itemId": item_id,
        "username": _user(request).get_username(),
        "urls": {
            "project": reverse("web-project", args=[project.pk]),
            # "{id}" is replaced by the script when it moves on to the next item.
            "itemAnnotate": reverse("web-item-annotate", args=[0]).replace("/0/", "/{id}/"),
        },
    }


@login_required
def project_annotate_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """The annotator on the next item of my queue in this project."""
    try:
        access = project_access(user=_user(request), project_id=project_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return render(
        request,
        "web/annotate.html",
        {"project": access.project, "config": _annotator_config(request, access.project, None)},
    )


@login_required
def item_annotate_page(request: HttpRequest, item_id: int) -> HttpResponse:
    """The annotator on one item."""
    try:
        item, access = item_access(user=_user(request), item_id=item_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return render(
        request,
        "web/annotate.html",
        {
            "project": access.project,
            "item": item,
            "config": _annotator_config(request, access.project, item.pk),
        },
    )

"""Server-rendered pages. They read through selectors, like the API, and hold no logic."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from backend.audio.selectors import item_access, item_counts_by_state, item_list
from backend.common.exceptions import NotFound
from backend.projects.models import Membership
from backend.projects.selectors import project_access, project_list_for_user
from backend.users.models import User

_PAGE = 100


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
def projects_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    roles = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
    projects = [
        {
            "id": p.pk,
            "name": p.name,
            "role": "manager" if user.is_superuser else roles.get(p.pk, ""),
            "annotations_per_item": p.annotations_per_item,
        }
        for p in project_list_for_user(user=user).order_by("name")
    ]
    return render(request, "web/projects.html", {"projects": projects})


@login_required
def project_page(request: HttpRequest, project_id: int) -> HttpResponse:
    try:
        access = project_access(user=_user(request), project_id=project_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    items = list(item_list(project=access.project).order_by("-id")[: _PAGE + 1])
    return render(
        request,
        "web/project.html",
        {
            "project": access.project,
            "role": access.role,
            "items": items[:_PAGE],
            "more": len(items) > _PAGE,
            "counts": item_counts_by_state(project=access.project),
        },
    )


@login_required
def item_page(request: HttpRequest, item_id: int) -> HttpResponse:
    try:
        item, _ = item_access(user=_user(request), item_id=item_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return render(request, "web/item.html", {"item": item})

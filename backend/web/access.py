"""Who may use a page: the same checks as the API, answered as pages answer (404 / 403)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from backend.common.exceptions import NotFound, PermissionDeniedError
from backend.projects.models import Membership
from backend.projects.selectors import ProjectAccess, project_access
from backend.users.models import User


def manager_access(request: HttpRequest, project_id: int) -> tuple[User, ProjectAccess]:
    """The caller and their access to the project, if they manage it: 404 for non-members,
    403 for members of a lower role."""
    return role_access(request, project_id, Membership.Role.MANAGER)


def role_access(
    request: HttpRequest, project_id: int, minimum: Membership.Role
) -> tuple[User, ProjectAccess]:
    """The caller and their access to the project, if their role is at least ``minimum``:
    404 for non-members, 403 for members of a lower role."""
    user = request.user
    assert isinstance(user, User)
    try:
        access = project_access(user=user, project_id=project_id, minimum=minimum)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from exc
    return user, access

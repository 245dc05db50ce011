from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet

from backend.common.exceptions import NotFound, PermissionDeniedError
from backend.projects.models import Membership, Project
from backend.users.models import User

Role = Membership.Role
_RANK = {Role.ANNOTATOR: 0, Role.REVIEWER: 1, Role.MANAGER: 2}


@dataclass(frozen=True)
class ProjectAccess:
    """A project as seen by one user: the row and the user's role in it."""

    project: Project
    role: str

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def can_review(self) -> bool:
        return _RANK[Role(self.role)] >= _RANK[Role.REVIEWER]

    def require(self, minimum: str) -> ProjectAccess:
        if _RANK[Role(self.role)] < _RANK[Role(minimum)]:
            raise PermissionDeniedError(
                f"this needs the {minimum} role in project {self.project.pk}; you are {self.role}"
            )
        return self


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def role_of(*, user: User, project_id: int) -> str | None:
    if user.is_superuser:
        return Role.MANAGER
    return (
        Membership.objects.filter(user=user, project_id=project_id)
        .values_list("role", flat=True)
        .first()
    )


def role_lookup(*, user: User) -> Callable[[int], str | None]:
    """The caller's role by project id, for listing many projects with one query."""
    if user.is_superuser:
        return lambda _project_id: Role.MANAGER
    roles = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
    return roles.get


def project_access(*, user: User, project_id: int, minimum: str = Role.ANNOTATOR) -> ProjectAccess:
    """The project and the caller's role; 404 to non-members so ids leak nothing."""
    project = Project.objects.filter(pk=project_id).first()
    role = role_of(user=user, project_id=project_id) if project is not None else None
    if project is None or role is None:
        raise NotFound(f"project {project_id} does not exist or you are not a member")
    return ProjectAccess(project=project, role=role).require(minimum)


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user")

from __future__ import annotations

from django.db.models import Count, QuerySet

from backend.audio.models import AudioItem, StorageConnection
from backend.common.exceptions import NotFound
from backend.projects.models import Membership, Project
from backend.projects.selectors import ProjectAccess, role_of
from backend.users.models import User


def item_list(*, project: Project) -> QuerySet[AudioItem]:
    return AudioItem.objects.filter(project=project)


def item_get(*, item_id: int) -> AudioItem | None:
    return AudioItem.objects.select_related("project").filter(pk=item_id).first()


def item_by_sha256(*, project: Project, sha256: str) -> AudioItem | None:
    return AudioItem.objects.filter(project=project, sha256=sha256).first()


def item_counts_by_state(*, project: Project) -> dict[str, int]:
    rows = (
        AudioItem.objects.filter(project=project).values("state").annotate(n=Count("id")).order_by()
    )
    counts = dict.fromkeys(AudioItem.State.values, 0)
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def item_access(
    *, user: User, item_id: int, minimum: str = Membership.Role.ANNOTATOR
) -> tuple[AudioItem, ProjectAccess]:
    """An item and the caller's access to its project; 404 when either is out of reach."""
    item = item_get(item_id=item_id)
    role = role_of(user=user, project_id=item.project_id) if item is not None else None
    if item is None or role is None:
        raise NotFound(f"item {item_id} does not exist or you are not a member of its project")
    return item, ProjectAccess(project=item.project, role=role).require(minimum)


def connection_list(*, project: Project) -> QuerySet[StorageConnection]:
    return StorageConnection.objects.filter(project=project).annotate(item_count=Count("items"))


def connection_item_count(*, connection: StorageConnection) -> int:
    return AudioItem.objects.filter(connection=connection).count()


def connection_access(
    *, user: User, connection_id: int, minimum: str = Membership.Role.MANAGER
) -> tuple[StorageConnection, ProjectAccess]:
    """A connection and the caller's access to its project; 404 when either is out of reach."""
    connection = (
        StorageConnection.objects.select_related("project")
        .annotate(item_count=Count("items"))
        .filter(pk=connection_id)
        .first()
    )
    role = role_of(user=user, project_id=connection.project_id) if connection else None
    if connection is None or role is None:
        raise NotFound(
            f"connection {connection_id} does not exist or you are not a member of its project"
        )
    return connection, ProjectAccess(project=connection.project, role=role).require(minimum)

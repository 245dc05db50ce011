from __future__ import annotations

import random

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from backend.annotations.models import Annotation, Segment
from backend.audio.models import AudioItem
from backend.common.exceptions import NotFound
from backend.projects.models import Membership, Project
from backend.projects.selectors import ProjectAccess, role_of
from backend.users.models import User


def _with_related(qs: QuerySet[Annotation]) -> QuerySet[Annotation]:
    return qs.select_related("annotator", "item").prefetch_related(
        Prefetch("segments", queryset=Segment.objects.order_by("start_s", "id"))
    )


def annotation_list_visible(*, access: ProjectAccess, user: User) -> QuerySet[Annotation]:
    """Annotations of a project the caller may see: reviewers and managers see everyone's,
    annotators only their own (blind labelling keeps agreement honest)."""
    qs = Annotation.objects.filter(item__project=access.project)
    if not access.can_review:
        qs = qs.filter(annotator=user)
    return _with_related(qs)


def annotation_get(*, annotation_id: int) -> Annotation:
    return _with_related(Annotation.objects.filter(pk=annotation_id)).get()


def annotation_access(*, user: User, annotation_id: int) -> tuple[Annotation, ProjectAccess]:
    annotation = _with_related(Annotation.objects.filter(pk=annotation_id)).first()
    role = role_of(user=user, project_id=annotation.item.project_id) if annotation else None
    visible = (
        annotation is not None
        and role is not None
        and (annotation.annotator_id == user.pk or role != Membership.Role.ANNOTATOR)
    )
    if not visible or annotation is None or role is None:
        raise NotFound(f"annotation {annotation_id} does not exist or is not visible to you")
    project = Project.objects.get(pk=annotation.item.project_id)
    return annotation, ProjectAccess(project=project, role=role)


def annotation_of(*, item: AudioItem, user: User) -> Annotation | None:
    return _with_related(Annotation.objects.filter(item=item, annotator=user)).first()


def next_item_for_user(*, project: Project, user: User) -> AudioItem | None:
    """The item this person should label next.

    Their own unfinished draft comes first. Otherwise a ready item that still needs annotations
    and that they have not annotated or skipped, in the project's queue order. Uses the partial
    index ``item_queue`` (project, active_annotations, id) WHERE state = 'ready'.
    """
    draft = (
        Annotation.objects.filter(
            annotator=user,
            state=Annotation.State.DRAFT,
            item__project=project,
            item__state=AudioItem.State.READY,
        )
        .order_by("updated_at")
        .select_related("item")
        .first()
    )
    if draft is not None:
        return draft.item
    mine = Annotation.objects.filter(item=OuterRef("pk"), annotator=user)
    candidates = AudioItem.objects.filter(
        project=project,
        state=AudioItem.State.READY,
        active_annotations__lt=project.annotations_per_item,
    ).filter(~Exists(mine))
    if project.queue_policy == Project.QueuePolicy.RANDOM:
        return _random_pick(candidates)
    return candidates.order_by("id").first()


def _random_pick(candidates: QuerySet[AudioItem]) -> AudioItem | None:
    """A uniformly placed pivot id, then the next candidate at or after it (wrapping).

    ORDER BY random() would read every candidate row; this reads two index ranges at most.
    """
    bounds = candidates.order_by("id").values_list("id", flat=True)
    first_id = bounds.first()
    if first_id is None:
        return None
    last_id = candidates.order_by("-id").values_list("id", flat=True).first() or first_id
    pivot = random.randint(first_id, last_id)  # noqa: S311 - queue order, not security
    return (
        candidates.filter(id__gte=pivot).order_by("id").first()
        or candidates.filter(id__lt=pivot).order_by("id").first()
    )

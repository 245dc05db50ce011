from __future__ import annotations

import json

from django.db.models import (
    Case,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast

from backend.annotations.models import Annotation, Assignment, Review, Segment
from backend.audio.models import AudioItem
from backend.common.exceptions import NotFound, ValidationFailed
from backend.projects.models import Membership, Project
from backend.projects.selectors import ProjectAccess, role_of
from backend.users.models import User


def _with_related(qs: QuerySet[Annotation]) -> QuerySet[Annotation]:
    return qs.select_related("annotator", "item").prefetch_related(
        Prefetch("segments", queryset=Segment.objects.order_by("start_s", "id")),
        Prefetch("reviews", queryset=Review.objects.select_related("reviewer").order_by("id")),
    )


def annotation_list_visible(*, access: ProjectAccess, user: User) -> QuerySet[Annotation]:
    """Annotations of a project the caller may see: reviewers and managers see everyone's,
    annotators only their own (blind labelling keeps agreement honest)."""
    qs = Annotation.objects.filter(item__project=access.project)
    if not access.can_review:
        qs = qs.filter(annotator=user, is_reference=False)
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
    """The person's own annotation of the item (never a reference they wrote as reviewer)."""
    return _with_related(
        Annotation.objects.filter(item=item, annotator=user, is_reference=False)
    ).first()


def reference_of(*, item_id: int) -> Annotation | None:
    return Annotation.objects.filter(item_id=item_id, is_reference=True).first()


def is_assigned(*, item_id: int, user_id: int) -> bool:
    return Assignment.objects.filter(item_id=item_id, user_id=user_id).exists()


# --- the labelling queue -------------------------------------------------------------------


def own_drafts(*, project: Project, user: User) -> QuerySet[Annotation]:
    """The person's drafts on ready items: those a reviewer sent back first, then the one they
    touched last (index ``annotation_mine``)."""
    returned_first = Case(
        When(review_state=Annotation.ReviewState.REJECTED, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return (
        Annotation.objects.filter(
            annotator=user,
            state=Annotation.State.DRAFT,
            is_reference=False,
            item__project=project,
            item__state=AudioItem.State.READY,
        )
        .annotate(returned_first=returned_first)
        .order_by("returned_first", "-updated_at", "id")
    )


def open_assignments(*, project: Project, user: User) -> QuerySet[Assignment]:
    """Items a manager assigned to the person that they have not finished, oldest assignment
    first (partial index ``assignment_open``)."""
    return Assignment.objects.filter(
        project=project,
        user=user,
        completed_at__isnull=True,
        item__state=AudioItem.State.READY,
    ).order_by("id")


def queue_candidates(*, project: Project, user: User) -> QuerySet[AudioItem]:
    """Ready items with a free slot that the person has never annotated, skipped or reviewed.

    Unordered; ``queue_level`` narrows it to one fill level, which is one ordered index range.
    """
    mine = Annotation.objects.filter(item=OuterRef("pk"), annotator=user)
    return AudioItem.objects.filter(
        project=project,
        state=AudioItem.State.READY,
        active_annotations__lt=project.annotations_per_item,
    ).filter(~Exists(mine))


def queue_order(*, project: Project) -> tuple[str, ...]:
    """The queue order of a project's policy: by id in upload order, else by the model's rank
    (lowest first) then id. Random has its own pick (``services``)."""
    if project.queue_policy == Project.QueuePolicy.SEQUENTIAL:
        return ("id",)
    return ("queue_rank", "id")


def queue_level(*, project: Project, user: User, level: int) -> QuerySet[AudioItem]:
    """Candidates holding exactly ``level`` slots, in queue order.

    One range of the partial index ``item_queue`` (project, active_annotations, id) or
    ``item_queue_level_rank`` (project, active_annotations, queue_rank, id), read from its
    start: full items are in other ranges, so they are never read. The level is written as a
    range and the order starts with it on purpose: with ``active_annotations = level`` Postgres
    drops that column from the order and may walk the primary key instead, filtering, which
    reads every full item when they sit at the front of the queue (as they do when people
    label in order). (A further bound on id or rank would not narrow this range: after a
    range on the level, btree applies it to every entry; so each level is read unbounded.)
    """
    mine = Annotation.objects.filter(item=OuterRef("pk"), annotator=user)
    return (
        AudioItem.objects.filter(
            project=project,
            state=AudioItem.State.READY,
            active_annotations__gte=level,
            active_annotations__lt=level + 1,
        )
        .filter(~Exists(mine))
        .order_by("active_annotations", *queue_order(project=project))
    )


def queue_key(*, project: Project, item: AudioItem) -> tuple[float, int]:
    """An item's place in its project's queue order (lower first)."""
    if project.queue_policy == Project.QueuePolicy.SEQUENTIAL:
        return (0.0, item.pk)
    return (item.queue_rank, item.pk)


def ready_id_bounds(*, project: Project) -> tuple[int, int] | None:
    """The lowest and highest ready item id (two probes of ``item_project_state_id``)."""
    ready = AudioItem.objects.filter(project=project, state=AudioItem.State.READY)
    first = ready.order_by("id").values_list("id", flat=True).first()
    last = ready.order_by("-id").values_list("id", flat=True).first()
    if first is None or last is None:
        return None
    return first, last


def next_item_for_user(*, project: Project, user: User) -> AudioItem | None:
    """The item this person would be served next, without claiming it (read only).

    Their own drafts first, then items assigned to them, then the queue in the project's
    order. ``services.next_item_claim`` serves and holds a slot with a lease.
    """
    draft = own_drafts(project=project, user=user).select_related("item").first()
    if draft is not None:
        return draft.item
    assignment = open_assignments(project=project, user=user).select_related("item").first()
    if assignment is not None:
        return assignment.item
    firsts = [
        found
        for level in range(project.annotations_per_item)
        if (found := queue_level(project=project, user=user, level=level).first()) is not None
    ]
    return min(firsts, key=lambda i: queue_key(project=project, item=i), default=None)


# --- review ----------------------------------------------------------------------------------


def review_queue(*, access: ProjectAccess, user: User) -> QuerySet[Annotation]:
    """Submitted annotations nobody has reviewed yet (partial index ``annotation_review_queue``).

    A reviewer's own work is left out (only managers may review their own).
    """
    qs = Annotation.objects.filter(
        item__project=access.project,
        state=Annotation.State.SUBMITTED,
        review_state=Annotation.ReviewState.PENDING,
        is_reference=False,
    )
    if not access.is_manager:
        qs = qs.exclude(annotator=user)
    return _with_related(qs)


def review_list(
    *, access: ProjectAccess, user: User, review_state: str = Annotation.ReviewState.PENDING
) -> QuerySet[Annotation]:
    """Annotations of a project by review state, for the reviewers' page: ``pending`` is the
    review queue itself (``review_queue``); ``accepted`` and ``corrected`` are submitted work
    already reviewed; ``rejected`` is work back with its annotator (a draft until resubmitted).
    """
    if review_state == Annotation.ReviewState.PENDING:
        return review_queue(access=access, user=user)
    qs = Annotation.objects.filter(
        item__project=access.project, is_reference=False, review_state=review_state
    )
    if review_state != Annotation.ReviewState.REJECTED:
        qs = qs.filter(state=Annotation.State.SUBMITTED)
    return _with_related(qs)


def annotations_with_label(qs: QuerySet[Annotation], *, label: str) -> QuerySet[Annotation]:
    """Those of ``qs`` with a segment or a clip label called ``label``."""
    return qs.annotate(clip_labels_text=Cast("clip_labels", TextField())).filter(_has_label(label))


def _has_label(label: str) -> Q:
    segment = Exists(Segment.objects.filter(annotation=OuterRef("pk"), label=label))
    # Clip labels are {"group": ["label", ...]}: a label is a quoted string followed by "," or
    # "]" (a group name is followed by ":"). SQLite keeps the text as Django wrote it (ASCII
    # escapes); Postgres prints jsonb with the characters themselves, so both spellings.
    clip = Q()
    for quoted in {json.dumps(label), json.dumps(label, ensure_ascii=False)}:
        clip |= Q(clip_labels_text__contains=f"{quoted}]")
        clip |= Q(clip_labels_text__contains=f"{quoted},")
    return Q(segment) | clip


def item_compare(*, item: AudioItem) -> QuerySet[Annotation]:
    """Every annotation of an item, the reviewed truth first, for reviewers' side-by-side view."""
    return _with_related(Annotation.objects.filter(item=item)).order_by("-is_reference", "id")


# --- assignment ------------------------------------------------------------------------------


def member_by_ref(*, project: Project, ref: int | str, field: str = "user") -> User:
    """A project member by id or username; a clear 400 naming ``field`` otherwise."""
    users = User.objects.filter(memberships__project=project)
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        user = users.filter(pk=int(ref)).first()
    else:
        user = users.filter(username=ref).first()
    if user is None:
        raise ValidationFailed(
            f"{ref!r} is not a member of project {project.pk}",
            fields={field: [f"{ref!r} is not a member of this project"]},
        )
    return user


def assignment_list(*, access: ProjectAccess, user: User) -> QuerySet[Assignment]:
    """Assignments of a project: managers and reviewers see all, annotators their own."""
    qs = Assignment.objects.filter(project=access.project)
    if not access.can_review:
        qs = qs.filter(user=user)
    return qs.select_related("user", "assigned_by")

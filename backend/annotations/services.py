"""Writes for annotations: the queue and its leases, drafts, submit and skip, assignment,
review.

Every change of content bumps ``version``; a client that sends a version other than the current
one gets a conflict and the current content, never a silent overwrite.

Slots. An item wants K = ``project.annotations_per_item`` annotations; ``AudioItem.
active_annotations`` counts the slots taken, which is what the queue's index ranges read. A
person holds a slot of an item when their annotation is submitted, or is a draft with a lease,
or when they are assigned the item and have not skipped it (``_holds_slot``). Every write that
changes one of these computes the holding before and after and moves the counter by the
difference, with the item row locked first and the annotation row second (one lock order, so
no deadlocks; the queue and the lease sweep only ever take locks with SKIP LOCKED).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from backend.annotations import selectors
from backend.annotations.models import Annotation, Assignment, Review, Segment
from backend.annotations.validation import (
    SegmentData,
    missing_required_groups,
    validate_clip_labels,
    validate_segments,
)
from backend.audio.models import AudioItem
from backend.common.db import commit_without_waiting
from backend.common.exceptions import Conflict, NotFound, PermissionDeniedError, ValidationFailed
from backend.common.queue import (
    TASK_AGREEMENT_REFRESH,
    TASK_TRAINING_MAYBE_START,
    enqueue_on_commit,
)
from backend.projects.models import Membership, Project
from backend.projects.schema import LabelSchema
from backend.users.models import User

# A claimed slot is held this long after the last save or heartbeat.
LEASE_DURATION = timedelta(minutes=30)
# A draft a reviewer sent back keeps its slot this long for the annotator to fix it.
RETURNED_LEASE_DURATION = timedelta(days=7)
# Expired leases released per call of the sweep (each next-item call runs one).
SWEEP_BATCH = 200
# Items assigned or unassigned per request.
MAX_ASSIGN_ITEMS = 10_000


class StaleVersion(Conflict):
    code = "stale_version"

    def __init__(self, annotation: Annotation, sent: int) -> None:
        super().__init__(
            f"annotation {annotation.pk} changed elsewhere: you sent version {sent}, "
            f"the current version is {annotation.version}",
            fields={"version": [f"current version is {annotation.version}"]},
        )
        self.current_version = annotation.version


def _schema_of(item: AudioItem) -> LabelSchema:
    return LabelSchema.parse(item.project.label_schema)


def _check_content(
    item: AudioItem, clip_labels: Any, segments: list[dict[str, Any]] | None
) -> tuple[dict[str, list[str]] | None, list[SegmentData] | None]:
    schema = _schema_of(item)
    errors: dict[str, list[str]] = {}
    labels = segs = None
    if clip_labels is not None:
        try:
            labels = validate_clip_labels(schema, clip_labels)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if segments is not None:
        try:
            segs = validate_segments(
                schema, segments, duration_s=item.duration_s, sample_rate_hz=item.sample_rate_hz
            )
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        path, messages = next(iter(errors.items()))
        raise ValidationFailed(f"{path}: {messages[0]}", fields=errors)
    return labels, segs


def _replace_segments(annotation: Annotation, segments: list[SegmentData]) -> None:
    annotation.segments.all().delete()
    Segment.objects.bulk_create(
        Segment(
            annotation=annotation,
            start_s=s.start_s,
            end_s=s.end_s,
            label=s.label,
            low_hz=s.low_hz,
            high_hz=s.high_hz,
            text=s.text,
        )
        for s in segments
    )


def _count_active(item_id: int, delta: int) -> None:
    if delta:
        AudioItem.objects.filter(pk=item_id).update(
            active_annotations=F("active_annotations") + delta
        )


def _holds_slot(annotation: Annotation | None, *, assigned: bool) -> bool:
    """Whether this person takes one of the item's K slots (see the module docstring)."""
    if annotation is None or annotation.is_reference:
        return assigned
    if annotation.state == Annotation.State.SUBMITTED:
        return True
    if annotation.state == Annotation.State.SKIPPED:
        return False
    return annotation.lease_expires_at is not None or assigned


def _lock_item(item_id: int) -> AudioItem:
    return (
        AudioItem.objects.select_for_update(of=("self",)).select_related("project").get(pk=item_id)
    )


def _lock_own_on(item: AudioItem, user: User) -> Annotation | None:
    return (
        Annotation.objects.select_for_update()
        .filter(item=item, annotator=user, is_reference=False)
        .first()
    )


def _take_lease(
    annotation: Annotation, item: AudioItem, *, duration: timedelta = LEASE_DURATION
) -> bool:
    """Renew the draft's lease; if it had lost it, take a slot again when the item has room
    (or the person is assigned it). Saves nothing but the counter; returns whether it holds a
    lease now. The caller holds the item's lock and saves ``lease_expires_at``."""
    expires_at = timezone.now() + duration
    if annotation.lease_expires_at is not None:
        annotation.lease_expires_at = max(annotation.lease_expires_at, expires_at)
        return True
    assigned = selectors.is_assigned(item_id=item.pk, user_id=annotation.annotator_id)
    if not assigned and item.active_annotations >= item.project.annotations_per_item:
        return False
    before = _holds_slot(annotation, assigned=assigned)
    annotation.lease_expires_at = expires_at
    _count_active(item.pk, int(_holds_slot(annotation, assigned=assigned)) - int(before))
    return True


def _is_empty(annotation: Annotation) -> bool:
    return not annotation.clip_labels and not annotation.segments.exists()


def _complete_assignment(item_id: int, user_id: int) -> None:
    Assignment.objects.filter(item_id=item_id, user_id=user_id, completed_at__isnull=True).update(
        completed_at=timezone.now()
    )


# --- the labelling queue -------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What next-item serves: an item and the caller's draft on it (holding a slot, unless
    ``has_lease`` is False: their own earlier work on an item that filled up meanwhile)."""

    item: AudioItem
    annotation: Annotation

    @property
    def has_lease(self) -> bool:
        return self.annotation.lease_expires_at is not None


@transaction.atomic
def next_item_claim(*, project: Project, user: User) -> Claim | None:
    """Serve the caller their next item and hold a slot of it with a lease.

    Order: their own drafts (sent back by a reviewer first, then the last touched), items
    assigned to them, then the queue in the project's order. Two people asking at once never
    take the same slot: queue rows are locked with SKIP LOCKED, so the second gets the next
    candidate instead of waiting.

    The claim commits without waiting for the disk: a claim lost in a database crash is only a
    lease on a slot, served again (its draft is empty), and annotators' next-item would
    otherwise queue behind an import's WAL (docs/benchmarks.md, latency during an import).
    """
    commit_without_waiting()
    _release_expired(limit=SWEEP_BATCH, now=timezone.now())
    claim = _claim_own_draft(project, user)
    if claim is None:
        claim = _claim_assigned(project, user)
    if claim is None:
        claim = _claim_from_queue(project, user)
    return claim


def _claim_own_draft(project: Project, user: User) -> Claim | None:
    for draft in selectors.own_drafts(project=project, user=user)[:20]:
        item = _lock_item(draft.item_id)
        annotation = Annotation.objects.select_for_update().filter(pk=draft.pk).first()
        if annotation is None or annotation.state != Annotation.State.DRAFT:
            continue  # submitted or skipped from another tab meanwhile
        if not _take_lease(annotation, item):
            if _is_empty(annotation):
                # A claim nobody worked on whose slot went to someone else: drop it rather
                # than serve a K+1th annotation of nothing.
                annotation.delete()
                continue
            return Claim(item=item, annotation=annotation)
        annotation.save(update_fields=["lease_expires_at"])
        return Claim(item=item, annotation=annotation)
    return None


def _new_draft(item: AudioItem, user: User, *, assigned: bool) -> Annotation | None:
    """A leased draft for the caller on a locked item; None if they already have one (another
    tab claimed it a moment ago)."""
    annotation = Annotation(
        item=item, annotator=user, lease_expires_at=timezone.now() + LEASE_DURATION
    )
    try:
        with transaction.atomic():
            annotation.save()
    except IntegrityError:
        return None
    _count_active(item.pk, int(_holds_slot(annotation, assigned=assigned)) - int(assigned))
    return annotation


def _claim_assigned(project: Project, user: User) -> Claim | None:
    for assignment in selectors.open_assignments(project=project, user=user)[:20]:
        item = _lock_item(assignment.item_id)
        if Annotation.objects.filter(item=item, annotator=user, is_reference=False).exists():
            # Done or skipped without the assignment being closed (e.g. before it was made).
            _complete_assignment(item.pk, user.pk)
            continue
        annotation = _new_draft(item, user, assigned=True)
        if annotation is not None:
            return Claim(item=item, annotation=annotation)
    return None


def _claim_from_queue(project: Project, user: User) -> Claim | None:
    for _attempt in range(3):
        item = (
            _pick_random(project, user)
            if project.queue_policy == Project.QueuePolicy.RANDOM
            else _pick_in_order(project, user)
        )
        if item is None:
            return None
        if item.active_annotations >= project.annotations_per_item:
            continue  # filled between our snapshot and our lock
        item.project = project
        annotation = _new_draft(item, user, assigned=False)
        if annotation is None:
            # The caller's other tab claimed an item a moment ago: serve them that one.
            return _claim_own_draft(project, user)
        return Claim(item=item, annotation=annotation)
    return None


def queue_claim_query(*, project: Project, user: User, level: int) -> QuerySet[AudioItem]:
    """The locking read next-item runs for one fill level (public for the plan test and the
    benchmark, which EXPLAIN exactly this)."""
    return selectors.queue_level(project=project, user=user, level=level).select_for_update(
        skip_locked=True, of=("self",)
    )[:1]


def _pick_in_order(project: Project, user: User) -> AudioItem | None:
    """The first unlocked candidate in queue order, locked, locking nothing else.

    First the head of each fill level's index range, read without locks (K short reads);
    then, best head first, that level's range again with ``SKIP LOCKED``, which returns its
    head or, if someone holds that row, the next one. Locking every level's head at once would
    hold K rows and make people asking at the same moment skip rows that nobody is served.
    """
    levels = range(project.annotations_per_item)
    heads = [
        (selectors.queue_key(project=project, item=head), level)
        for level in levels
        if (head := selectors.queue_level(project=project, user=user, level=level).first())
        is not None
    ]
    for _key, level in sorted(heads):
        found = next(iter(queue_claim_query(project=project, user=user, level=level)), None)
        if found is not None:
            return found
    return None


def _pick_random(project: Project, user: User) -> AudioItem | None:
    """A uniformly placed pivot id, then the next unlocked candidate at or after it (wrapping).

    ORDER BY random() would read every candidate row; this reads two index ranges at most.
    """
    bounds = selectors.ready_id_bounds(project=project)
    if bounds is None:
        return None
    pivot = random.randint(*bounds)  # noqa: S311 - queue order, not security
    candidates = selectors.queue_candidates(project=project, user=user).select_for_update(
        skip_locked=True, of=("self",)
    )
    return (
        candidates.filter(id__gte=pivot).order_by("id").first()
        or candidates.filter(id__lt=pivot).order_by("id").first()
    )


@transaction.atomic
def leases_release_expired(*, limit: int = SWEEP_BATCH, now: datetime | None = None) -> int:
    """Free the slots of drafts whose lease ran out; returns how many leases were released.

    The draft itself stays (its content is the person's work): if they come back, saving or
    renewing takes a slot again when there is room. Rows someone else has locked are left for
    the next sweep, so concurrent sweeps never wait on each other.
    """
    return _release_expired(limit=limit, now=now or timezone.now())


def _release_expired(*, limit: int, now: datetime) -> int:
    expired = list(
        Annotation.objects.select_for_update(skip_locked=True, of=("self", "item"))
        .select_related("item")
        .filter(
            state=Annotation.State.DRAFT,
            lease_expires_at__isnull=False,
            lease_expires_at__lt=now,
        )
        .order_by("lease_expires_at")[:limit]
    )
    if not expired:
        return 0
    assigned = set(
        Assignment.objects.filter(
            item_id__in={a.item_id for a in expired}, user_id__in={a.annotator_id for a in expired}
        ).values_list("item_id", "user_id")
    )
    freed: dict[int, int] = {}
    for annotation in expired:
        is_assigned = (annotation.item_id, annotation.annotator_id) in assigned
        before = _holds_slot(annotation, assigned=is_assigned)
        annotation.lease_expires_at = None
        delta = int(_holds_slot(annotation, assigned=is_assigned)) - int(before)
        freed[annotation.item_id] = freed.get(annotation.item_id, 0) + delta
    # Not a change of content: version and updated_at stay as they are.
    Annotation.objects.filter(pk__in=[a.pk for a in expired]).update(lease_expires_at=None)
    for item_id, delta in freed.items():
        _count_active(item_id, delta)
    return len(expired)


@transaction.atomic
def lease_renew(*, item: AudioItem, user: User) -> Annotation:
    """The heartbeat: extend the caller's lease on the item, or take a slot again if the lease
    had expired and the item still has room. 404 without a draft, 409 when it cannot hold."""
    locked = _lock_item(item.pk)
    annotation = _lock_own_on(locked, user)
    if annotation is None:
        raise NotFound(f"you have no draft on item {item.pk}, so no lease to renew")
    if annotation.state != Annotation.State.DRAFT:
        raise Conflict(
            f"your annotation of item {item.pk} is {annotation.state}; only drafts hold a lease",
            code="not_a_draft",
        )
    if not _take_lease(annotation, locked):
        raise Conflict(
            f"your lease on item {item.pk} expired and its slots went to others; your draft is "
            "kept and can still be saved and submitted",
            code="lease_lost",
        )
    annotation.save(update_fields=["lease_expires_at"])
    return annotation


def items_recount_slots(*, item_ids: Sequence[int]) -> None:
    """Set ``active_annotations`` and ``submitted_annotations`` of these items from their
    rows, by the slot rule of ``_holds_slot`` (one UPDATE): for writers that create
    annotations in bulk (imports) instead of through the services above."""
    own = Annotation.objects.filter(item_id=OuterRef("pk"), is_reference=False)
    holding = Q(state=Annotation.State.SUBMITTED) | Q(
        state=Annotation.State.DRAFT, lease_expires_at__isnull=False
    )
    # An assignment holds a slot while its person's own row does not decide otherwise.
    decided = Annotation.objects.filter(
        item_id=OuterRef("item_id"), annotator_id=OuterRef("user_id"), is_reference=False
    ).filter(holding | Q(state=Annotation.State.SKIPPED))
    reserving = Assignment.objects.filter(item_id=OuterRef("pk")).filter(~Exists(decided))

    def count(qs: QuerySet[Any]) -> Coalesce:
        sub = qs.order_by().values("item_id").annotate(n=Count("id")).values("n")
        return Coalesce(Subquery(sub, output_field=IntegerField()), Value(0))

    AudioItem.objects.filter(pk__in=list(item_ids)).update(
        active_annotations=count(own.filter(holding)) + count(reserving),
        submitted_annotations=count(own.filter(state=Annotation.State.SUBMITTED)),
    )


# --- drafts, submit, skip ------------------------------------------------------------------


@transaction.atomic
def annotation_start(
    *,
    item: AudioItem,
    annotator: User,
    clip_labels: dict[str, Any] | None = None,
    segments: list[dict[str, Any]] | None = None,
    lead_time_s: float = 0.0,
) -> tuple[Annotation, bool]:
    """The annotator's draft for this item, created if they have none. Returns (row, created).

    A new draft takes a slot with a lease; an item whose K slots are taken by others is a 409
    ``item_full`` unless the caller is assigned it. An existing draft has its lease renewed.
    """
    if item.state != AudioItem.State.READY:
        raise Conflict(f"item {item.pk} is {item.state}; it can be annotated once it is ready")
    locked = _lock_item(item.pk)
    existing = _lock_own_on(locked, annotator)
    if existing is not None:
        if existing.state == Annotation.State.DRAFT and _take_lease(existing, locked):
            existing.save(update_fields=["lease_expires_at"])
        return existing, False
    assigned = selectors.is_assigned(item_id=item.pk, user_id=annotator.pk)
    wanted = locked.project.annotations_per_item
    if not assigned and locked.active_annotations >= wanted:
        raise Conflict(
            f"item {item.pk} already has its {wanted} annotation(s) done or in progress; "
            "ask for your next item instead",
            code="item_full",
        )
    labels, segs = _check_content(locked, clip_labels or {}, segments or [])
    annotation = Annotation(
        item=locked,
        annotator=annotator,
        clip_labels=labels or {},
        lead_time_s=lead_time_s,
        lease_expires_at=timezone.now() + LEASE_DURATION,
    )
    annotation.save()
    _replace_segments(annotation, segs or [])
    _count_active(item.pk, int(_holds_slot(annotation, assigned=assigned)) - int(assigned))
    return annotation, True


def _locked_own(annotation_id: int, user: User) -> Annotation:
    """The caller's annotation, locked after its item (the one lock order)."""
    item_id = Annotation.objects.filter(pk=annotation_id).values_list("item_id", flat=True).first()
    if item_id is None:
        raise NotFound(f"annotation {annotation_id} does not exist")
    item = _lock_item(item_id)
    annotation = Annotation.objects.select_for_update().get(pk=annotation_id)
    annotation.item = item
    if annotation.annotator_id != user.pk:
        raise PermissionDeniedError("only the annotator may change their annotation")
    return annotation


def _check_version(annotation: Annotation, version: int) -> None:
    if annotation.version != version:
        raise StaleVersion(annotation, version)


def _check_editable(annotation: Annotation) -> None:
    final = (Annotation.ReviewState.ACCEPTED, Annotation.ReviewState.CORRECTED)
    if not annotation.is_reference and annotation.review_state in final:
        raise Conflict(
            f"annotation {annotation.pk} was {annotation.review_state} in review and is final"
        )


@transaction.atomic
def annotation_update(
    *,
    annotation_id: int,
    user: User,
    version: int,
    clip_labels: dict[str, Any] | None = None,
    segments: list[dict[str, Any]] | None = None,
    lead_time_s: float | None = None,
) -> Annotation:
    """Replace clip labels and/or the whole segment list; fields left as None are kept.

    Saving a draft renews its lease (or takes a slot again when it had lost it and there is
    room); the content is saved either way.
    """
    annotation = _locked_own(annotation_id, user)
    _check_version(annotation, version)
    _check_editable(annotation)
    labels, segs = _check_content(annotation.item, clip_labels, segments)
    fields = ["version", "updated_at"]
    if labels is not None:
        annotation.clip_labels = labels
        fields.append("clip_labels")
    if segs is not None:
        _replace_segments(annotation, segs)
    if lead_time_s is not None:
        annotation.lead_time_s = lead_time_s
        fields.append("lead_time_s")
    if annotation.state == Annotation.State.SKIPPED:
        # Working on a skipped item again makes it a draft that takes a slot if there is one.
        annotation.state = Annotation.State.DRAFT
        fields.append("state")
    if annotation.state == Annotation.State.DRAFT:
        _take_lease(annotation, annotation.item)
        fields.append("lease_expires_at")
    annotation.version += 1
    annotation.save(update_fields=fields)
    return annotation


@transaction.atomic
def annotation_submit(*, annotation_id: int, user: User, version: int) -> Annotation:
    annotation = _locked_own(annotation_id, user)
    _check_version(annotation, version)
    if annotation.state == Annotation.State.SUBMITTED:
        return annotation
    missing = missing_required_groups(_schema_of(annotation.item), annotation.clip_labels)
    if missing:
        raise ValidationFailed(
            f"choose a label in {missing[0]!r} before submitting",
            fields={f"clip_labels.{name}": ["a label is required"] for name in missing},
        )
    assigned = selectors.is_assigned(item_id=annotation.item_id, user_id=user.pk)
    before = _holds_slot(annotation, assigned=assigned)
    annotation.state = Annotation.State.SUBMITTED
    annotation.submitted_at = timezone.now()
    annotation.lease_expires_at = None
    # A resubmission after a rejection goes back into the review queue.
    annotation.review_state = Annotation.ReviewState.PENDING
    annotation.version += 1
    annotation.save(
        update_fields=[
            "state",
            "submitted_at",
            "lease_expires_at",
            "review_state",
            "version",
            "updated_at",
        ]
    )
    _count_active(annotation.item_id, 1 - int(before))
    AudioItem.objects.filter(pk=annotation.item_id).update(
        submitted_annotations=F("submitted_annotations") + 1
    )
    if assigned:
        _complete_assignment(annotation.item_id, user.pk)
    enqueue_on_commit(TASK_TRAINING_MAYBE_START, annotation.item.project_id)
    enqueue_on_commit(TASK_AGREEMENT_REFRESH, annotation.item.project_id)
    return annotation


@transaction.atomic
def item_skip(*, item: AudioItem, user: User) -> Annotation:
    """Skip an item: it frees the person's slot and is not served to them again."""
    locked = _lock_item(item.pk)
    assigned = selectors.is_assigned(item_id=item.pk, user_id=user.pk)
    annotation = _lock_own_on(locked, user)
    if annotation is None:
        annotation = Annotation.objects.create(
            item=locked, annotator=user, state=Annotation.State.SKIPPED
        )
        _count_active(item.pk, -int(assigned))
    elif annotation.state == Annotation.State.SUBMITTED:
        raise Conflict(f"you already submitted item {item.pk}; it cannot be skipped")
    elif annotation.state == Annotation.State.DRAFT:
        before = _holds_slot(annotation, assigned=assigned)
        annotation.state = Annotation.State.SKIPPED
        annotation.lease_expires_at = None
        annotation.version += 1
        annotation.save(update_fields=["state", "lease_expires_at", "version", "updated_at"])
        _count_active(item.pk, -int(before))
    if assigned:
        _complete_assignment(item.pk, user.pk)
    return annotation


# --- assignment ------------------------------------------------------------------------------


@dataclass
class AssignmentOutcome:
    """What an assign or unassign request did, item ids by outcome."""

    user: User
    changed: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    already_done: list[int] = field(default_factory=list)


def _items_of_project(project: Project, item_ids: Sequence[int]) -> list[AudioItem]:
    """The items, locked in id order (the lock order of batch writes); a 400 naming every id
    that is not an item of the project, before anything is written."""
    if not item_ids:
        raise ValidationFailed("name at least one item", fields={"items": ["must not be empty"]})
    if len(item_ids) > MAX_ASSIGN_ITEMS:
        raise ValidationFailed(
            f"at most {MAX_ASSIGN_ITEMS} items per request",
            fields={"items": [f"at most {MAX_ASSIGN_ITEMS} items per request"]},
        )
    wanted = sorted(set(item_ids))
    items = list(
        AudioItem.objects.select_for_update(of=("self",))
        .filter(project=project, pk__in=wanted)
        .order_by("id")
    )
    found = {item.pk for item in items}
    bad = {
        f"items.{index}": [f"item {item_id} is not in project {project.pk}"]
        for index, item_id in enumerate(item_ids)
        if item_id not in found
    }
    if bad:
        raise ValidationFailed(
            f"{len(bad)} of the items are not in project {project.pk}", fields=bad
        )
    return items


def _own_annotations(user: User, item_ids: Iterable[int]) -> dict[int, Annotation]:
    rows = Annotation.objects.select_for_update().filter(
        annotator=user, item_id__in=list(item_ids), is_reference=False
    )
    return {a.item_id: a for a in rows}


def _apply_deltas(deltas: dict[int, int]) -> None:
    for delta in {d for d in deltas.values() if d}:
        ids = [item_id for item_id, d in deltas.items() if d == delta]
        AudioItem.objects.filter(pk__in=ids).update(
            active_annotations=F("active_annotations") + delta
        )


@transaction.atomic
def assignments_create(
    *, project: Project, user_ref: int | str, item_ids: Sequence[int], assigned_by: User
) -> AssignmentOutcome:
    """Assign items to a member: each reserves one of the item's slots for them and comes first
    in their queue. Items they already submitted or skipped are reported, not assigned; items
    already assigned to them are left as they are. Bad input changes nothing."""
    user = selectors.member_by_ref(project=project, ref=user_ref)
    items = _items_of_project(project, item_ids)
    existing = set(
        Assignment.objects.filter(user=user, item__in=items).values_list("item_id", flat=True)
    )
    own = _own_annotations(user, (i.pk for i in items))
    outcome = AssignmentOutcome(user=user)
    new: list[Assignment] = []
    deltas: dict[int, int] = {}
    for item in items:
        annotation = own.get(item.pk)
        if item.pk in existing:
            outcome.unchanged.append(item.pk)
        elif annotation is not None and annotation.state != Annotation.State.DRAFT:
            outcome.already_done.append(item.pk)
        else:
            new.append(Assignment(project=project, item=item, user=user, assigned_by=assigned_by))
            deltas[item.pk] = int(_holds_slot(annotation, assigned=True)) - int(
                _holds_slot(annotation, assigned=False)
            )
            outcome.changed.append(item.pk)
    Assignment.objects.bulk_create(new)
    _apply_deltas(deltas)
    return outcome


@transaction.atomic
def assignments_delete(
    *, project: Project, user_ref: int | str, item_ids: Sequence[int]
) -> AssignmentOutcome:
    """Unassign items from a member: the slots they reserved (and had not started) are free
    again. Their drafts, submissions and skips stay as they are."""
    user = selectors.member_by_ref(project=project, ref=user_ref)
    items = _items_of_project(project, item_ids)
    assigned = Assignment.objects.filter(user=user, item__in=items)
    existing = set(assigned.values_list("item_id", flat=True))
    own = _own_annotations(user, existing)
    outcome = AssignmentOutcome(user=user)
    deltas: dict[int, int] = {}
    for item in items:
        if item.pk not in existing:
            outcome.unchanged.append(item.pk)
            continue
        annotation = own.get(item.pk)
        deltas[item.pk] = int(_holds_slot(annotation, assigned=False)) - int(
            _holds_slot(annotation, assigned=True)
        )
        outcome.changed.append(item.pk)
    assigned.delete()
    _apply_deltas(deltas)
    return outcome


# --- review ----------------------------------------------------------------------------------


@transaction.atomic
def annotation_review(
    *,
    annotation_id: int,
    reviewer: User,
    role: str,
    verdict: str,
    comment: str = "",
    clip_labels: dict[str, Any] | None = None,
    segments: list[dict[str, Any]] | None = None,
) -> Review:
    """Review a submitted annotation.

    - accepted: final; it can no longer be edited;
    - rejected (``comment`` required): back to its annotator as a draft holding its slot, first
      in their queue; once resubmitted it is in the review queue again;
    - corrected: the reviewer's ``clip_labels``/``segments`` (each defaults to the reviewed
      annotation's) become the item's reference annotation, its reviewed truth (one per item;
      a later correction replaces it). A reference takes no slot and is never served.

    Only submitted, not yet reviewed annotations can be reviewed; reviewers may not review
    their own work, managers may.
    """
    if verdict not in Review.Verdict.values:
        raise ValidationFailed(
            f"unknown verdict {verdict!r}",
            fields={"verdict": [f"must be one of {Review.Verdict.values}"]},
        )
    item_id = Annotation.objects.filter(pk=annotation_id).values_list("item_id", flat=True).first()
    if item_id is None:
        raise NotFound(f"annotation {annotation_id} does not exist")
    item = _lock_item(item_id)
    annotation = Annotation.objects.select_for_update().get(pk=annotation_id)
    annotation.item = item
    if annotation.is_reference:
        raise Conflict(f"annotation {annotation_id} is a reviewer's correction, not reviewable")
    if annotation.annotator_id == reviewer.pk and role != Membership.Role.MANAGER:
        raise PermissionDeniedError("reviewers may not review their own annotations")
    if annotation.state != Annotation.State.SUBMITTED:
        raise Conflict(
            f"annotation {annotation_id} is a {annotation.state}; only submitted annotations "
            "can be reviewed",
            code="not_submitted",
        )
    if annotation.review_state != Annotation.ReviewState.PENDING:
        raise Conflict(
            f"annotation {annotation_id} was already reviewed ({annotation.review_state})",
            code="already_reviewed",
        )
    review = Review(annotation=annotation, reviewer=reviewer, verdict=verdict, comment=comment)
    if verdict == Review.Verdict.REJECTED:
        if not comment.strip():
            raise ValidationFailed(
                "say what to fix: a rejection needs a comment",
                fields={"comment": ["required when rejecting"]},
            )
        _return_to_annotator(annotation)
    elif verdict == Review.Verdict.CORRECTED:
        review.correction = _write_reference(
            annotation, reviewer, clip_labels=clip_labels, segments=segments
        )
        annotation.review_state = Annotation.ReviewState.CORRECTED
        annotation.save(update_fields=["review_state", "updated_at"])
    else:
        annotation.review_state = Annotation.ReviewState.ACCEPTED
        annotation.save(update_fields=["review_state", "updated_at"])
    review.save()
    # Agreement and reviewed-truth figures change with every verdict.
    enqueue_on_commit(TASK_AGREEMENT_REFRESH, item.project_id)
    return review


def _return_to_annotator(annotation: Annotation) -> None:
    # submitted -> leased draft: the person keeps their slot, so the counter does not move.
    annotation.state = Annotation.State.DRAFT
    annotation.review_state = Annotation.ReviewState.REJECTED
    annotation.submitted_at = None
    annotation.lease_expires_at = timezone.now() + RETURNED_LEASE_DURATION
    annotation.version += 1
    annotation.save(
        update_fields=[
            "state",
            "review_state",
            "submitted_at",
            "lease_expires_at",
            "version",
            "updated_at",
        ]
    )
    AudioItem.objects.filter(pk=annotation.item_id).update(
        submitted_annotations=F("submitted_annotations") - 1
    )
    Assignment.objects.filter(item_id=annotation.item_id, user_id=annotation.annotator_id).update(
        completed_at=None
    )


def _write_reference(
    reviewed: Annotation,
    reviewer: User,
    *,
    clip_labels: dict[str, Any] | None,
    segments: list[dict[str, Any]] | None,
) -> Annotation:
    item = reviewed.item
    if clip_labels is None:
        clip_labels = reviewed.clip_labels
    if segments is None:
        segments = [
            {
                "start_s": s.start_s,
                "end_s": s.end_s,
                "label": s.label,
                "low_hz": s.low_hz,
                "high_hz": s.high_hz,
                "text": s.text,
            }
            for s in reviewed.segments.all()
        ]
    labels, segs = _check_content(item, clip_labels, segments)
    missing = missing_required_groups(_schema_of(item), labels or {})
    if missing:
        raise ValidationFailed(
            f"choose a label in {missing[0]!r} for the correction",
            fields={f"clip_labels.{name}": ["a label is required"] for name in missing},
        )
    now = timezone.now()
    reference = Annotation.objects.select_for_update().filter(item=item, is_reference=True).first()
    if reference is None:
        reference = Annotation(item=item, is_reference=True, version=0)
    reference.annotator = reviewer
    reference.clip_labels = labels or {}
    reference.state = Annotation.State.SUBMITTED
    reference.review_state = Annotation.ReviewState.ACCEPTED
    reference.submitted_at = now
    reference.lease_expires_at = None
    reference.version += 1
    reference.save()
    _replace_segments(reference, segs or [])
    return reference

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.utils import timezone

from backend.annotations.models import Annotation, Segment
from backend.audio.models import AudioItem
from backend.projects.models import Membership, Project
from backend.users.models import User
from tests.factories import (
    AnnotationFactory,
    AudioItemFactory,
    MembershipFactory,
    UserFactory,
)

Submit = Callable[..., Annotation]


@pytest.fixture
def submit() -> Submit:
    """A submitted annotation written directly (the services' own tests cover the workflow)."""

    def make(
        item: AudioItem,
        annotator: User,
        clip_labels: dict[str, list[str]] | None = None,
        segments: Sequence[tuple[str, float, float]] = (),
        lead_time_s: float = 10.0,
        **extra: Any,
    ) -> Annotation:
        annotation = AnnotationFactory(
            item=item,
            annotator=annotator,
            state=Annotation.State.SUBMITTED,
            submitted_at=timezone.now(),
            clip_labels=clip_labels or {},
            lead_time_s=lead_time_s,
            **extra,
        )
        Segment.objects.bulk_create(
            Segment(annotation=annotation, label=label, start_s=start, end_s=end)
            for label, start, end in segments
        )
        AudioItem.objects.filter(pk=item.pk).update(
            submitted_annotations=Annotation.objects.filter(
                item=item, state=Annotation.State.SUBMITTED, is_reference=False
            ).count()
        )
        return annotation

    return make


@pytest.fixture
def team(project: Project) -> list[User]:
    """Three annotators of ``project``."""
    people = [UserFactory(username=f"ann{i}") for i in range(3)]
    for person in people:
        MembershipFactory(project=project, user=person, role=Membership.Role.ANNOTATOR)
    return people


@pytest.fixture
def items(project: Project) -> list[AudioItem]:
    return [AudioItemFactory(project=project, original_name=f"rec{i}.wav") for i in range(6)]

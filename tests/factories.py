"""factory_boy factories for the backend models (used by every backend test)."""

from __future__ import annotations

from typing import Any

import factory

from backend.annotations.models import Annotation, Segment
from backend.audio.models import AudioItem
from backend.projects.models import Membership, Project
from backend.users.models import User

DEMO_SCHEMA: dict[str, Any] = {
    "clip_groups": [
        {
            "name": "scene",
            "choice": "single",
            "labels": ["street", "park", "home"],
            "required": True,
        },
        {"name": "tags", "choice": "multi", "labels": ["speech", "music", "traffic"]},
    ],
    "segment_labels": [
        {"name": "dog", "color": "#e6194b", "hotkey": "1"},
        {"name": "bird", "color": "#3cb44b", "hotkey": "2"},
    ],
    "segments_overlap": True,
    "segment_frequency": True,
    "segment_text": True,
}


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("pw-secret-123")


class ProjectFactory(factory.django.DjangoModelFactory[Project]):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    label_schema = factory.LazyFunction(lambda: dict(DEMO_SCHEMA))
    annotations_per_item = 1


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.ANNOTATOR


class AudioItemFactory(factory.django.DjangoModelFactory[AudioItem]):
    """A ready item whose bytes are not stored: for tests of labels, queues and permissions."""

    class Meta:
        model = AudioItem

    project = factory.SubFactory(ProjectFactory)
    storage_key = factory.Sequence(lambda n: f"projects/test/audio/{n}.wav")
    original_name = factory.Sequence(lambda n: f"rec{n}.wav")
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    size_bytes = 32_000
    format = "wav"
    content_type = "audio/wav"
    duration_s = 10.0
    sample_rate_hz = 16_000
    channels = 1
    state = AudioItem.State.READY


class AnnotationFactory(factory.django.DjangoModelFactory[Annotation]):
    class Meta:
        model = Annotation

    item = factory.SubFactory(AudioItemFactory)
    annotator = factory.SubFactory(UserFactory)


class SegmentFactory(factory.django.DjangoModelFactory[Segment]):
    class Meta:
        model = Segment

    annotation = factory.SubFactory(AnnotationFactory)
    start_s = 1.0
    end_s = 2.0
    label = "dog"

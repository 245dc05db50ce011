"""The counts a training request is checked with: the same items and labels the worker's
request gets (``training_items`` / ``segment_training_items``), counted until there is enough."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backend.annotations.models import Annotation
from backend.audio.models import AudioItem
from backend.predictions.selectors import (
    segment_label_count,
    segment_training_items,
    training_items,
    training_label_count,
)
from backend.projects.models import Project
from backend.projects.schema import LabelSchema
from tests.factories import AnnotationFactory, AudioItemFactory, SegmentFactory, UserFactory

pytestmark = pytest.mark.django_db

SCHEMA = {
    "clip_groups": [{"name": "pitch", "choice": "single", "labels": ["low", "high", "mid"]}],
    "segment_labels": [{"name": "bird", "color": "#3cb44b"}, {"name": "dog", "color": "#e6194b"}],
}


def submit(item: AudioItem, user: object, clip: dict[str, list[str]]) -> Annotation:
    return AnnotationFactory(
        item=item, annotator=user, state=Annotation.State.SUBMITTED, clip_labels=clip
    )


@pytest.fixture
def labelled(project: Project) -> Project:
    """Ten ready items: votes that decide, a tie, an item without the group, a pending item."""
    project.label_schema = SCHEMA
    project.save()
    people = [UserFactory() for _ in range(3)]
    votes = [
        ["low", "low", "high"],  # low
        ["high"],  # high
        ["low", "high"],  # a tie: left out
        ["mid", "mid"],  # mid
        [],  # no annotation in the group
        ["low"],
        ["high", "high", "low"],
        ["low", "low"],
        ["mid"],
        ["high"],
    ]
    for n, chosen in enumerate(votes):
        item = AudioItemFactory(project=project, state=AudioItem.State.READY)
        for who, label in zip(people, chosen, strict=False):
            submit(item, who, {"pitch": [label]})
        if not chosen:
            submit(item, people[0], {})
        if n % 4 == 0:  # segments on every fourth item's latest annotation
            latest = Annotation.objects.filter(item=item).order_by("submitted_at", "id").last()
            SegmentFactory(annotation=latest, start_s=0.0, end_s=0.5, label="bird")
    pending = AudioItemFactory(project=project, state=AudioItem.State.PENDING)
    submit(pending, people[0], {"pitch": ["low"]})
    return project


def test_counts_agree_with_the_items_a_run_trains_on_when_all_are_counted(labelled):
    group = LabelSchema.parse(labelled.label_schema).clip_groups[0]
    items = training_items(project=labelled, group=group)
    count, labels = training_label_count(project=labelled, group=group, enough=10**6)
    assert count == len(items) == 8
    assert labels == {label for item in items for label in item.labels} == {"low", "high", "mid"}

    names = frozenset({"bird", "dog"})
    seg_items = segment_training_items(project=labelled, labels=names)
    seg_count, with_events = segment_label_count(project=labelled, labels=names, enough=10**6)
    assert seg_count == len(seg_items) == 10
    assert with_events == sum(1 for item in seg_items if item.segments) == 3


def test_counting_stops_once_there_is_enough(labelled):
    group = LabelSchema.parse(labelled.label_schema).clip_groups[0]
    count, labels = training_label_count(project=labelled, group=group, enough=2)
    assert (count, labels) == (2, {"low", "high"})  # the first two decided items
    # one label only among the first items: it reads on until a second label comes
    count, labels = training_label_count(project=labelled, group=group, enough=1)
    assert (count, labels) == (2, {"low", "high"})

    # a multiple choice needs no second label: every voted item counts, negatives too
    multi_schema = {
        **SCHEMA,
        "clip_groups": [{"name": "pitch", "choice": "multi", "labels": ["low"]}],
    }
    multi = LabelSchema.parse(multi_schema).clip_groups[0]
    assert training_label_count(project=labelled, group=multi, enough=2) == (2, {"low"})

    seg_count, with_events = segment_label_count(
        project=labelled, labels=frozenset({"bird"}), enough=4
    )
    assert (seg_count, with_events) == (4, 1)
    # "dog" is nowhere: every item is read, and the counts are complete
    assert segment_label_count(project=labelled, labels=frozenset({"dog"}), enough=4) == (10, 0)


def test_counting_reads_no_row_per_item(labelled):
    group = LabelSchema.parse(labelled.label_schema).clip_groups[0]
    with CaptureQueriesContext(connection) as queries:
        training_label_count(project=labelled, group=group, enough=10**6)
    assert len(queries) <= 2  # the annotations, read in chunks; nothing per item (10 here)
    with CaptureQueriesContext(connection) as queries:
        segment_label_count(project=labelled, labels=frozenset({"dog"}), enough=4)
    assert len(queries) <= 4  # annotations, then segments once at 4 items and once at the end

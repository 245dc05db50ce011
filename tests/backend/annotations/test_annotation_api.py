from __future__ import annotations

import pytest

from backend.annotations.models import Annotation
from backend.audio.models import AudioItem
from tests.factories import AnnotationFactory, AudioItemFactory, SegmentFactory

pytestmark = pytest.mark.django_db

GOOD = {
    "clip_labels": {"scene": ["park"], "tags": ["music", "speech"]},
    "segments": [
        {"start_s": 1.0, "end_s": 2.5, "label": "dog"},
        {
            "start_s": 2.0,
            "end_s": 3.0,
            "label": "bird",
            "low_hz": 500,
            "high_hz": 4000,
            "text": "tweet",
        },
    ],
}


@pytest.fixture
def item(project):
    return AudioItemFactory(project=project, duration_s=10.0, sample_rate_hz=16_000)


def test_annotator_creates_updates_and_submits_a_draft(client_for, annotator, item):
    client = client_for(annotator)
    # given a new draft with labels and segments
    created = client.post(f"/api/items/{item.pk}/annotations/", GOOD, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["state"] == "draft"
    assert body["version"] == 1
    # multi-choice labels are kept in schema order
    assert body["clip_labels"] == {"scene": ["park"], "tags": ["speech", "music"]}
    assert [s["label"] for s in body["segments"]] == ["dog", "bird"]
    # when the annotator edits it with the current version
    url = f"/api/annotations/{body['id']}/"
    updated = client.patch(
        url, {"version": 1, "segments": [{"start_s": 4, "end_s": 5, "label": "dog"}]}, format="json"
    )
    assert updated.status_code == 200, updated.json()
    assert updated.json()["version"] == 2
    assert len(updated.json()["segments"]) == 1
    # and submits it
    submitted = client.post(f"{url}submit/", {"version": 2}, format="json")
    assert submitted.status_code == 200
    assert submitted.json()["state"] == "submitted"
    item.refresh_from_db()
    assert item.submitted_annotations == 1
    assert item.active_annotations == 1


def test_starting_twice_returns_the_same_draft(client_for, annotator, item):
    client = client_for(annotator)
    first = client.post(f"/api/items/{item.pk}/annotations/", {}, format="json")
    second = client.post(f"/api/items/{item.pk}/annotations/", {}, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    item.refresh_from_db()
    assert item.active_annotations == 1


def test_a_stale_version_is_a_conflict_and_changes_nothing(client_for, annotator, item):
    annotation = AnnotationFactory(item=item, annotator=annotator, version=3)
    SegmentFactory(annotation=annotation, start_s=1, end_s=2, label="dog")
    response = client_for(annotator).patch(
        f"/api/annotations/{annotation.pk}/",
        {"version": 2, "segments": []},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stale_version"
    assert "version" in response.json()["error"]["fields"]
    assert annotation.segments.count() == 1


@pytest.mark.parametrize(
    ("segment", "field"),
    [
        ({"start_s": 1, "end_s": 2, "label": "cat"}, "segments.0.label"),
        ({"start_s": 3, "end_s": 2, "label": "dog"}, "segments.0.end_s"),
        ({"start_s": 2, "end_s": 2, "label": "dog"}, "segments.0.end_s"),
        ({"start_s": 9, "end_s": 11, "label": "dog"}, "segments.0.end_s"),
        ({"start_s": -1, "end_s": 1, "label": "dog"}, "segments.0.start_s"),
        (
            {"start_s": 1, "end_s": 2, "label": "dog", "low_hz": 10, "high_hz": 9000},
            "segments.0.high_hz",
        ),
        ({"start_s": 1, "end_s": 2, "label": "dog", "low_hz": 10}, "segments.0.high_hz"),
        ({"start_s": 1, "end_s": "soon", "label": "dog"}, "segments.0.end_s"),
    ],
)
def test_bad_segments_get_400_naming_the_field(client_for, annotator, item, segment, field):
    response = client_for(annotator).post(
        f"/api/items/{item.pk}/annotations/", {"segments": [segment]}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(
    ("clip_labels", "field"),
    [
        ({"mood": ["happy"]}, "clip_labels.mood"),
        ({"scene": ["beach"]}, "clip_labels.scene"),
        ({"scene": ["park", "street"]}, "clip_labels.scene"),
    ],
)
def test_bad_clip_labels_get_400_naming_the_field(client_for, annotator, item, clip_labels, field):
    response = client_for(annotator).post(
        f"/api/items/{item.pk}/annotations/", {"clip_labels": clip_labels}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_overlap_is_refused_when_the_schema_forbids_it(client_for, annotator, item):
    item.project.label_schema = {**item.project.label_schema, "segments_overlap": False}
    item.project.save()
    segments = [
        {"start_s": 1, "end_s": 3, "label": "dog"},
        {"start_s": 2, "end_s": 4, "label": "bird"},
    ]
    response = client_for(annotator).post(
        f"/api/items/{item.pk}/annotations/", {"segments": segments}, format="json"
    )
    assert response.status_code == 400
    assert "segments.1.start_s" in response.json()["error"]["fields"]


def test_submit_requires_the_required_groups(client_for, annotator, item):
    annotation = AnnotationFactory(item=item, annotator=annotator, clip_labels={})
    response = client_for(annotator).post(
        f"/api/annotations/{annotation.pk}/submit/", {"version": 1}, format="json"
    )
    assert response.status_code == 400
    assert "clip_labels.scene" in response.json()["error"]["fields"]
    annotation.refresh_from_db()
    assert annotation.state == "draft"


def test_annotators_see_only_their_own_annotations(client_for, member, item):
    me, other = member("annotator"), member("annotator")
    mine = AnnotationFactory(item=item, annotator=me)
    theirs = AnnotationFactory(item=item, annotator=other)
    client = client_for(me)
    listed = client.get(f"/api/items/{item.pk}/annotations/").json()["results"]
    assert [a["id"] for a in listed] == [mine.pk]
    in_project = client.get(f"/api/projects/{item.project_id}/annotations/").json()["results"]
    assert [a["id"] for a in in_project] == [mine.pk]
    assert client.get(f"/api/annotations/{theirs.pk}/").status_code == 404


def test_reviewers_see_everyones_annotations(client_for, member, item):
    reviewer = member("reviewer")
    a1 = AnnotationFactory(item=item, annotator=member("annotator"))
    a2 = AnnotationFactory(item=item, annotator=member("annotator"))
    listed = client_for(reviewer).get(f"/api/items/{item.pk}/annotations/").json()["results"]
    assert {a["id"] for a in listed} == {a1.pk, a2.pk}


def test_nobody_edits_someone_elses_annotation(client_for, member, item):
    owner, manager = member("annotator"), member("manager")
    annotation = AnnotationFactory(item=item, annotator=owner)
    response = client_for(manager).patch(
        f"/api/annotations/{annotation.pk}/", {"version": 1, "clip_labels": {}}, format="json"
    )
    assert response.status_code == 403


def test_outsiders_get_404_everywhere(client_for, outsider, annotator, item):
    annotation = AnnotationFactory(item=item, annotator=annotator)
    client = client_for(outsider)
    assert client.post(f"/api/items/{item.pk}/annotations/", {}, format="json").status_code == 404
    assert client.get(f"/api/items/{item.pk}/annotations/").status_code == 404
    assert client.get(f"/api/annotations/{annotation.pk}/").status_code == 404
    assert (
        client.post(f"/api/annotations/{annotation.pk}/submit/", {"version": 1}).status_code == 404
    )
    assert client.post(f"/api/items/{item.pk}/skip/").status_code == 404
    assert client.get(f"/api/projects/{item.project_id}/next-item/").status_code == 404
    assert client.get(f"/api/projects/{item.project_id}/annotations/").status_code == 404


def test_pending_items_cannot_be_annotated(client_for, annotator, project):
    pending = AudioItemFactory(project=project, state=AudioItem.State.PENDING)
    response = client_for(annotator).post(
        f"/api/items/{pending.pk}/annotations/", {}, format="json"
    )
    assert response.status_code == 409


def test_next_item_serves_my_draft_first_then_unlabelled_items(client_for, annotator, project):
    first, _second, third = (AudioItemFactory(project=project) for _ in range(3))
    client = client_for(annotator)
    assert client.get(f"/api/projects/{project.pk}/next-item/").json()["item"]["id"] == first.pk
    # a draft on the third item comes back first
    AnnotationFactory(item=third, annotator=annotator)
    body = client.get(f"/api/projects/{project.pk}/next-item/").json()
    assert body["item"]["id"] == third.pk
    assert body["annotation"]["state"] == "draft"


def test_next_item_skips_full_and_skipped_items(client_for, member, project):
    me, other = member("annotator"), member("annotator")
    full, skipped, free = (AudioItemFactory(project=project) for _ in range(3))
    client_for(other).post(f"/api/items/{full.pk}/annotations/", {}, format="json")
    assert client_for(me).post(f"/api/items/{skipped.pk}/skip/").status_code == 200
    body = client_for(me).get(f"/api/projects/{project.pk}/next-item/").json()
    assert body["item"]["id"] == free.pk


def test_next_item_is_empty_when_the_queue_is_done(client_for, annotator, project):
    item = AudioItemFactory(project=project)
    client_for(annotator).post(f"/api/items/{item.pk}/skip/")
    assert client_for(annotator).get(f"/api/projects/{project.pk}/next-item/").json() == {
        "item": None,
        "annotation": None,
    }


def test_random_queue_serves_every_item_eventually(client_for, annotator, project):
    project.queue_policy = "random"
    project.save()
    items = {AudioItemFactory(project=project).pk for _ in range(5)}
    seen = set()
    client = client_for(annotator)
    for _ in range(5):
        item_id = client.get(f"/api/projects/{project.pk}/next-item/").json()["item"]["id"]
        seen.add(item_id)
        client.post(f"/api/items/{item_id}/skip/")
    assert seen == items


def test_next_item_query_count_does_not_grow_with_items(
    client_for, annotator, project, django_assert_max_num_queries
):
    for _ in range(30):
        AudioItemFactory(project=project)
    client = client_for(annotator)
    # access (2), lease sweep, own drafts, assignments, the queue range read then locked (2),
    # insert + count, the answer (3), savepoints (4), and on Postgres the claim's
    # "commit without waiting for the disk" (1)
    with django_assert_max_num_queries(17):
        client.get(f"/api/projects/{project.pk}/next-item/")


def test_annotation_list_query_count_is_constant(
    client_for, member, project, django_assert_max_num_queries
):
    reviewer = member("reviewer")
    for _ in range(20):
        annotation = AnnotationFactory(item=AudioItemFactory(project=project))
        SegmentFactory(annotation=annotation)
    with django_assert_max_num_queries(6):
        response = client_for(reviewer).get(f"/api/projects/{project.pk}/annotations/")
    assert len(response.json()["results"]) == 20


def test_next_item_takes_the_lowest_open_id_across_fill_levels(client_for, member, project):
    # given three annotations wanted per item, items at every fill level, some of them mine
    project.annotations_per_item = 3
    project.save()
    me = member("annotator")
    full = AudioItemFactory(project=project, active_annotations=3)
    mine_once = AudioItemFactory(project=project, active_annotations=1)
    AnnotationFactory(item=mine_once, annotator=me, state="submitted")
    two_others = AudioItemFactory(project=project, active_annotations=2)
    empty = AudioItemFactory(project=project, active_annotations=0)
    client = client_for(me)
    # then the lowest id with a free slot that I have not done comes first, whatever its level
    assert (
        client.get(f"/api/projects/{project.pk}/next-item/").json()["item"]["id"] == two_others.pk
    )
    client.post(f"/api/items/{two_others.pk}/skip/")
    assert client.get(f"/api/projects/{project.pk}/next-item/").json()["item"]["id"] == empty.pk
    assert full.pk < mine_once.pk

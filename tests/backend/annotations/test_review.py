"""Review: the queue of submitted work, accept / reject / correct, and the compare view."""

from __future__ import annotations

import pytest
from django.utils import timezone

from backend.annotations.models import Annotation, Review
from backend.audio.models import AudioItem
from tests.factories import AnnotationFactory, AudioItemFactory, SegmentFactory

pytestmark = pytest.mark.django_db


def _submitted(item, annotator, **kwargs) -> Annotation:
    """A submitted annotation that holds its slot, as the services leave one."""
    annotation = AnnotationFactory(
        item=item,
        annotator=annotator,
        state="submitted",
        submitted_at=timezone.now(),
        clip_labels=kwargs.pop("clip_labels", {"scene": ["park"]}),
        **kwargs,
    )
    AudioItem.objects.filter(pk=item.pk).update(
        active_annotations=item.active_annotations + 1,
        submitted_annotations=item.submitted_annotations + 1,
    )
    item.refresh_from_db()
    return annotation


def _review(client, annotation, body):
    return client.post(f"/api/annotations/{annotation.pk}/review/", body, format="json")


@pytest.fixture
def item(project):
    return AudioItemFactory(project=project)


def test_the_review_queue_lists_unreviewed_submissions_oldest_first(
    client_for, member, project, item
):
    reviewer = member("reviewer")
    alice, bob = member("annotator"), member("annotator")
    first = _submitted(item, alice)
    AnnotationFactory(item=item, annotator=bob)  # a draft is not reviewable
    other_item = AudioItemFactory(project=project)
    second = _submitted(other_item, bob)
    reviewed = _submitted(AudioItemFactory(project=project), alice, review_state="accepted")
    response = client_for(reviewer).get(f"/api/projects/{project.pk}/review-queue/")
    assert response.status_code == 200
    ids = [a["id"] for a in response.json()["results"]]
    assert ids == [first.pk, second.pk]
    assert reviewed.pk not in ids


def test_the_review_queue_filters_by_annotator_and_label(client_for, member, project):
    reviewer = member("reviewer")
    alice, bob = member("annotator"), member("annotator")
    by_segment = _submitted(AudioItemFactory(project=project), alice)
    SegmentFactory(annotation=by_segment, label="bird")
    by_clip = _submitted(AudioItemFactory(project=project), bob, clip_labels={"scene": ["home"]})
    both = _submitted(
        AudioItemFactory(project=project), bob, clip_labels={"scene": ["street"], "tags": ["music"]}
    )
    url = f"/api/projects/{project.pk}/review-queue/"
    client = client_for(reviewer)

    def ids(params):
        return [a["id"] for a in client.get(url, params).json()["results"]]

    assert ids({"annotator": alice.pk}) == [by_segment.pk]
    assert ids({"annotator_username": bob.username}) == [by_clip.pk, both.pk]
    assert ids({"label": "bird"}) == [by_segment.pk]
    assert ids({"label": "home"}) == [by_clip.pk]
    assert ids({"label": "street"}) == [both.pk]
    assert ids({"label": "music"}) == [both.pk]
    # a group name is not a label
    assert ids({"label": "scene"}) == []


def test_reviewers_do_not_see_their_own_work_in_the_queue_managers_do(
    client_for, member, project, item
):
    reviewer, manager = member("reviewer"), member("manager")
    own = _submitted(item, reviewer)
    mine_as_manager = _submitted(AudioItemFactory(project=project), manager)
    url = f"/api/projects/{project.pk}/review-queue/"
    assert [a["id"] for a in client_for(reviewer).get(url).json()["results"]] == [
        mine_as_manager.pk
    ]
    assert [a["id"] for a in client_for(manager).get(url).json()["results"]] == [
        own.pk,
        mine_as_manager.pk,
    ]


def test_accepting_makes_the_annotation_final(client_for, member, item):
    reviewer, annotator = member("reviewer"), member("annotator")
    annotation = _submitted(item, annotator)
    response = _review(client_for(reviewer), annotation, {"verdict": "accepted"})
    assert response.status_code == 201, response.json()
    assert response.json()["annotation"]["review_state"] == "accepted"
    assert response.json()["review"]["reviewer_username"] == reviewer.username
    # final: the annotator can no longer change it, and it is out of the queue
    edit = client_for(annotator).patch(
        f"/api/annotations/{annotation.pk}/", {"version": 1, "clip_labels": {}}, format="json"
    )
    assert edit.status_code == 409
    queue = client_for(reviewer).get(f"/api/projects/{item.project_id}/review-queue/").json()
    assert queue["results"] == []


def test_rejecting_needs_a_comment_and_changes_nothing_without_one(client_for, member, item):
    reviewer, annotator = member("reviewer"), member("annotator")
    annotation = _submitted(item, annotator)
    for body in ({"verdict": "rejected"}, {"verdict": "rejected", "comment": "  "}):
        response = _review(client_for(reviewer), annotation, body)
        assert response.status_code == 400
        assert "comment" in response.json()["error"]["fields"]
    annotation.refresh_from_db()
    assert (annotation.state, annotation.review_state) == ("submitted", "pending")
    assert not Review.objects.exists()


def test_a_rejected_annotation_goes_back_to_its_annotator_first(client_for, member, project):
    reviewer, annotator = member("reviewer"), member("annotator")
    item = AudioItemFactory(project=project)
    annotation = _submitted(item, annotator)
    # the annotator is busy with another draft meanwhile
    client = client_for(annotator)
    AudioItemFactory(project=project)
    other = client.get(f"/api/projects/{project.pk}/next-item/").json()
    assert other["item"]["id"] != item.pk
    # when the reviewer rejects with a comment
    response = _review(
        client_for(reviewer), annotation, {"verdict": "rejected", "comment": "the dog is a bird"}
    )
    assert response.status_code == 201
    body = response.json()["annotation"]
    assert (body["state"], body["review_state"]) == ("draft", "rejected")
    # then it is the annotator's next item, with the comment
    served = client.get(f"/api/projects/{project.pk}/next-item/").json()
    assert served["item"]["id"] == item.pk
    assert served["annotation"]["reviews"][0]["comment"] == "the dog is a bird"
    # it keeps its slot, and counts as submitted no more
    item.refresh_from_db()
    assert (item.active_annotations, item.submitted_annotations) == (1, 0)
    # after fixing and resubmitting it is in the review queue again
    url = f"/api/annotations/{annotation.pk}/"
    version = served["annotation"]["version"]
    saved = client.patch(url, {"version": version, "clip_labels": {"scene": ["home"]}})
    resubmitted = client.post(f"{url}submit/", {"version": saved.json()["version"]})
    assert resubmitted.json()["review_state"] == "pending"
    queue = client_for(reviewer).get(f"/api/projects/{project.pk}/review-queue/").json()
    assert [a["id"] for a in queue["results"]] == [annotation.pk]
    item.refresh_from_db()
    assert (item.active_annotations, item.submitted_annotations) == (1, 1)


def test_a_correction_becomes_the_items_reference_without_taking_a_slot(
    client_for, member, project, item
):
    reviewer, annotator = member("reviewer"), member("annotator")
    annotation = _submitted(item, annotator)
    SegmentFactory(annotation=annotation, start_s=1, end_s=2, label="dog")
    response = _review(
        client_for(reviewer),
        annotation,
        {
            "verdict": "corrected",
            "comment": "it is a bird",
            "segments": [{"start_s": 1.1, "end_s": 2.0, "label": "bird"}],
        },
    )
    assert response.status_code == 201, response.json()
    correction = response.json()["correction"]
    assert correction["is_reference"] is True
    assert correction["annotator"] == reviewer.pk
    assert correction["state"] == "submitted"
    # clip labels the reviewer did not send are the reviewed annotation's
    assert correction["clip_labels"] == {"scene": ["park"]}
    assert [s["label"] for s in correction["segments"]] == ["bird"]
    assert response.json()["annotation"]["review_state"] == "corrected"
    assert response.json()["review"]["correction"] == correction["id"]
    # the reference is no slot: the item's counts are unchanged
    item.refresh_from_db()
    assert (item.active_annotations, item.submitted_annotations) == (1, 1)
    # the annotator does not see the reviewer's correction (blind until they are told)
    client = client_for(annotator)
    assert client.get(f"/api/annotations/{correction['id']}/").status_code == 404
    listed = client.get(f"/api/items/{item.pk}/annotations/").json()["results"]
    assert [a["id"] for a in listed] == [annotation.pk]
    # and the reviewer is not served the item to label: they have seen everyone's work
    project.annotations_per_item = 3
    project.save()
    assert client_for(reviewer).get(f"/api/projects/{project.pk}/next-item/").json()["item"] is None


def test_a_second_correction_replaces_the_reference(client_for, member, project, item):
    project.annotations_per_item = 2
    project.save()
    reviewer, manager = member("reviewer"), member("manager")
    a1, a2 = _submitted(item, member("annotator")), _submitted(item, member("annotator"))
    first = _review(
        client_for(reviewer), a1, {"verdict": "corrected", "clip_labels": {"scene": ["home"]}}
    ).json()["correction"]
    second = _review(
        client_for(manager), a2, {"verdict": "corrected", "clip_labels": {"scene": ["street"]}}
    ).json()["correction"]
    assert first["id"] == second["id"]
    reference = Annotation.objects.get(item=item, is_reference=True)
    assert reference.clip_labels == {"scene": ["street"]}
    assert reference.annotator == manager


def test_a_correction_is_validated_against_the_schema(client_for, member, item):
    reviewer = member("reviewer")
    annotation = _submitted(item, member("annotator"))
    response = _review(
        client_for(reviewer),
        annotation,
        {"verdict": "corrected", "segments": [{"start_s": 3, "end_s": 2, "label": "dog"}]},
    )
    assert response.status_code == 400
    assert "segments.0.end_s" in response.json()["error"]["fields"]
    missing = _review(client_for(reviewer), annotation, {"verdict": "corrected", "clip_labels": {}})
    assert missing.status_code == 400
    assert "clip_labels.scene" in missing.json()["error"]["fields"]
    assert not Annotation.objects.filter(is_reference=True).exists()
    annotation.refresh_from_db()
    assert annotation.review_state == "pending"


@pytest.mark.parametrize(
    ("state", "review_state", "code"),
    [
        ("draft", "pending", "not_submitted"),
        ("skipped", "pending", "not_submitted"),
        ("submitted", "accepted", "already_reviewed"),
        ("submitted", "corrected", "already_reviewed"),
    ],
)
def test_only_unreviewed_submissions_can_be_reviewed(
    client_for, member, item, state, review_state, code
):
    annotation = AnnotationFactory(
        item=item, annotator=member("annotator"), state=state, review_state=review_state
    )
    response = _review(client_for(member("reviewer")), annotation, {"verdict": "accepted"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == code


def test_a_reference_cannot_be_reviewed(client_for, member, item):
    reference = AnnotationFactory(
        item=item, annotator=member("reviewer"), state="submitted", is_reference=True
    )
    response = _review(client_for(member("manager")), reference, {"verdict": "accepted"})
    assert response.status_code == 409


def test_reviewers_may_not_review_their_own_work_managers_may(client_for, member, project):
    reviewer, manager = member("reviewer"), member("manager")
    own = _submitted(AudioItemFactory(project=project), reviewer)
    assert _review(client_for(reviewer), own, {"verdict": "accepted"}).status_code == 403
    managers_own = _submitted(AudioItemFactory(project=project), manager)
    assert _review(client_for(manager), managers_own, {"verdict": "accepted"}).status_code == 201


def test_annotators_cannot_review(client_for, member, project):
    annotator = member("annotator")
    own = _submitted(AudioItemFactory(project=project), annotator)
    others = _submitted(AudioItemFactory(project=project), member("annotator"))
    assert _review(client_for(annotator), own, {"verdict": "accepted"}).status_code == 403
    assert _review(client_for(annotator), others, {"verdict": "accepted"}).status_code == 404
    response = client_for(annotator).get(f"/api/projects/{project.pk}/review-queue/")
    assert response.status_code == 403


def test_an_unknown_verdict_is_a_400(client_for, member, item):
    annotation = _submitted(item, member("annotator"))
    response = _review(client_for(member("reviewer")), annotation, {"verdict": "maybe"})
    assert response.status_code == 400
    assert "verdict" in response.json()["error"]["fields"]


def test_compare_shows_every_annotation_of_the_item_to_reviewers(client_for, member, project):
    project.annotations_per_item = 3
    project.save()
    item = AudioItemFactory(project=project)
    reviewer = member("reviewer")
    alice, bob = member("annotator"), member("annotator")
    a = _submitted(item, alice)
    SegmentFactory(annotation=a, start_s=1, end_s=2, label="dog")
    b = AnnotationFactory(item=item, annotator=bob)
    SegmentFactory(annotation=b, start_s=1.5, end_s=2.5, label="bird")
    correction = _review(client_for(reviewer), a, {"verdict": "corrected"}).json()["correction"]
    response = client_for(reviewer).get(f"/api/items/{item.pk}/compare/")
    assert response.status_code == 200
    body = response.json()
    assert body["item"]["id"] == item.pk
    rows = body["annotations"]
    # the reviewed truth first, then everyone's work with names, states, segments, reviews
    assert [r["id"] for r in rows] == [correction["id"], a.pk, b.pk]
    assert rows[1]["annotator_username"] == alice.username
    assert rows[1]["reviews"][0]["verdict"] == "corrected"
    assert [s["label"] for s in rows[2]["segments"]] == ["bird"]
    assert rows[2]["state"] == "draft"


def test_compare_is_closed_to_annotators(client_for, annotator, item):
    assert client_for(annotator).get(f"/api/items/{item.pk}/compare/").status_code == 403


def test_compare_and_review_queue_query_counts_are_constant(
    client_for, member, project, django_assert_max_num_queries
):
    reviewer = member("reviewer")
    item = AudioItemFactory(project=project)
    for _ in range(10):
        annotation = _submitted(AudioItemFactory(project=project), member("annotator"))
        SegmentFactory(annotation=annotation)
        _submitted(item, member("annotator"))
    client = client_for(reviewer)
    with django_assert_max_num_queries(7):
        queue = client.get(f"/api/projects/{project.pk}/review-queue/")
    assert len(queue.json()["results"]) == 20
    with django_assert_max_num_queries(7):
        compare = client.get(f"/api/items/{item.pk}/compare/")
    assert len(compare.json()["annotations"]) == 10

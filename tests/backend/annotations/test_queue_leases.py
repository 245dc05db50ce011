"""The labelling queue: leases on slots, their renewal and expiry, and the queue order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backend.annotations.models import Annotation
from backend.annotations.services import (
    LEASE_DURATION,
    items_recount_slots,
    leases_release_expired,
    next_item_claim,
)
from backend.audio.models import AudioItem
from tests.factories import AnnotationFactory, AudioItemFactory, SegmentFactory

pytestmark = pytest.mark.django_db


def _next(client, project) -> dict:
    response = client.get(f"/api/projects/{project.pk}/next-item/")
    assert response.status_code == 200, response.json()
    return response.json()


def _expire(annotation_id: int) -> None:
    Annotation.objects.filter(pk=annotation_id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_next_item_holds_a_slot_with_a_lease(client_for, annotator, project):
    # given one item wanting one annotation
    item = AudioItemFactory(project=project)
    # when the annotator asks for their next item
    before = timezone.now()
    body = _next(client_for(annotator), project)
    # then it comes with their draft, holding the slot for the lease time
    assert body["item"]["id"] == item.pk
    assert body["annotation"]["state"] == "draft"
    annotation = Annotation.objects.get(pk=body["annotation"]["id"])
    assert annotation.annotator == annotator
    assert before + LEASE_DURATION <= annotation.lease_expires_at
    assert annotation.lease_expires_at <= timezone.now() + LEASE_DURATION
    item.refresh_from_db()
    assert item.active_annotations == 1


def test_asking_again_serves_the_same_item_without_taking_a_second_slot(
    client_for, annotator, project
):
    item = AudioItemFactory(project=project)
    AudioItemFactory(project=project)
    client = client_for(annotator)
    first, second = _next(client, project), _next(client, project)
    assert first["item"]["id"] == second["item"]["id"] == item.pk
    assert first["annotation"]["id"] == second["annotation"]["id"]
    # and opening the item the way the annotator page does keeps the same draft
    opened = client.post(f"/api/items/{item.pk}/annotations/", {}, format="json")
    assert opened.status_code == 200
    assert opened.json()["id"] == first["annotation"]["id"]
    item.refresh_from_db()
    assert item.active_annotations == 1


def test_a_held_slot_is_not_served_to_anyone_else(client_for, member, project):
    first, second = AudioItemFactory(project=project), AudioItemFactory(project=project)
    alice, bob = member("annotator"), member("annotator")
    assert _next(client_for(alice), project)["item"]["id"] == first.pk
    assert _next(client_for(bob), project)["item"]["id"] == second.pk
    # nothing left for a third person
    assert _next(client_for(member("annotator")), project) == {"item": None, "annotation": None}


def test_k_annotators_share_an_item_on_different_slots(client_for, member, project):
    project.annotations_per_item = 2
    project.save()
    first, second = AudioItemFactory(project=project), AudioItemFactory(project=project)
    served = [_next(client_for(member("annotator")), project)["item"]["id"] for _ in range(3)]
    assert served == [first.pk, first.pk, second.pk]
    first.refresh_from_db()
    assert first.active_annotations == 2
    assert Annotation.objects.filter(item=first).count() == 2


def test_an_expired_lease_frees_the_slot_for_someone_else(client_for, member, project):
    item = AudioItemFactory(project=project)
    alice, bob = member("annotator"), member("annotator")
    alice_draft = _next(client_for(alice), project)["annotation"]["id"]
    assert _next(client_for(bob), project)["item"] is None
    # when Alice's lease runs out
    _expire(alice_draft)
    # then Bob is served the item (the expired lease is released on the way)
    body = _next(client_for(bob), project)
    assert body["item"]["id"] == item.pk
    item.refresh_from_db()
    assert item.active_annotations == 1
    # Alice's empty draft no longer holds anything; when she comes back it is dropped (the
    # item is full) and she gets the rest of the queue: nothing
    assert Annotation.objects.get(pk=alice_draft).lease_expires_at is None
    assert _next(client_for(alice), project) == {"item": None, "annotation": None}
    assert not Annotation.objects.filter(pk=alice_draft).exists()


def test_work_on_an_expired_draft_is_kept_and_served_back_first(client_for, member, project):
    item = AudioItemFactory(project=project)
    other = AudioItemFactory(project=project)
    alice, bob = member("annotator"), member("annotator")
    draft_id = _next(client_for(alice), project)["annotation"]["id"]
    SegmentFactory(annotation_id=draft_id, start_s=1, end_s=2, label="dog")
    _expire(draft_id)
    assert _next(client_for(bob), project)["item"]["id"] == item.pk
    # Alice's draft has her work: she gets it back, without a slot, rather than losing it
    body = _next(client_for(alice), project)
    assert body["item"]["id"] == item.pk
    assert body["annotation"]["id"] == draft_id
    assert body["annotation"]["lease_expires_at"] is None
    other.refresh_from_db()
    assert other.active_annotations == 0


def test_a_save_renews_the_lease(client_for, annotator, project):
    AudioItemFactory(project=project)
    client = client_for(annotator)
    draft = _next(client, project)["annotation"]
    Annotation.objects.filter(pk=draft["id"]).update(
        lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    response = client.patch(
        f"/api/annotations/{draft['id']}/",
        {"version": draft["version"], "clip_labels": {"scene": ["park"]}},
        format="json",
    )
    assert response.status_code == 200
    renewed = Annotation.objects.get(pk=draft["id"]).lease_expires_at
    assert renewed > timezone.now() + LEASE_DURATION - timedelta(minutes=1)


def test_the_heartbeat_renews_the_lease(client_for, annotator, project):
    item = AudioItemFactory(project=project)
    client = client_for(annotator)
    draft = _next(client, project)["annotation"]
    Annotation.objects.filter(pk=draft["id"]).update(
        lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    response = client.post(f"/api/items/{item.pk}/lease/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["annotation"] == draft["id"]
    stored = Annotation.objects.get(pk=draft["id"])
    assert stored.lease_expires_at > timezone.now() + LEASE_DURATION - timedelta(minutes=1)
    assert body["expires_at"].replace("Z", "+00:00") == stored.lease_expires_at.isoformat()
    # a heartbeat changes no content: the version the client holds stays valid
    assert stored.version == draft["version"]


def test_the_heartbeat_takes_the_slot_again_when_there_is_room(client_for, annotator, project):
    item = AudioItemFactory(project=project)
    client = client_for(annotator)
    draft_id = _next(client, project)["annotation"]["id"]
    _expire(draft_id)
    assert leases_release_expired() == 1
    item.refresh_from_db()
    assert item.active_annotations == 0
    assert client.post(f"/api/items/{item.pk}/lease/").status_code == 200
    item.refresh_from_db()
    assert item.active_annotations == 1


def test_the_heartbeat_says_when_the_slot_is_gone(client_for, member, project):
    item = AudioItemFactory(project=project)
    alice, bob = member("annotator"), member("annotator")
    draft_id = _next(client_for(alice), project)["annotation"]["id"]
    _expire(draft_id)
    assert _next(client_for(bob), project)["item"]["id"] == item.pk
    response = client_for(alice).post(f"/api/items/{item.pk}/lease/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "lease_lost"
    item.refresh_from_db()
    assert item.active_annotations == 1


def test_the_heartbeat_without_a_draft_is_404_and_after_submit_409(client_for, annotator, project):
    item = AudioItemFactory(project=project)
    client = client_for(annotator)
    assert client.post(f"/api/items/{item.pk}/lease/").status_code == 404
    AnnotationFactory(item=item, annotator=annotator, state="submitted")
    response = client.post(f"/api/items/{item.pk}/lease/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_a_draft"


def test_submit_ends_the_lease_and_keeps_the_slot(client_for, annotator, project):
    item = AudioItemFactory(project=project)
    client = client_for(annotator)
    draft = _next(client, project)["annotation"]
    url = f"/api/annotations/{draft['id']}/"
    saved = client.patch(url, {"version": 1, "clip_labels": {"scene": ["home"]}}, format="json")
    submitted = client.post(f"{url}submit/", {"version": saved.json()["version"]}, format="json")
    assert submitted.status_code == 200
    assert submitted.json()["lease_expires_at"] is None
    item.refresh_from_db()
    assert (item.active_annotations, item.submitted_annotations) == (1, 1)
    # a submitted annotation never expires
    assert leases_release_expired(now=timezone.now() + timedelta(days=30)) == 0


def test_skip_frees_the_slot_and_the_item_is_never_served_again_to_me(client_for, member, project):
    item = AudioItemFactory(project=project)
    me, other = member("annotator"), member("annotator")
    client = client_for(me)
    assert _next(client, project)["item"]["id"] == item.pk
    assert client.post(f"/api/items/{item.pk}/skip/").status_code == 200
    item.refresh_from_db()
    assert item.active_annotations == 0
    assert _next(client, project)["item"] is None
    assert _next(client_for(other), project)["item"]["id"] == item.pk


def test_opening_a_full_item_directly_is_a_conflict(client_for, member, project):
    item = AudioItemFactory(project=project)
    _next(client_for(member("annotator")), project)
    response = client_for(member("annotator")).post(
        f"/api/items/{item.pk}/annotations/", {}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "item_full"


def test_the_sweep_releases_only_expired_leases(project, member):
    items = [AudioItemFactory(project=project) for _ in range(3)]
    claims = [next_item_claim(project=project, user=member("annotator")) for _ in items]
    assert all(c is not None for c in claims)
    _expire(claims[0].annotation.pk)
    assert leases_release_expired() == 1
    assert leases_release_expired() == 0
    counts = [AudioItem.objects.get(pk=i.pk).active_annotations for i in items]
    assert counts == [0, 1, 1]


def test_sequential_queue_is_in_id_order(client_for, member, project):
    items = [AudioItemFactory(project=project, queue_rank=r) for r in (3.0, 1.0, 2.0)]
    served = [_next(client_for(member("annotator")), project)["item"]["id"] for _ in items]
    assert served == [i.pk for i in items]


@pytest.mark.parametrize("policy", ["uncertainty", "diverse"])
def test_ranked_queues_follow_queue_rank_then_id(client_for, member, project, policy):
    project.queue_policy = policy
    project.annotations_per_item = 2
    project.save()
    c = AudioItemFactory(project=project, queue_rank=0.5)
    a = AudioItemFactory(project=project, queue_rank=0.1)
    b = AudioItemFactory(project=project, queue_rank=0.5)
    # an item already half done and one with an earlier rank but full
    AudioItemFactory(project=project, queue_rank=0.0, active_annotations=2)
    served = [_next(client_for(member("annotator")), project)["item"]["id"] for _ in range(6)]
    assert served == [a.pk, a.pk, c.pk, c.pk, b.pk, b.pk]


def test_blind_drafts_of_others_do_not_show_in_my_queue_answer(client_for, member, project):
    project.annotations_per_item = 2
    project.save()
    item = AudioItemFactory(project=project)
    alice, bob = member("annotator"), member("annotator")
    alice_draft = _next(client_for(alice), project)["annotation"]
    client_for(alice).patch(
        f"/api/annotations/{alice_draft['id']}/",
        {"version": 1, "segments": [{"start_s": 1, "end_s": 2, "label": "dog"}]},
        format="json",
    )
    body = _next(client_for(bob), project)
    assert body["item"]["id"] == item.pk
    # Bob gets his own empty draft, and nothing in the item tells him about Alice's
    assert body["annotation"]["annotator"] == bob.pk
    assert body["annotation"]["segments"] == []
    assert "active_annotations" not in body["item"]
    assert "submitted_annotations" not in body["item"]
    listed = client_for(bob).get(f"/api/items/{item.pk}/annotations/").json()["results"]
    assert [a["annotator"] for a in listed] == [bob.pk]


def test_recounting_from_rows_gives_what_the_services_keep(client_for, manager, member, project):
    # given items in every state the services leave them in
    project.annotations_per_item = 3
    project.save()
    items = [AudioItemFactory(project=project) for _ in range(4)]
    alice, bob, carol = member("annotator"), member("annotator"), member("annotator")
    client_for(manager).post(
        f"/api/projects/{project.pk}/assignments/",
        {"user": carol.pk, "items": [items[0].pk, items[1].pk, items[3].pk]},
        format="json",
    )
    for user in (alice, bob):
        _next(client_for(user), project)  # both on item 0 (carol reserved a slot of it)
    client_for(carol).post(f"/api/items/{items[1].pk}/skip/")
    expired = AnnotationFactory(item=items[2], annotator=alice, lease_expires_at=timezone.now())
    AnnotationFactory(item=items[2], annotator=bob, state="submitted")
    AnnotationFactory(item=items[2], annotator=manager, state="submitted", is_reference=True)
    # (as the services would have counted them: the leased draft and the submission)
    AudioItem.objects.filter(pk=items[2].pk).update(active_annotations=2, submitted_annotations=1)
    leases_release_expired()
    kept = list(AudioItem.objects.filter(project=project).order_by("id").values_list(
        "active_annotations", "submitted_annotations"
    ))  # fmt: skip
    # when the counters are recomputed from the rows
    AudioItem.objects.filter(project=project).update(active_annotations=9, submitted_annotations=9)
    items_recount_slots(item_ids=[i.pk for i in items])
    # then they are what the services kept
    recounted = list(AudioItem.objects.filter(project=project).order_by("id").values_list(
        "active_annotations", "submitted_annotations"
    ))  # fmt: skip
    assert recounted == kept == [(3, 0), (0, 0), (1, 1), (1, 0)]
    assert Annotation.objects.get(pk=expired.pk).lease_expires_at is None


def test_the_periodic_task_frees_every_expired_slot(client_for, member, project):
    from backend.annotations.tasks import leases_release_task

    project.annotations_per_item = 1
    project.save()
    items = [AudioItemFactory(project=project) for _ in range(3)]
    drafts = [_next(client_for(member("annotator")), project)["annotation"]["id"] for _ in items]
    for draft in drafts:  # nobody asks for a next item after they expire
        _expire(draft)
    assert leases_release_task() == 3
    assert [i.active_annotations for i in AudioItem.objects.filter(project=project)] == [0, 0, 0]
    assert leases_release_task() == 0

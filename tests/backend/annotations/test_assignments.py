"""Managers assign items to named people: the item is reserved for them and served to them first."""

from __future__ import annotations

import pytest

from backend.annotations.models import Annotation, Assignment
from backend.audio.models import AudioItem
from tests.factories import AnnotationFactory, AudioItemFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _url(project) -> str:
    return f"/api/projects/{project.pk}/assignments/"


def _active(item) -> int:
    return AudioItem.objects.get(pk=item.pk).active_annotations


def _next_id(client, project) -> int | None:
    item = client.get(f"/api/projects/{project.pk}/next-item/").json()["item"]
    return item["id"] if item else None


def test_assigned_items_are_served_first_to_the_assignee_and_reserved(
    client_for, manager, member, project
):
    # given three items and an assignment of the last two to Alice, by username
    first, second, third = (AudioItemFactory(project=project) for _ in range(3))
    alice, bob = member("annotator"), member("annotator")
    response = client_for(manager).post(
        _url(project), {"user": alice.username, "items": [third.pk, second.pk]}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["changed"] == [second.pk, third.pk]
    assert response.json()["user"] == alice.pk
    # then each holds one reserved slot of its K = 1
    assert [_active(i) for i in (first, second, third)] == [0, 1, 1]
    # Alice gets her assignments first, in the order they were made
    alice_client = client_for(alice)
    assert _next_id(alice_client, project) == second.pk
    item = AudioItem.objects.get(pk=second.pk)
    assert item.active_annotations == 1  # the draft uses the reserved slot, no second one
    # Bob is never served Alice's items
    assert _next_id(client_for(bob), project) == first.pk
    assert _next_id(client_for(member("annotator")), project) is None


def test_assignment_takes_a_user_id_and_is_idempotent(client_for, manager, annotator, project):
    item = AudioItemFactory(project=project)
    body = {"user": annotator.pk, "items": [item.pk]}
    assert client_for(manager).post(_url(project), body, format="json").status_code == 201
    again = client_for(manager).post(_url(project), body, format="json")
    assert again.status_code == 200
    assert again.json()["unchanged"] == [item.pk]
    assert Assignment.objects.count() == 1
    assert _active(item) == 1


def test_unassign_frees_the_reserved_slot(client_for, manager, member, project):
    item = AudioItemFactory(project=project)
    alice, bob = member("annotator"), member("annotator")
    body = {"user": alice.username, "items": [item.pk]}
    client_for(manager).post(_url(project), body, format="json")
    assert _next_id(client_for(bob), project) is None
    response = client_for(manager).delete(_url(project), body, format="json")
    assert response.status_code == 200
    assert response.json()["changed"] == [item.pk]
    assert _active(item) == 0
    assert not Assignment.objects.exists()
    assert _next_id(client_for(bob), project) == item.pk


def test_unassign_by_post_for_clients_without_a_delete_body(
    client_for, manager, annotator, project
):
    item = AudioItemFactory(project=project)
    body = {"user": annotator.pk, "items": [item.pk]}
    client_for(manager).post(_url(project), body, format="json")
    response = client_for(manager).post(f"{_url(project)}unassign/", body, format="json")
    assert response.status_code == 200
    assert _active(item) == 0


def test_unassigning_a_started_item_keeps_the_assignees_lease(
    client_for, manager, annotator, project
):
    item = AudioItemFactory(project=project)
    body = {"user": annotator.pk, "items": [item.pk]}
    client_for(manager).post(_url(project), body, format="json")
    assert _next_id(client_for(annotator), project) == item.pk
    client_for(manager).delete(_url(project), body, format="json")
    # the draft's lease still holds the one slot
    assert _active(item) == 1


def test_the_assignee_skipping_frees_the_slot_and_completes_the_assignment(
    client_for, manager, annotator, project
):
    item = AudioItemFactory(project=project)
    client_for(manager).post(_url(project), {"user": annotator.pk, "items": [item.pk]})
    assert client_for(annotator).post(f"/api/items/{item.pk}/skip/").status_code == 200
    assert _active(item) == 0
    assert Assignment.objects.get().completed_at is not None


def test_submitting_completes_the_assignment(client_for, manager, annotator, project):
    item = AudioItemFactory(project=project)
    client_for(manager).post(
        _url(project), {"user": annotator.pk, "items": [item.pk]}, format="json"
    )
    client = client_for(annotator)
    draft = client.get(f"/api/projects/{project.pk}/next-item/").json()["annotation"]
    url = f"/api/annotations/{draft['id']}/"
    saved = client.patch(url, {"version": 1, "clip_labels": {"scene": ["park"]}}, format="json")
    client.post(f"{url}submit/", {"version": saved.json()["version"]}, format="json")
    assert _active(item) == 1
    listed = client_for(manager).get(_url(project), {"completed": "true"}).json()["results"]
    assert [a["item"] for a in listed] == [item.pk]
    assert client_for(manager).get(_url(project), {"completed": "false"}).json()["results"] == []


def test_items_already_done_are_reported_not_assigned(client_for, manager, annotator, project):
    done, skipped, fresh = (AudioItemFactory(project=project) for _ in range(3))
    AnnotationFactory(item=done, annotator=annotator, state="submitted")
    AnnotationFactory(item=skipped, annotator=annotator, state="skipped")
    response = client_for(manager).post(
        _url(project),
        {"user": annotator.pk, "items": [done.pk, skipped.pk, fresh.pk]},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["already_done"] == [done.pk, skipped.pk]
    assert response.json()["changed"] == [fresh.pk]


@pytest.mark.parametrize("bad", ["other_project", "missing"])
def test_items_outside_the_project_are_a_400_and_nothing_is_written(
    client_for, manager, annotator, project, bad
):
    good = AudioItemFactory(project=project)
    bad_id = AudioItemFactory(project=ProjectFactory()).pk if bad == "other_project" else 999_999
    response = client_for(manager).post(
        _url(project), {"user": annotator.pk, "items": [good.pk, bad_id]}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"items.1"}
    assert not Assignment.objects.exists()
    assert _active(good) == 0


def test_a_user_who_is_not_a_member_is_a_400(client_for, manager, outsider, project):
    item = AudioItemFactory(project=project)
    for ref in (outsider.username, outsider.pk, "nobody"):
        response = client_for(manager).post(
            _url(project), {"user": ref, "items": [item.pk]}, format="json"
        )
        assert response.status_code == 400
        assert "user" in response.json()["error"]["fields"]
    assert not Assignment.objects.exists()


def test_an_empty_item_list_is_a_400(client_for, manager, annotator, project):
    response = client_for(manager).post(
        _url(project), {"user": annotator.pk, "items": []}, format="json"
    )
    assert response.status_code == 400
    assert "items" in response.json()["error"]["fields"]


def test_only_managers_assign(client_for, member, project):
    item = AudioItemFactory(project=project)
    annotator = member("annotator")
    for role in ("annotator", "reviewer"):
        response = client_for(member(role)).post(
            _url(project), {"user": annotator.pk, "items": [item.pk]}, format="json"
        )
        assert response.status_code == 403


def test_the_list_filters_and_annotators_see_their_own(client_for, manager, member, project):
    a, b = AudioItemFactory(project=project), AudioItemFactory(project=project)
    alice, bob = member("annotator"), member("annotator")
    client_for(manager).post(_url(project), {"user": alice.pk, "items": [a.pk]}, format="json")
    client_for(manager).post(_url(project), {"user": bob.pk, "items": [a.pk, b.pk]}, format="json")
    everyone = client_for(manager).get(_url(project)).json()["results"]
    assert len(everyone) == 3
    by_name = client_for(manager).get(_url(project), {"username": "nobody"}).json()["results"]
    assert by_name == []
    bobs = client_for(manager).get(_url(project), {"username": bob.username}).json()["results"]
    assert {x["item"] for x in bobs} == {a.pk, b.pk}
    assert (
        client_for(manager).get(_url(project), {"item": b.pk}).json()["results"][0]["username"]
        == bob.username
    )
    # Alice sees only her own assignment
    mine = client_for(alice).get(_url(project)).json()["results"]
    assert [(x["user"], x["item"]) for x in mine] == [(alice.pk, a.pk)]
    # assigning a K = 1 item to two people reserves two slots: managers decide
    assert _active(a) == 2


def test_assignment_list_query_count_is_constant(
    client_for, manager, annotator, project, django_assert_max_num_queries
):
    items = [AudioItemFactory(project=project) for _ in range(20)]
    client_for(manager).post(
        _url(project), {"user": annotator.pk, "items": [i.pk for i in items]}, format="json"
    )
    with django_assert_max_num_queries(4):
        response = client_for(manager).get(_url(project))
    assert len(response.json()["results"]) == 20
    assert Annotation.objects.count() == 0

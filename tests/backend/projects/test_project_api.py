from __future__ import annotations

import pytest

from backend.projects.models import Membership, Project
from tests.factories import DEMO_SCHEMA, UserFactory

pytestmark = pytest.mark.django_db


def test_create_project_makes_the_creator_its_manager(client_for):
    # given a signed-in user
    user = UserFactory()
    # when they create a project
    response = client_for(user).post(
        "/api/projects/",
        {"name": "Birds", "label_schema": DEMO_SCHEMA, "annotations_per_item": 3},
        format="json",
    )
    # then it exists with its schema and they manage it
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["my_role"] == "manager"
    assert body["label_schema"]["segment_labels"][0]["name"] == "dog"
    assert Membership.objects.get(project_id=body["id"], user=user).role == "manager"


def test_create_project_rejects_a_bad_schema_naming_the_field(client_for):
    user = UserFactory()
    schema = {"segment_labels": [{"name": "dog", "color": "red"}]}
    response = client_for(user).post(
        "/api/projects/", {"name": "X", "label_schema": schema}, format="json"
    )
    assert response.status_code == 400
    assert "label_schema.segment_labels.0.color" in response.json()["error"]["fields"]
    assert not Project.objects.exists()


def test_anonymous_requests_are_refused(api, project):
    assert api.get("/api/projects/").status_code == 401
    assert api.get(f"/api/projects/{project.pk}/").status_code == 401


def test_list_shows_only_my_projects(client_for, project, annotator):
    other = Project.objects.create(name="not mine")
    response = client_for(annotator).get("/api/projects/")
    assert response.status_code == 200
    ids = [p["id"] for p in response.json()["results"]]
    assert ids == [project.pk]
    assert other.pk not in ids


def test_non_member_gets_404_on_detail(client_for, project, outsider):
    response = client_for(outsider).get(f"/api/projects/{project.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
def test_only_managers_change_a_project(client_for, member, project, role):
    user = member(role)
    response = client_for(user).patch(f"/api/projects/{project.pk}/", {"name": "Hacked"})
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.name != "Hacked"


def test_manager_updates_and_deletes(client_for, project, manager):
    client = client_for(manager)
    response = client.patch(
        f"/api/projects/{project.pk}/", {"name": "Renamed", "queue_policy": "random"}
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["queue_policy"] == "random"
    assert client.delete(f"/api/projects/{project.pk}/").status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()


def test_manager_adds_changes_and_removes_members(client_for, project, manager):
    client = client_for(manager)
    newcomer = UserFactory()
    response = client.post(
        f"/api/projects/{project.pk}/members/",
        {"username": newcomer.username, "role": "annotator"},
    )
    assert response.status_code == 201
    url = f"/api/projects/{project.pk}/members/{newcomer.pk}/"
    assert client.patch(url, {"role": "reviewer"}).json()["role"] == "reviewer"
    listed = client.get(f"/api/projects/{project.pk}/members/").json()["results"]
    assert {m["username"] for m in listed} == {manager.username, newcomer.username}
    assert client.delete(url).status_code == 204
    assert not Membership.objects.filter(project=project, user=newcomer).exists()


def test_adding_an_unknown_user_names_the_field(client_for, project, manager):
    response = client_for(manager).post(
        f"/api/projects/{project.pk}/members/", {"username": "nobody", "role": "annotator"}
    )
    assert response.status_code == 400
    assert "username" in response.json()["error"]["fields"]


def test_the_last_manager_cannot_leave(client_for, project, manager):
    response = client_for(manager).delete(f"/api/projects/{project.pk}/members/{manager.pk}/")
    assert response.status_code == 409
    assert Membership.objects.filter(project=project, user=manager).exists()


def test_annotators_cannot_see_or_change_members(client_for, project, annotator):
    client = client_for(annotator)
    assert client.get(f"/api/projects/{project.pk}/members/").status_code == 403
    response = client.post(
        f"/api/projects/{project.pk}/members/", {"username": annotator.username, "role": "manager"}
    )
    assert response.status_code == 403
    assert Membership.objects.get(project=project, user=annotator).role == "annotator"


def test_members_endpoints_hide_the_project_from_outsiders(client_for, project, outsider):
    assert client_for(outsider).get(f"/api/projects/{project.pk}/members/").status_code == 404


def test_superusers_see_every_project_as_managers(client_for, project):
    admin = UserFactory(is_superuser=True)
    results = client_for(admin).get("/api/projects/").json()["results"]
    assert [(p["id"], p["my_role"]) for p in results] == [(project.pk, "manager")]

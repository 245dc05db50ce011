"""The server-rendered pages: access, the annotator's configuration, progress."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from backend.annotations.models import Annotation
from backend.audio.models import AudioItem
from backend.projects.models import Membership, Project
from backend.users.models import User
from tests.factories import AnnotationFactory, AudioItemFactory, ProjectFactory

pytestmark = pytest.mark.django_db

CONFIG_RE = re.compile(
    r'<script id="earmark-annotator-config" type="application/json">(.*?)</script>', re.S
)


def browser(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def annotator_config(html: str) -> dict[str, object]:
    match = CONFIG_RE.search(html)
    assert match, "the page has no json_script config for the annotator"
    config: dict[str, object] = json.loads(match.group(1))
    return config


@pytest.fixture
def item(project: Project) -> AudioItem:
    return AudioItemFactory(project=project)


@pytest.mark.parametrize("role", list(Membership.Role))
def test_project_annotate_page_renders_for_every_member_role(
    member: Callable[[str], User], project: Project, role: str
) -> None:
    user = member(role)
    response = browser(user).get(f"/projects/{project.pk}/annotate/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-earmark-annotator" in html
    assert annotator_config(html) == {
        "projectId": project.pk,
        "itemId": None,
        "username": user.username,
        "urls": {"project": f"/projects/{project.pk}/", "itemAnnotate": "/items/{id}/annotate/"},
    }


def test_item_annotate_page_names_the_item(annotator: User, item: AudioItem) -> None:
    response = browser(annotator).get(f"/items/{item.pk}/annotate/")
    assert response.status_code == 200
    config = annotator_config(response.content.decode())
    assert config["itemId"] == item.pk
    assert config["projectId"] == item.project_id
    assert config["username"] == annotator.username


def test_config_is_escaped_for_a_script_element(
    member: Callable[[str], User], project: Project
) -> None:
    user = member(Membership.Role.ANNOTATOR)
    user.username = "</script><b>x"
    user.save()
    html = browser(user).get(f"/projects/{project.pk}/annotate/").content.decode()
    assert "</script><b>x" not in html
    assert annotator_config(html)["username"] == "</script><b>x"


@pytest.mark.parametrize("path", ["/projects/{project}/annotate/", "/items/{item}/annotate/"])
def test_annotate_pages_are_404_for_outsiders(
    outsider: User, project: Project, item: AudioItem, path: str
) -> None:
    url = path.format(project=project.pk, item=item.pk)
    assert browser(outsider).get(url).status_code == 404


@pytest.mark.parametrize("path", ["/projects/999999/annotate/", "/items/999999/annotate/"])
def test_annotate_pages_are_404_for_missing_objects(annotator: User, path: str) -> None:
    assert browser(annotator).get(path).status_code == 404


@pytest.mark.parametrize("path", ["/projects/{project}/annotate/", "/items/{item}/annotate/"])
def test_annotate_pages_send_anonymous_people_to_log_in(
    project: Project, item: AudioItem, path: str
) -> None:
    url = path.format(project=project.pk, item=item.pk)
    response = browser(None).get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_superuser_may_annotate_any_project(item: AudioItem) -> None:
    admin = User.objects.create_superuser("root", "root@example.org", "pw-secret-123")
    assert browser(admin).get(f"/items/{item.pk}/annotate/").status_code == 200


def test_project_page_links_to_the_annotator(annotator: User, project: Project) -> None:
    html = browser(annotator).get(f"/projects/{project.pk}/").content.decode()
    assert f'href="/projects/{project.pk}/annotate/"' in html
    assert "Start labelling" in html


def test_projects_list_shows_my_progress(annotator: User, project: Project) -> None:
    items = [AudioItemFactory(project=project) for _ in range(3)]
    AnnotationFactory(item=items[0], annotator=annotator, state=Annotation.State.SUBMITTED)
    AnnotationFactory(item=items[1], annotator=annotator, state=Annotation.State.DRAFT)
    # Someone else's submission is not my progress.
    AnnotationFactory(item=items[2], state=Annotation.State.SUBMITTED)
    other = ProjectFactory()
    Membership.objects.create(project=other, user=annotator, role=Membership.Role.ANNOTATOR)

    html = browser(annotator).get("/").content.decode()

    rows = re.findall(r'data-testid="project-progress">(.*?)</td>', html, re.S)
    texts = [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in rows]
    by_project = dict(zip(re.findall(r'data-project-id="(\d+)"', html), texts, strict=True))
    assert by_project[str(project.pk)] == "1 submitted of 3 items"
    assert by_project[str(other.pk)] == "0 submitted of 0 items"
    assert f'href="/projects/{project.pk}/annotate/"' in html


def test_projects_list_progress_is_two_queries_whatever_the_count(
    annotator: User, project: Project, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    for _ in range(5):
        p = ProjectFactory()
        Membership.objects.create(project=p, user=annotator, role=Membership.Role.ANNOTATOR)
        AudioItemFactory(project=p)
    client = browser(annotator)
    client.get("/")  # warm the session
    # session + user + roles + projects + items counts + submitted counts
    with django_assert_max_num_queries(6):
        assert client.get("/").status_code == 200

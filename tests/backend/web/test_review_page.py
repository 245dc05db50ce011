"""The reviewers' page: who may open it, what it lists, filters, paging, accept and reject."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from backend.annotations.models import Annotation, Review
from backend.projects.models import Membership, Project
from backend.users.models import User
from tests.factories import (
    AnnotationFactory,
    AudioItemFactory,
    MembershipFactory,
    SegmentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _submitted(project: Project, who: User, labels: dict | None = None, **extra) -> Annotation:
    # The item's counters as the submit service leaves them (a rejection moves them back).
    return AnnotationFactory(
        item=AudioItemFactory(project=project, submitted_annotations=1, active_annotations=1),
        annotator=who,
        state=Annotation.State.SUBMITTED,
        submitted_at=timezone.now(),
        clip_labels=labels or {"scene": ["park"]},
        **extra,
    )


@pytest.fixture
def alice(project: Project) -> User:
    user = UserFactory(username="alice")
    MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
    return user


@pytest.fixture
def bob(project: Project) -> User:
    user = UserFactory(username="bob")
    MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
    return user


def _rows(html: str) -> int:
    return html.count('data-testid="review-row"')


def test_reviewer_sees_others_submitted_work_linked_to_the_compare_view(
    project, reviewer, alice, bob
):
    # given submitted work by alice and bob, a draft, an accepted one and the reviewer's own
    a = _submitted(project, alice)
    b = _submitted(project, bob, {"scene": ["street"]})
    SegmentFactory(annotation=b, label="dog")
    AnnotationFactory(item=AudioItemFactory(project=project), annotator=alice)  # a draft
    _submitted(project, bob, review_state=Annotation.ReviewState.ACCEPTED)
    _submitted(project, reviewer)
    # when the reviewer opens the review page
    response = _browser(reviewer).get(f"/projects/{project.pk}/review/")
    # then only the others' work awaiting review is listed, each linking to its compare view
    assert response.status_code == 200
    html = response.content.decode()
    assert _rows(html) == 2
    for annotation in (a, b):
        assert f'data-annotation-id="{annotation.pk}"' in html
        assert f'href="/items/{annotation.item_id}/annotate/?compare=1"' in html
    assert "scene: street" in html
    assert html.count('data-testid="review-accept"') == 2


def test_managers_also_see_their_own_work(project, manager, alice):
    _submitted(project, alice)
    _submitted(project, manager)
    assert _rows(_browser(manager).get(f"/projects/{project.pk}/review/").content.decode()) == 2


def test_review_page_is_for_reviewers_and_managers_only(project, annotator, outsider):
    url = f"/projects/{project.pk}/review/"
    assert _browser(annotator).get(url).status_code == 403
    assert _browser(outsider).get(url).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")


def test_filters_by_annotator_label_and_state(project, reviewer, alice, bob):
    a = _submitted(project, alice, {"scene": ["park"]})
    b = _submitted(project, bob, {"scene": ["street"]})
    dog = _submitted(project, bob, {"scene": ["park"]})
    SegmentFactory(annotation=dog, label="dog")
    accepted = _submitted(project, alice, review_state=Annotation.ReviewState.ACCEPTED)
    browser = _browser(reviewer)
    url = f"/projects/{project.pk}/review/"

    def ids(query: str) -> set[int]:
        html = browser.get(url + query).content.decode()
        return {x.pk for x in (a, b, dog, accepted) if f'data-annotation-id="{x.pk}"' in html}

    assert ids("?annotator_username=bob") == {b.pk, dog.pk}
    assert ids("?label=dog") == {dog.pk}
    assert ids("?label=street") == {b.pk}
    assert ids("?state=accepted") == {accepted.pk}
    # reviewed work has no buttons
    assert (
        'data-testid="review-accept"' not in browser.get(url + "?state=accepted").content.decode()
    )


def test_bad_filters_are_named_in_a_400(project, reviewer):
    browser = _browser(reviewer)
    response = browser.get(f"/projects/{project.pk}/review/?state=lost")
    assert response.status_code == 400
    assert "state must be one of pending, accepted, corrected, rejected, not &#x27;lost&#x27;" in (
        response.content.decode()
    )
    response = browser.get(f"/projects/{project.pk}/review/?after=x")
    assert response.status_code == 400
    assert "after must be an annotation id" in response.content.decode()


def test_pages_through_the_queue_by_id(project, reviewer, alice, django_assert_max_num_queries):
    # given 60 annotations awaiting review
    made = [_submitted(project, alice) for _ in range(60)]
    browser = _browser(reviewer)
    url = f"/projects/{project.pk}/review/"
    # when the first page is read, the query count does not grow with the rows
    with django_assert_max_num_queries(20):
        first = browser.get(url).content.decode()
    # then it has the oldest 50 and a link to the next page, which has the last 10
    assert _rows(first) == 50
    assert f'data-annotation-id="{made[49].pk}"' in first
    assert 'data-testid="review-older"' not in first
    newer = f"{url}?after={made[49].pk}"
    assert f'href="{newer}"' in first
    second = browser.get(newer).content.decode()
    assert _rows(second) == 10
    assert f'data-annotation-id="{made[50].pk}"' in second
    assert 'data-testid="review-newer"' not in second
    # and back: the 50 before the second page's first row
    assert f'href="{url}?before={made[50].pk}"' in second
    back = browser.get(f"{url}?before={made[50].pk}").content.decode()
    assert _rows(back) == 50
    assert f'data-annotation-id="{made[0].pk}"' in back


def test_accept_from_the_page_uses_the_review_service(project, reviewer, alice):
    a = _submitted(project, alice)
    response = _browser(reviewer).post(
        f"/projects/{project.pk}/review/{a.pk}/",
        {"verdict": "accepted", "next": f"/projects/{project.pk}/review/?annotator_username=alice"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/review/?annotator_username=alice"
    a.refresh_from_db()
    assert a.review_state == Annotation.ReviewState.ACCEPTED
    review = Review.objects.get(annotation=a)
    assert (review.verdict, review.reviewer) == ("accepted", reviewer)
    page = _browser(reviewer).get(response["Location"]).content.decode()
    assert _rows(page) == 0


def test_reject_needs_a_comment_and_sends_the_work_back(project, reviewer, alice):
    a = _submitted(project, alice)
    browser = _browser(reviewer)
    url = f"/projects/{project.pk}/review/{a.pk}/"
    # without a comment: nothing changes and the page says why
    page = browser.post(url, {"verdict": "rejected", "comment": " "}, follow=True)
    assert "a rejection needs a comment" in page.content.decode()
    a.refresh_from_db()
    assert a.review_state == Annotation.ReviewState.PENDING
    # with one: back with alice as a draft, the comment kept
    page = browser.post(url, {"verdict": "rejected", "comment": "the dog is a fox"}, follow=True)
    assert "rejected and sent back" in page.content.decode()
    a.refresh_from_db()
    assert (a.state, a.review_state) == ("draft", "rejected")
    assert Review.objects.get(annotation=a).comment == "the dog is a fox"
    # and the rejected list shows it with the comment
    listed = browser.get(f"/projects/{project.pk}/review/?state=rejected").content.decode()
    assert f'data-annotation-id="{a.pk}"' in listed
    assert "the dog is a fox" in listed


def test_verdicts_are_checked(project, reviewer, annotator, outsider, alice):
    a = _submitted(project, alice)
    url = f"/projects/{project.pk}/review/{a.pk}/"
    assert _browser(annotator).post(url, {"verdict": "accepted"}).status_code == 403
    assert _browser(outsider).post(url, {"verdict": "accepted"}).status_code == 404
    assert _browser(reviewer).get(url).status_code == 405
    # an unknown verdict, or a correction (the compare view's job), is refused with a message
    page = _browser(reviewer).post(url, {"verdict": "corrected"}, follow=True).content.decode()
    assert "verdict must be one of accepted, rejected" in page
    # an annotation of another project through this project's URL is not found
    elsewhere = _submitted(AudioItemFactory().project, alice)
    response = _browser(reviewer).post(
        f"/projects/{project.pk}/review/{elsewhere.pk}/", {"verdict": "accepted"}
    )
    assert response.status_code == 404
    # a reviewer's own work: the service refuses, the page says so
    mine = _submitted(project, reviewer)
    page = _browser(reviewer).post(
        f"/projects/{project.pk}/review/{mine.pk}/", {"verdict": "accepted"}, follow=True
    )
    assert "may not review their own" in page.content.decode()
    a.refresh_from_db()
    assert a.review_state == Annotation.ReviewState.PENDING
    # "next" pointing elsewhere is ignored
    response = _browser(reviewer).post(
        url, {"verdict": "accepted", "next": "https://evil.example/"}
    )
    assert response["Location"] == f"/projects/{project.pk}/review/"


def test_project_page_and_dashboard_link_reviewers_to_the_review_page(project, reviewer, annotator):
    link = f'href="/projects/{project.pk}/review/"'
    assert link in _browser(reviewer).get(f"/projects/{project.pk}/").content.decode()
    assert link not in _browser(annotator).get(f"/projects/{project.pk}/").content.decode()
    assert link in _browser(reviewer).get(f"/projects/{project.pk}/dashboard/").content.decode()

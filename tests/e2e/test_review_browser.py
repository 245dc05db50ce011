"""The review page in real Chromium: a reviewer opens it from the project page, follows an item
to the compare view, accepts the annotation there, and finds it gone from the queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from backend.annotations.models import Annotation, Review
from backend.annotations.services import annotation_start, annotation_submit
from backend.audio.models import AudioItem
from backend.audio.services import IngestSource, items_ingest
from backend.projects.models import Membership, Project
from backend.projects.services import project_create
from tests.audio_gen import write_tone
from tests.e2e.browsing import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMA = {
    "clip_groups": [
        {"name": "scene", "choice": "single", "labels": ["street", "park"], "required": True},
    ],
    "segment_labels": [{"name": "dog", "color": "#e6194b", "hotkey": "1"}],
}


def _submitted_work(tmp_path: Path) -> tuple[Project, AudioItem, dict[str, Annotation]]:
    """One 10 s item that alice and bob labelled and submitted; rita reviews."""
    manager = UserFactory()
    project = project_create(name="Dogs", created_by=manager, label_schema=SCHEMA)
    project.annotations_per_item = 2
    project.save(update_fields=["annotations_per_item"])
    source = IngestSource(
        name="dogs.flac",
        path=write_tone(tmp_path / "dogs.flac", duration_s=10.0, seed=5, fmt="flac"),
    )
    items_ingest(project=project, sources=[source], uploaded_by=manager)
    item = AudioItem.objects.get(project=project)
    assert item.state == AudioItem.State.READY
    work = {}
    for name, scene in (("alice", "park"), ("bob", "street")):
        user = UserFactory(username=name)
        Membership.objects.create(project=project, user=user, role="annotator")
        draft, _ = annotation_start(
            item=item,
            annotator=user,
            clip_labels={"scene": [scene]},
            segments=[{"start_s": 1.0, "end_s": 2.0, "label": "dog"}],
        )
        work[name] = annotation_submit(annotation_id=draft.pk, user=user, version=draft.version)
    Membership.objects.create(project=project, user=UserFactory(username="rita"), role="reviewer")
    return project, item, work


def test_a_reviewer_goes_from_the_review_page_to_the_compare_view_and_accepts(page, tmp_path):
    project, item, work = _submitted_work(tmp_path)
    log_in(page, "rita")

    # the project page links to the review page, which lists both submissions
    page.goto(f"/projects/{project.pk}/")
    page.get_by_test_id("open-review-queue").click()
    expect(page).to_have_url(f"/projects/{project.pk}/review/")
    rows = page.get_by_test_id("review-row")
    expect(rows).to_have_count(2)
    alice_row = page.locator(f"[data-testid=review-row][data-annotation-id='{work['alice'].pk}']")
    expect(alice_row).to_contain_text("alice")
    expect(alice_row).to_contain_text("scene: park")

    # following the item opens the compare view with both annotations as lanes
    alice_row.get_by_test_id("review-compare-link").click()
    expect(page).to_have_url(f"/items/{item.pk}/annotate/?compare=1")
    expect(page.get_by_test_id("compare")).to_have_attribute("data-state", "ready", timeout=20_000)
    expect(page.get_by_test_id("compare-lane")).to_have_count(2)
    card = page.locator(f"[data-testid=compare-card][data-annotation-id='{work['alice'].pk}']")
    card.get_by_test_id("review-accept").click()
    expect(card).to_have_attribute("data-review-state", "accepted", timeout=10_000)

    # back on the review page only bob's submission is still waiting; alice's is accepted
    page.goto(f"/projects/{project.pk}/review/")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-annotation-id", str(work["bob"].pk))
    page.get_by_test_id("filter-state").select_option("accepted")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-annotation-id", str(work["alice"].pk))
    expect(rows.first.get_by_test_id("review-state")).to_contain_text("accepted by rita")
    review = Review.objects.get(annotation=work["alice"])
    assert (review.verdict, review.reviewer.username) == ("accepted", "rita")


def test_a_reviewer_rejects_with_a_comment_from_the_review_page(page, tmp_path):
    project, _, work = _submitted_work(tmp_path)
    log_in(page, "rita")
    page.goto(f"/projects/{project.pk}/review/")
    bob_row = page.locator(f"[data-testid=review-row][data-annotation-id='{work['bob'].pk}']")
    bob_row.get_by_test_id("review-reject-open").click()
    bob_row.get_by_test_id("review-comment").fill("it is a park, listen at 4 s")
    bob_row.get_by_test_id("review-reject").click()
    expect(page.get_by_test_id("flash-success")).to_contain_text("rejected and sent back")
    expect(page.get_by_test_id("review-row")).to_have_count(1)
    work["bob"].refresh_from_db()
    assert (work["bob"].state, work["bob"].review_state) == ("draft", "rejected")

"""The manager's dashboard in real Chromium: a generated project with known disagreements shows
the agreement figures an independent implementation computes for the same labels."""

from __future__ import annotations

from datetime import timedelta

import krippendorff
import numpy as np
import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from backend.agreement.services import agreement_refresh
from backend.annotations.models import Annotation, Segment
from backend.audio.models import AudioItem
from backend.config.env import REPO_ROOT
from backend.projects.models import Membership
from tests.e2e.browsing import SCREENSHOTS, log_in
from tests.factories import AudioItemFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCENES = ["street", "park", "home"]
PEOPLE = ["alice", "bob", "carol", "dave"]
ITEMS = 24


def _scene(item: int, person: int) -> int:
    """Alice and Bob agree everywhere; Carol misses every 4th item; Dave every 2nd."""
    truth = item % 3
    if person == 2 and item % 4 == 0:
        return (truth + 1) % 3
    if person == 3 and item % 2 == 1:
        return (truth + 2) % 3
    return truth


@pytest.fixture
def page(browser: Browser, live_server) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 1800},
                                  base_url=live_server.url)  # fmt: skip
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def generated():
    manager = UserFactory(username="manager")
    project = ProjectFactory(name="Street sounds", annotations_per_item=3)
    Membership.objects.create(project=project, user=manager, role=Membership.Role.MANAGER)
    people = [UserFactory(username=name) for name in PEOPLE]
    for person in people:
        Membership.objects.create(project=project, user=person, role=Membership.Role.ANNOTATOR)
    items = [AudioItemFactory(project=project, original_name=f"street-{i:02d}.flac")
             for i in range(ITEMS + 4)]  # fmt: skip
    now = timezone.now()
    matrix = np.full((len(PEOPLE), ITEMS), np.nan)
    for i, item in enumerate(items[:ITEMS]):
        # three of the four people per item, rotating, so pairs share different items
        for p in [(i + k) % 4 for k in range(3)]:
            matrix[p, i] = _scene(i, p)
            annotation = Annotation.objects.create(
                item=item, annotator=people[p], state=Annotation.State.SUBMITTED,
                submitted_at=now - timedelta(days=(i * 7 + p) % 20), lead_time_s=20.0 + 5 * p,
                clip_labels={"scene": [SCENES[_scene(i, p)]], "tags": []},
            )  # fmt: skip
            # everyone marks the dog at 1-2 s; Dave is late by half a second on odd items
            late = 0.5 if p == 3 and i % 2 else 0.0
            Segment.objects.create(annotation=annotation, label="dog", start_s=1.0 + late,
                                   end_s=2.0 + late)  # fmt: skip
        AudioItem.objects.filter(pk=item.pk).update(submitted_annotations=3)
    agreement_refresh(project_id=project.pk)
    return project, manager, matrix


def test_manager_sees_the_expected_agreement_figures(page, generated):
    project, manager, matrix = generated
    expected_alpha = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    # a manager opens the project and follows the dashboard link
    log_in(page, manager.username)
    page.goto(f"/projects/{project.pk}/")
    page.get_by_test_id("open-dashboard").click()
    expect(page.get_by_test_id("dashboard")).to_be_visible()
    # the agreement table shows the scene group's alpha as the reference computes it
    scene = page.locator("[data-testid=agreement-row][data-group=scene]")
    expect(scene.get_by_test_id("alpha")).to_have_text(f"{expected_alpha:.3f}")
    expect(scene).to_contain_text("unreliable" if expected_alpha < 0.667 else "tentative")
    # segments: Dave's late dogs miss the 0.2 s onset collar (2 of the 3 pairs on those items)
    late = sum(1 for i in range(ITEMS) if i % 2 and 3 in [(i + k) % 4 for k in range(3)])
    expected_f1 = 1 - 2 * late / (3 * ITEMS)
    expect(page.get_by_test_id("segment-f1")).to_have_text(f"F1 {expected_f1:.3f}")
    # four annotators: a 4 x 4 heatmap, and Alice and Bob agree perfectly
    expect(page.get_by_test_id("heat-cell")).to_have_count(16)
    expect(
        page.locator("[data-testid=heatmap] title", has_text="alice and bob: 1.000")
    ).to_have_count(1)
    expect(page.get_by_test_id("annotator-row")).to_have_count(4)
    alice = page.locator("[data-testid=annotator-row][data-username=alice]")
    expect(alice.get_by_test_id("kappa-vs-others")).not_to_have_text("\u2013")
    # progress: 24 of 28 items done
    expect(page.get_by_test_id("items-done")).to_have_text("24")
    # disputed items link to the compare view of an item where Dave and Carol both differ
    first = page.get_by_test_id("disputed-row").first
    expect(first.get_by_test_id("compare-link")).to_have_attribute(
        "href", f"/items/{first.get_attribute('data-item')}/annotate/?compare=1"
    )
    if SCREENSHOTS:
        page.screenshot(path=str(REPO_ROOT / "docs/screenshots/dashboard.png"), full_page=True)

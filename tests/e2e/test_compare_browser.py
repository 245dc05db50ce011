"""The reviewers' compare view in real Chromium: two annotators' work on one item as two lanes
on the same waveform, and a review verdict stored from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from backend.annotations.models import Annotation, Review
from backend.annotations.services import annotation_start, annotation_submit
from backend.audio.models import AudioItem
from backend.audio.services import IngestSource, items_ingest
from backend.config.env import REPO_ROOT
from backend.projects.models import Membership, Project
from backend.projects.services import project_create
from tests.audio_gen import write_tone
from tests.e2e.browsing import SCREENSHOTS, log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMA = {
    "clip_groups": [
        {"name": "scene", "choice": "single", "labels": ["street", "park"], "required": True},
    ],
    "segment_labels": [
        {"name": "dog", "color": "#e6194b", "hotkey": "1"},
        {"name": "bird", "color": "#3cb44b", "hotkey": "2"},
    ],
}


def _two_annotations(tmp_path: Path) -> tuple[Project, AudioItem, dict[str, Annotation]]:
    """One 20 s item that alice and bob both labelled and submitted, and a reviewer, rita."""
    manager = UserFactory()
    project = project_create(name="Street sounds", created_by=manager, label_schema=SCHEMA)
    project.annotations_per_item = 2
    project.save(update_fields=["annotations_per_item"])
    source = IngestSource(
        name="street.flac",
        path=write_tone(tmp_path / "street.flac", duration_s=20.0, seed=3, fmt="flac"),
    )
    items_ingest(project=project, sources=[source], uploaded_by=manager)
    item = AudioItem.objects.get(project=project)
    assert item.state == AudioItem.State.READY
    work = {
        "alice": (["street"], [(1.0, 3.0, "dog"), (8.0, 9.5, "bird")]),
        "bob": (["park"], [(1.2, 3.1, "dog"), (12.0, 13.0, "bird"), (15.0, 16.0, "dog")]),
    }
    annotations = {}
    for name, (scene, segments) in work.items():
        user = UserFactory(username=name)
        Membership.objects.create(project=project, user=user, role="annotator")
        draft, _ = annotation_start(
            item=item,
            annotator=user,
            clip_labels={"scene": scene},
            segments=[{"start_s": s, "end_s": e, "label": label} for s, e, label in segments],
        )
        annotations[name] = annotation_submit(
            annotation_id=draft.pk, user=user, version=draft.version
        )
    Membership.objects.create(project=project, user=UserFactory(username="rita"), role="reviewer")
    return project, item, annotations


def test_a_reviewer_compares_two_annotations_as_lanes_and_accepts_one(page, tmp_path):
    _, item, annotations = _two_annotations(tmp_path)
    log_in(page, "rita")
    page.goto(f"/items/{item.pk}/annotate/?compare=1")
    expect(page.get_by_test_id("compare")).to_have_attribute("data-state", "ready", timeout=20_000)

    # one lane per annotator, each with that person's segments, on the one waveform
    lanes = page.get_by_test_id("compare-lane")
    expect(lanes).to_have_count(2)
    expect(page.get_by_test_id("compare-lane-name")).to_have_text(["alice", "bob"])
    expect(lanes.nth(0).get_by_test_id("compare-segment")).to_have_count(2)
    expect(lanes.nth(1).get_by_test_id("compare-segment")).to_have_count(3)
    colours = [
        lanes.nth(i)
        .get_by_test_id("compare-segment")
        .first.evaluate("el => getComputedStyle(el).backgroundColor")
        for i in range(2)
    ]
    assert colours[0] != colours[1]
    # the lanes line up with the waveform: alice's dog at 1-3 s of 20 s
    waveform = page.get_by_test_id("waveform").bounding_box()
    box = lanes.nth(0).get_by_test_id("compare-segment").first.bounding_box()
    assert waveform
    assert box
    assert abs(box["x"] - (waveform["x"] + waveform["width"] * 1.0 / 20.0)) < 4
    assert abs(box["width"] - waveform["width"] * 2.0 / 20.0) < 4
    alice_card = page.locator(
        f"[data-testid=compare-card][data-annotation-id='{annotations['alice'].pk}']"
    )
    expect(alice_card.get_by_test_id("compare-clip-labels")).to_contain_text("street")
    # the spectrogram under the waveform: 20 s at ~67 px/s is five 4-second tiles
    expect(page.get_by_test_id("spectrogram-tile")).to_have_count(5, timeout=20_000)
    if SCREENSHOTS:
        page.screenshot(path=str(REPO_ROOT / "docs/screenshots/compare.png"))

    alice_card.get_by_test_id("review-accept").click()
    expect(alice_card).to_have_attribute("data-review-state", "accepted", timeout=10_000)
    expect(alice_card.get_by_test_id("compare-review")).to_contain_text("accepted by rita")
    expect(alice_card.get_by_test_id("review-accept")).to_have_count(0)

    review = Review.objects.get(annotation=annotations["alice"])
    assert review.verdict == "accepted"
    assert review.reviewer.username == "rita"
    annotations["alice"].refresh_from_db()
    annotations["bob"].refresh_from_db()
    assert annotations["alice"].review_state == "accepted"
    assert annotations["bob"].review_state == "pending"


def test_an_annotator_cannot_open_the_compare_view(page, tmp_path):
    _, item, _ = _two_annotations(tmp_path)
    log_in(page, "alice")
    page.goto(f"/items/{item.pk}/annotate/?compare=1")
    expect(page.get_by_test_id("compare")).to_have_attribute("data-state", "error", timeout=20_000)
    expect(page.get_by_test_id("compare-error")).to_contain_text("Only reviewers and managers")
    expect(page.get_by_test_id("compare-lane")).to_have_count(0)

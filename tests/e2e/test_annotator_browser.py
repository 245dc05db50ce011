"""The annotator in real Chromium: keyboard-only labelling, drafts that survive a reload,
conflicts that are shown, and a long recording that opens and scrolls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import Page, expect

from backend.annotations.models import Annotation
from backend.annotations.services import annotation_update
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


def _project_with_items(tmp_path: Path, *recordings: tuple[str, float]) -> tuple[Project, object]:
    manager = UserFactory()
    project = project_create(name="Street sounds", created_by=manager, label_schema=SCHEMA)
    annotator = UserFactory(username="ann")
    Membership.objects.create(project=project, user=annotator, role="annotator")
    sources = [
        IngestSource(name=name, path=write_tone(tmp_path / name, duration_s=duration_s, seed=i,
                                                fmt="flac"))
        for i, (name, duration_s) in enumerate(recordings)
    ]  # fmt: skip
    # unit-test settings run the worker's job eagerly once each file's row commits
    items_ingest(project=project, sources=sources, uploaded_by=manager)
    return project, annotator


def _open_annotator(page: Page, project: Project) -> None:
    page.goto(f"/projects/{project.pk}/")
    page.get_by_test_id("start-labelling").click()
    expect(page.get_by_test_id("annotator")).to_have_attribute(
        "data-state", "ready", timeout=20_000
    )


def _seek_to(page: Page, seconds: int) -> None:
    page.keyboard.press("Home")
    for _ in range(seconds):
        page.keyboard.press("ArrowRight")


def test_keyboard_only_labelling_survives_reload_and_is_stored_exactly(page, tmp_path):
    project, annotator = _project_with_items(tmp_path, ("first.flac", 12.0), ("second.flac", 8.0))
    log_in(page, annotator.username)
    _open_annotator(page, project)
    # the page holds the queue's lease on the item (renewed every minute while it is open)
    expect(page.get_by_test_id("annotator-session")).to_have_attribute(
        "data-lease", "held", timeout=10_000
    )
    page.get_by_test_id("waveform").click(position={"x": 5, "y": 5})

    # two segments from the keyboard: 2-3 s as "dog", 5-7 s relabelled to "bird"
    _seek_to(page, 2)
    page.keyboard.press("BracketLeft")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("BracketRight")
    _seek_to(page, 5)
    page.keyboard.press("BracketLeft")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("BracketRight")
    page.keyboard.press("2")
    # a clip label from the keyboard: the clip label panel, second option, Space
    page.keyboard.press("c")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("segment-row")).to_have_count(2)
    expect(page.get_by_test_id("save-status")).to_have_attribute(
        "data-state", "saved", timeout=10_000
    )
    if SCREENSHOTS:
        page.screenshot(path=str(REPO_ROOT / "docs/screenshots/annotator.png"))

    # the draft survives a reload
    page.reload()
    expect(page.get_by_test_id("annotator")).to_have_attribute(
        "data-state", "ready", timeout=20_000
    )
    expect(page.get_by_test_id("segment-row")).to_have_count(2)
    expect(page.locator("[data-testid=clip-label-input][data-label=park]")).to_be_checked()

    # submit and next: the stored annotation is exactly what was marked
    item_id = int(page.get_by_test_id("annotator-session").get_attribute("data-item-id"))
    page.get_by_test_id("waveform").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("annotator-session")).not_to_have_attribute(
        "data-item-id", str(item_id), timeout=10_000
    )
    annotation = Annotation.objects.get(item_id=item_id, annotator=annotator)
    assert annotation.state == "submitted"
    assert annotation.clip_labels == {"scene": ["park"]}
    segments = [(s.label, s.start_s, s.end_s) for s in annotation.segments.order_by("start_s")]
    assert [s[0] for s in segments] == ["dog", "bird"]
    expected = [(2.0, 3.0), (5.0, 7.0)]
    for (_, start_s, end_s), (want_start, want_end) in zip(segments, expected, strict=True):
        assert abs(start_s - want_start) <= 0.010
        assert abs(end_s - want_end) <= 0.010
    assert annotation.lead_time_s > 0


def test_a_stale_save_shows_the_conflict(page, tmp_path):
    project, annotator = _project_with_items(tmp_path, ("only.flac", 10.0))
    log_in(page, annotator.username)
    _open_annotator(page, project)
    expect(page.get_by_test_id("save-status")).to_have_attribute(
        "data-state", "saved", timeout=10_000
    )
    # someone saves a newer version elsewhere (another tab, another device)
    annotation = Annotation.objects.get(annotator=annotator)
    annotation_update(
        annotation_id=annotation.pk,
        user=annotator,
        version=annotation.version,
        segments=[{"start_s": 1.0, "end_s": 2.0, "label": "dog"}],
    )
    # this tab's next save is refused and the person is told, nothing overwritten
    page.get_by_test_id("waveform").click(position={"x": 5, "y": 5})
    _seek_to(page, 4)
    page.keyboard.press("BracketLeft")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("BracketRight")
    expect(page.get_by_test_id("conflict-banner")).to_be_visible(timeout=10_000)
    expect(page.get_by_test_id("save-status")).to_have_attribute("data-state", "conflict")
    stored = Annotation.objects.get(pk=annotation.pk)
    assert [(s.start_s, s.end_s) for s in stored.segments.all()] == [(1.0, 2.0)]
    # loading theirs shows the other version
    page.get_by_test_id("conflict-load-theirs").click()
    expect(page.get_by_test_id("segment-row")).to_have_count(1)


def _write_long_recording(path: Path, *, duration_s: int, sample_rate_hz: int = 16_000) -> Path:
    """Noise with a tone burst every minute, written in chunks so memory stays small."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", sample_rate_hz, 1, format="FLAC") as out:
        for minute in range(duration_s // 60):
            chunk = 0.05 * rng.standard_normal(60 * sample_rate_hz).astype(np.float32)
            t = np.arange(sample_rate_hz) / sample_rate_hz
            chunk[:sample_rate_hz] += 0.5 * np.sin(2 * np.pi * (300 + 10 * minute) * t)
            out.write(chunk)
    return path


def test_a_long_recording_opens_and_scrolls(page, tmp_path):
    manager = UserFactory()
    project = project_create(name="Long", created_by=manager, label_schema=SCHEMA)
    annotator = UserFactory(username="long")
    Membership.objects.create(project=project, user=annotator, role="annotator")
    path = _write_long_recording(tmp_path / "hour.flac", duration_s=3600)
    (outcome,) = items_ingest(
        project=project, sources=[IngestSource(name="hour.flac", path=path)], uploaded_by=manager
    )
    assert outcome.item is not None
    log_in(page, annotator.username)
    page.goto(f"/items/{outcome.item.pk}/annotate/")
    expect(page.get_by_test_id("annotator")).to_have_attribute(
        "data-state", "ready", timeout=20_000
    )
    # the overview shows spectrogram tiles for the whole hour at once
    tiles = page.get_by_test_id("spectrogram-tile")
    expect(tiles.first).to_be_visible(timeout=10_000)
    # zoom in far and scroll to the end: the view follows and new tiles arrive
    page.get_by_test_id("waveform").click(position={"x": 5, "y": 5})
    for _ in range(8):
        page.keyboard.press("Equal")
    page.keyboard.press("End")
    page.wait_for_timeout(500)
    shown = page.get_by_test_id("time-display").inner_text()
    assert shown.startswith(("59:", "1:00:", "60:")), shown
    expect(tiles.first).to_be_visible(timeout=10_000)
    # data-tile is "settings|px_per_s|index": at the end of an hour, zoomed in, the index is high
    keys = tiles.evaluate_all("els => els.map(e => e.dataset.tile)")
    levels_and_indexes = [(float(k.split("|")[1]), int(k.split("|")[2])) for k in keys]
    assert max(level for level, _ in levels_and_indexes) >= 1
    assert max(index for _, index in levels_and_indexes) > 10
    if SCREENSHOTS:
        page.screenshot(path=str(REPO_ROOT / "docs/screenshots/annotator-long.png"))

from __future__ import annotations

from datetime import timedelta

import krippendorff
import numpy as np
import pytest
from django.utils import timezone

from backend.agreement.models import AgreementReport
from backend.agreement.selectors import consensus_for_items, project_work
from backend.agreement.services import agreement_refresh, agreement_report_view
from backend.annotations.models import Annotation
from tests.factories import AudioItemFactory, UserFactory

pytestmark = pytest.mark.django_db

SCENES = [  # per item, the scene chosen by ann0, ann1, ann2
    ("park", "park", "park"),
    ("street", "street", "street"),
    ("park", "park", "street"),
    ("home", "home", "home"),
    ("street", "park", "home"),
    ("park", "park", "park"),
]


@pytest.fixture
def labelled(items, team, submit):
    """Six items, three annotators, known disagreements on items 4 (all differ) and 2."""
    for item, scenes in zip(items, SCENES, strict=True):
        for person, scene in zip(team, scenes, strict=True):
            segments = [("dog", 1.0, 2.0)] if item is items[0] and person is not team[2] else []
            submit(item, person, {"scene": [scene], "tags": []}, segments,
                   lead_time_s=10.0 * (1 + team.index(person)))  # fmt: skip
    return items


def test_refresh_computes_the_report_with_known_figures(project, labelled, team):
    # when the report is computed
    report = agreement_refresh(project_id=project.pk)
    # then it reflects every submission
    assert report is not None
    assert report.submitted_count == 18
    data = report.report
    assert data["totals"] == {"submitted": 18, "items": 6, "items_with_overlap": 6,
                              "annotators": 3, "reviewed_truth_items": 0}  # fmt: skip
    scene = next(g for g in data["clip_groups"] if g["name"] == "scene")
    # percent agreement: mean share of agreeing pairs, (1 + 1 + 1/3 + 1 + 0 + 1) / 6
    assert scene["percent_agreement"] == pytest.approx(13 / 18, abs=1e-4)
    codes = {"street": 0, "park": 1, "home": 2}
    reliability = np.array([[codes[s[r]] for s in SCENES] for r in range(3)], dtype=float)
    expected_alpha = krippendorff.alpha(reliability_data=reliability,
                                        level_of_measurement="nominal")  # fmt: skip
    assert scene["alpha"] == pytest.approx(expected_alpha, abs=1e-4)
    assert scene["ties"] == 1  # item 4: one vote each
    assert {lab["label"] for lab in scene["labels"]} == {"street", "park", "home"}
    # segments: only ann0 and ann1 drew the dog on item 0: F1 = 2 x 1 / (2 + 1 + 1)
    assert data["segments"]["f1"] == pytest.approx(0.5)
    assert data["segments"]["labels"][0] == {"label": "dog", "segments": 2, "f1": 0.5,
                                             "iou": 0.3333}  # fmt: skip
    # the most disputed items: all differ, then two against one, then the dog disagreement
    disputed = [(d["item_id"], d["score"]) for d in data["disputed_items"]]
    assert disputed == [
        (labelled[4].pk, 1.0),
        (labelled[2].pk, 0.6667),
        (labelled[0].pk, 0.25),
    ]
    assert data["disputed_items"][0]["name"] == "rec4.wav"
    # per annotator: lead times and agreement with the majority
    rows = {r["username"]: r for r in data["annotators"]}
    assert rows["ann1"]["median_lead_time_s"] == 20.0
    assert rows["ann0"]["submitted"] == 6
    assert rows["ann0"]["agreement_vs_consensus"] is not None
    assert data["heatmap"]["measure"] == "cohen_kappa"
    assert len(data["heatmap"]["matrix"]) == 3


def test_refresh_is_debounced_and_safe_to_run_twice(project, labelled, team, submit):
    # given a fresh report
    first = agreement_refresh(project_id=project.pk)
    assert first is not None
    # when another refresh comes within the window, it returns at once
    assert agreement_refresh(project_id=project.pk) is None
    # and once the window has passed with nothing new, it keeps the report as it is
    AgreementReport.objects.filter(pk=first.pk).update(
        started_at=timezone.now() - timedelta(hours=1)
    )
    again = agreement_refresh(project_id=project.pk)
    assert again is not None
    assert again.computed_at == first.computed_at


def test_report_view_is_stale_after_new_submissions_and_refreshes(
    project, labelled, submit, django_capture_on_commit_callbacks
):
    agreement_refresh(project_id=project.pk)
    extra = AudioItemFactory(project=project)
    submit(extra, UserFactory(), {"scene": ["park"]})
    AgreementReport.objects.filter(project=project).update(
        started_at=timezone.now() - timedelta(hours=1)
    )
    # when the report is read after a new submission, outside the debounce window
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        view = agreement_report_view(project=project)
    # then it says stale and asks for a refresh, which brings it up to date
    assert len(callbacks) == 1
    assert view.stale
    view = agreement_report_view(project=project)
    assert view.submitted == 19
    assert view.reflects_submitted == 19
    assert not view.stale


def test_report_view_within_window_says_stale(project, labelled, submit):
    agreement_refresh(project_id=project.pk)
    submit(AudioItemFactory(project=project), UserFactory(), {"scene": ["park"]})
    view = agreement_report_view(project=project)
    assert view.stale
    assert view.refreshing
    assert view.reflects_submitted == 18


def test_empty_project_has_no_report_and_is_not_stale(project):
    view = agreement_report_view(project=project)
    assert view.report is None
    assert not view.stale
    report = agreement_refresh(project_id=project.pk)
    assert report is not None
    assert report.report["totals"]["submitted"] == 0
    assert report.report["disputed_items"] == []


def test_refresh_of_a_deleted_project_does_nothing():
    assert agreement_refresh(project_id=987654) is None


def test_reviewed_truth_is_compared_but_not_counted_as_an_annotator(project, labelled, team,
                                                                     submit):  # fmt: skip
    # given a reviewer's reference annotation on item 4 saying "home"
    reviewer = UserFactory()
    submit(labelled[4], reviewer, {"scene": ["home"]}, is_reference=True)
    report = agreement_refresh(project_id=project.pk, force=True)
    assert report is not None
    data = report.report
    assert data["totals"]["annotators"] == 3
    assert data["totals"]["reviewed_truth_items"] == 1
    rows = {r["username"]: r for r in data["annotators"]}
    # only ann2 chose "home" on item 4 (scene); the tags group agrees with the empty truth
    assert rows["ann2"]["judgements_vs_truth"] == 4
    assert rows["ann2"]["agreement_vs_truth"] == 1.0
    assert rows["ann0"]["agreement_vs_truth"] == 0.75


def test_consensus_streams_a_project_in_chunks(project, labelled, team,
                                               django_assert_max_num_queries):  # fmt: skip
    with django_assert_max_num_queries(2 + 3 * 3):
        out = list(consensus_for_items(project, chunk_size=2))
    assert [c.item_id for c in out] == [i.pk for i in labelled]
    scene = [c.clip[0] for c in out]
    assert [v.labels for v in scene] == [("park",), ("street",), ("park",), ("home",), (),
                                         ("park",)]  # fmt: skip
    assert scene[4].tied
    assert out[0].segments[0].support == 2


def test_consensus_for_given_items_skips_other_projects(project, labelled):
    stranger = AudioItemFactory()
    out = list(consensus_for_items(project, [labelled[2].pk, stranger.pk, labelled[0].pk]))
    assert [c.item_id for c in out] == [labelled[2].pk, labelled[0].pk]


def test_segment_collars_come_from_settings(project, items, team, submit, settings):
    # given two people whose dogs start 0.5 s apart
    submit(items[0], team[0], {"scene": ["park"]}, [("dog", 1.0, 2.0)])
    submit(items[0], team[1], {"scene": ["park"]}, [("dog", 1.5, 2.0)])
    report = agreement_refresh(project_id=project.pk)
    assert report is not None
    assert report.report["segments"]["f1"] == 0.0
    # when the onset collar is widened to 0.5 s, they match
    settings.EARMARK_AGREEMENT_ONSET_COLLAR_S = 0.5
    report = agreement_refresh(project_id=project.pk, force=True)
    assert report is not None
    assert report.report["segments"]["f1"] == 1.0
    assert report.report["settings"]["events"]["onset_collar_s"] == 0.5


def test_each_annotator_is_compared_with_the_others_consensus_and_accepted_work(
    project, labelled, team, submit, django_assert_num_queries
):
    # given ann1's work on item 4 accepted in review, and a reference by a reviewer on item 0
    # with one dog that matches ann0's and ann1's
    Annotation.objects.filter(item=labelled[4], annotator=team[1]).update(review_state="accepted")
    reviewer = UserFactory()
    submit(labelled[0], reviewer, {"scene": ["park"]}, [("dog", 1.1, 2.1)], is_reference=True)
    with django_assert_num_queries(5):
        work = project_work(project_id=project.pk)
    assert work.annotations.accepted.sum() == 1
    assert work.truth.segments is not None
    assert len(work.truth.segments.label) == 1
    # when the report is computed
    report = agreement_refresh(project_id=project.pk, force=True)
    assert report is not None
    rows = {r["username"]: r for r in report.report["annotators"]}
    # then ann2 is compared with the majority of the *others*: scene on items 0, 1, 2 (the
    # others said park, ann2 street), 3 and 5; item 4 is left out, the others tie there; the
    # three tags are absent for everyone on all six items
    assert report.report["version"] == 2
    assert rows["ann2"]["judgements_vs_consensus"] == 5 + 18
    assert rows["ann2"]["agreement_vs_consensus"] == pytest.approx(22 / 23, abs=1e-4)
    street = rows["ann2"]["labels"][0]
    assert (street["kind"], street["group"], street["label"]) == ("clip", "scene", "street")
    assert street["judgements_vs_consensus"] == 5
    assert street["agreement_vs_consensus"] == 0.8
    # truth: item 0's reference (park) for everyone, item 4's accepted work (ann1: park) for
    # ann0 and ann2 but not for ann1 itself
    assert report.report["totals"]["reviewed_truth_items"] == 2
    scene_truth = {name: rows[name]["labels"][0]["judgements_vs_truth"] for name in rows}
    assert scene_truth == {"ann0": 2, "ann1": 1, "ann2": 2}
    assert rows["ann0"]["labels"][1]["agreement_vs_truth"] == 0.5  # park: item 0 yes, 4 no
    # segments: on item 0 the dog of ann0 and ann1 is the consensus for ann2 (who drew none):
    # F1 0; for ann0 the others (ann1's dog, ann2 nothing) have no majority segment
    assert rows["ann2"]["segment_f1_vs_consensus"] == 0.0
    assert rows["ann2"]["segment_events_vs_consensus"] == 1
    assert rows["ann0"]["segment_f1_vs_consensus"] == 0.0
    assert rows["ann0"]["segment_events_vs_consensus"] == 1
    # against the reviewer's dog at 1.1-2.1 s both dogs match (onsets 0.1 s apart)
    assert rows["ann0"]["segment_f1_vs_truth"] == 1.0
    assert rows["ann1"]["segment_iou_vs_truth"] == pytest.approx(0.9 / 1.1, abs=1e-4)
    assert rows["ann2"]["segment_f1_vs_truth"] == 0.0
    dog = next(e for e in rows["ann0"]["labels"] if e["kind"] == "segment" and e["label"] == "dog")
    assert dog["f1_vs_truth"] == 1.0
    assert dog["events_vs_truth"] == 2

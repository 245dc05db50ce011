from __future__ import annotations

import pytest

from backend.agreement.services import agreement_refresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(items, team, submit):
    """Items 0-2 agreed on, item 3 split two against one, item 4 all different."""
    scenes = [("park",) * 3, ("street",) * 3, ("home",) * 3, ("park", "park", "street"),
              ("street", "park", "home")]  # fmt: skip
    for item, chosen in zip(items, scenes, strict=False):
        for person, scene in zip(team, chosen, strict=True):
            submit(item, person, {"scene": [scene]},
                   [("dog", 1.0, 2.0)] if item is items[0] else [])  # fmt: skip
    return items


def test_agreement_gives_the_cached_report_to_a_manager(client_for, manager, project, labelled):
    agreement_refresh(project_id=project.pk)
    response = client_for(manager).get(f"/api/projects/{project.pk}/agreement/")
    assert response.status_code == 200
    body = response.json()
    assert body["stale"] is False
    assert body["submitted"] == body["reflects_submitted"] == 15
    assert body["computed_at"]
    scene = next(g for g in body["report"]["clip_groups"] if g["name"] == "scene")
    assert scene["percent_agreement"] == pytest.approx((3 + 1 / 3 + 0) / 5, abs=1e-4)
    assert body["report"]["segments"]["f1"] == 1.0


def test_agreement_before_any_submission_is_empty_not_an_error(client_for, manager, project):
    body = client_for(manager).get(f"/api/projects/{project.pk}/agreement/").json()
    assert body["report"] is None
    assert body["stale"] is False
    assert body["submitted"] == 0


def test_agreement_is_hidden_from_annotators(client_for, annotator, project, labelled):
    response = client_for(annotator).get(f"/api/projects/{project.pk}/agreement/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_disputed_items_are_ordered_and_link_to_the_compare_view(
    client_for, reviewer, project, labelled
):
    agreement_refresh(project_id=project.pk)
    body = client_for(reviewer).get(f"/api/projects/{project.pk}/disputed-items/?limit=5").json()
    ids = [row["item_id"] for row in body["results"]]
    assert ids == [labelled[4].pk, labelled[3].pk]
    assert body["results"][0]["compare_url"] == f"/items/{labelled[4].pk}/annotate/?compare=1"
    assert body["results"][0]["name"] == "rec4.wav"
    assert body["next"] is None


def test_disputed_items_limit_is_validated(client_for, manager, project):
    response = client_for(manager).get(f"/api/projects/{project.pk}/disputed-items/?limit=0")
    assert response.status_code == 400
    assert "limit" in response.json()["error"]["fields"]


def test_progress_counts_items_by_state_and_submissions(client_for, manager, project, labelled,
                                                        items):  # fmt: skip
    project.annotations_per_item = 3
    project.save()
    agreement_refresh(project_id=project.pk)
    body = client_for(manager).get(f"/api/projects/{project.pk}/progress/").json()
    # five items done by three people, the sixth untouched
    assert body["items"] == {"pending": 0, "failed": 0, "not_started": 1, "in_progress": 0,
                             "done": 5}  # fmt: skip
    assert sum(day["submitted"] for day in body["submissions_per_day"]) == 15
    rows = {r["username"]: r for r in body["annotators"]}
    assert rows["ann0"]["submitted"] == 5
    assert rows["ann0"]["median_lead_time_s"] == 10.0
    assert rows["ann0"]["active_days"] == 1
    assert rows["ann0"]["per_active_day"] == 5.0
    assert rows["ann2"]["agreement_vs_consensus"] == pytest.approx(18 / 19, abs=1e-4)
    assert rows["ann2"]["segment_f1_vs_consensus"] == 1.0
    assert rows["ann2"]["agreement_vs_truth"] is None


def test_consensus_of_an_item(client_for, manager, labelled):
    body = client_for(manager).get(f"/api/items/{labelled[3].pk}/consensus/").json()
    scene = next(v for v in body["clip"] if v["group"] == "scene")
    assert scene["labels"] == ["park"]
    assert scene["votes"]["park"] == 2
    assert body["tied"] is False
    assert len(body["annotator_ids"]) == 3
    body = client_for(manager).get(f"/api/items/{labelled[0].pk}/consensus/").json()
    assert body["segments"][0]["support"] == 3
    assert body["segments"][0]["majority"] is True


def test_consensus_min_iou_is_validated(client_for, manager, labelled):
    response = client_for(manager).get(f"/api/items/{labelled[0].pk}/consensus/?min_iou=2")
    assert response.status_code == 400
    assert "min_iou" in response.json()["error"]["fields"]


def test_a_submission_refreshes_the_report(client_for, annotator, project, items,
                                          django_capture_on_commit_callbacks):  # fmt: skip
    # given an annotator's draft
    client = client_for(annotator)
    draft = client.post(f"/api/items/{items[0].pk}/annotations/",
                        {"clip_labels": {"scene": ["park"]}}, format="json").json()  # fmt: skip
    # when they submit it (the worker's refresh runs eagerly in unit tests)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/annotations/{draft['id']}/submit/",
                               {"version": draft["version"]}, format="json")  # fmt: skip
    assert response.status_code == 200
    # then the project's report reflects it
    report = project.agreement_report
    report.refresh_from_db()
    assert report.submitted_count == 1
    assert report.report["totals"]["submitted"] == 1


def test_agreement_json_has_each_annotator_against_consensus_and_truth(
    client_for, manager, project, labelled, team
):
    # given ann0's work on item 3 (park) accepted in review
    labelled[3].annotations.filter(annotator=team[0]).update(review_state="accepted")
    agreement_refresh(project_id=project.pk)
    body = client_for(manager).get(f"/api/projects/{project.pk}/agreement/").json()
    rows = {r["username"]: r for r in body["report"]["annotators"]}
    # ann2 said street on item 3 where the others said park: its only miss against them, and
    # against ann0's accepted work there; item 4's others tie, so its scene is left out; the
    # three tags are absent for everyone on all five items (15 more judgements, all agreed)
    assert rows["ann2"]["judgements_vs_consensus"] == 4 + 15
    assert rows["ann2"]["agreement_vs_consensus"] == pytest.approx(18 / 19, abs=1e-4)
    assert rows["ann2"]["judgements_vs_truth"] == 1 + 3
    assert rows["ann2"]["agreement_vs_truth"] == 0.75
    assert rows["ann0"]["judgements_vs_truth"] == 0  # never against its own accepted work
    assert rows["ann2"]["segment_f1_vs_consensus"] == 1.0  # everyone's dog on item 0
    park = next(e for e in rows["ann2"]["labels"] if e["label"] == "park")
    assert park["kind"] == "clip"
    assert park["judgements_vs_consensus"] == 4

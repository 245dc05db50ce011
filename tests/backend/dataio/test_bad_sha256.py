"""An item's sha256 in an import must be a SHA-256 digest (64 hexadecimal characters, as items
store it): anything else is a row error that names the field as the format names it, and the
row writes nothing; a digest in upper case finds the item that stores it in lower case.

Manifests (CSV and JSON Lines) name no item by sha256: a ``sha256`` column is metadata there,
so they have nothing to check.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from backend.annotations.models import Annotation, Segment
from backend.audio.models import AudioItem
from backend.predictions.models import ModelVersion, Prediction
from backend.projects.models import Project
from tests.backend.dataio.conftest import jsonl, run_import
from tests.factories import AudioItemFactory

pytestmark = pytest.mark.django_db

DIGEST = "0123456789abcdef" * 4
HEADER = {"type": "earmark", "version": 1, "project": {"name": "p"}}
REASON = "must be 64 hexadecimal characters (a SHA-256 digest), got "
# each bad value, and how the row error shows it
BAD = {
    "short": ("5", "'5'"),
    "one character short": (DIGEST[:-1], repr(DIGEST[:35])[:-1] + "..."),
    "one character long": (DIGEST + "0", repr(DIGEST[:35])[:-1] + "..."),
    "not hex": ("g" * 64, "'" + "g" * 35 + "..."),
    "a hex prefix": ("0x" + DIGEST[:62], "'0x" + DIGEST[:33] + "..."),
    "a JSON number": (5, "5"),
    "a JSON true": (True, "true"),
    "a list": ([DIGEST], '["' + DIGEST[:34] + "..."),
}
ANNOTATION = {
    "annotator": "ann",
    "clip_labels": {"scene": ["park"]},
    "segments": [{"start_s": 1.0, "end_s": 2.0, "label": "dog"}],
}


def ls_task(data: dict[str, Any]) -> str:
    result = [
        {
            "id": "r1",
            "from_name": "label",
            "to_name": "audio",
            "type": "labels",
            "value": {"start": 1.0, "end": 2.0, "labels": ["dog"]},
        },
        {"from_name": "scene", "type": "choices", "value": {"choices": ["park"]}},
    ]
    task = {"data": data, "annotations": [{"completed_by": {"username": "ann"}, "result": result}]}
    return "[\n" + json.dumps(task) + "\n]\n"


def _only_error(report: Any) -> dict[str, Any]:
    assert report.rejected == 1, report.to_json()
    (error,) = report.to_json()["errors"]
    return error


def _nothing_written(project: Project, items_before: int = 0) -> None:
    assert AudioItem.objects.filter(project=project).count() == items_before
    assert not Annotation.objects.filter(item__project=project).exists()
    assert not Segment.objects.filter(annotation__item__project=project).exists()
    assert not Prediction.objects.filter(item__project=project).exists()


# --- a bad sha256 is a row error that writes nothing ------------------------------------------


@pytest.mark.parametrize("named", [True, False], ids=["with an external id", "by sha256 alone"])
@pytest.mark.parametrize("case", list(BAD))
def test_a_native_item_with_a_bad_sha256_is_a_row_error(project, manager, case, named):
    # given a native item line, annotated, whose sha256 is no digest
    raw, shown = BAD[case]
    item = {"type": "item", "sha256": raw, "storage_key": "a.wav", "duration_s": 10}
    if named:
        item["external_id"] = "a"
    item["annotations"] = [ANNOTATION]
    # when it is imported
    report = run_import(project, jsonl(HEADER, item), "native", user=manager, check_files=False)
    # then the row is rejected with one error naming the field and showing the value
    assert _only_error(report) == {"row": 2, "field": "sha256", "reason": REASON + shown}
    # and nothing of it is written
    _nothing_written(project)


@pytest.mark.parametrize("named", [True, False], ids=["with an external id", "by sha256 alone"])
@pytest.mark.parametrize("case", list(BAD))
def test_a_label_studio_task_with_a_bad_sha256_is_a_row_error(project, manager, case, named):
    # given a Label Studio task, annotated, whose data.sha256 is no digest
    raw, shown = BAD[case]
    data: dict[str, Any] = {"audio": "a.wav", "sha256": raw}
    if named:
        data["external_id"] = "a"
    # when it is imported
    report = run_import(project, ls_task(data), "label_studio", user=manager, check_files=False)
    # then the task is rejected with one error naming the field as Label Studio nests it
    assert _only_error(report) == {"row": 1, "field": "data.sha256", "reason": REASON + shown}
    # and nothing of it is written
    _nothing_written(project)


@pytest.mark.parametrize("case", list(BAD))
def test_a_prediction_with_a_bad_sha256_is_a_row_error(project, manager, case):
    # given an item, and a prediction line naming it by external id beside a bad sha256
    AudioItemFactory(project=project, external_id="a", sha256=DIGEST)
    raw, shown = BAD[case]
    line = {"external_id": "a", "sha256": raw, "clip_scores": {"scene": {"park": 0.9}}}
    # when it is imported
    report = run_import(project, jsonl(line), "predictions", user=manager, model_name="m")
    # then the line is rejected with one error naming the field
    assert _only_error(report) == {"row": 1, "field": "sha256", "reason": REASON + shown}
    # and no prediction (nor a model to hold one) is written
    _nothing_written(project, items_before=1)
    assert not ModelVersion.objects.filter(project=project).exists()


def test_a_long_value_is_cut_short_in_the_message(project, manager):
    # given a native item whose sha256 is 10,000 characters
    item = {"type": "item", "external_id": "a", "sha256": "x" * 10_000}
    # when it is imported
    report = run_import(project, jsonl(HEADER, item), "native", user=manager, check_files=False)
    # then the message shows its start only
    reason = _only_error(report)["reason"]
    assert reason == REASON + "'" + "x" * 35 + "..."
    _nothing_written(project)


def test_a_bad_sha256_in_a_batch_writes_none_of_the_batch(project, manager):
    # given a native file: a good item, one with a bad sha256, another good one
    text = jsonl(
        HEADER,
        {"type": "item", "external_id": "a", "sha256": DIGEST, "storage_key": "a.wav"},
        {"type": "item", "external_id": "b", "sha256": "5", "storage_key": "b.wav"},
        {"type": "item", "external_id": "c", "storage_key": "c.wav"},
    )
    # when it is imported
    report = run_import(project, text, "native", user=manager, check_files=False)
    # then the bad row is the one error, and its batch (all three rows) is rejected whole
    assert [(e["row"], e["field"]) for e in report.to_json()["errors"]] == [(3, "sha256")]
    assert (report.created, report.rejected) == (0, 3)
    _nothing_written(project)


# --- a digest in upper case is the item's digest -------------------------------------------------


def test_a_native_upper_case_sha256_finds_the_item(project, manager):
    # given an item known by its lower-case digest
    item = AudioItemFactory(project=project, external_id=None, sha256=DIGEST)
    # when a native line names it by the digest in upper case, with an annotation
    line = {"type": "item", "sha256": DIGEST.upper(), "annotations": [ANNOTATION]}
    report = run_import(project, jsonl(HEADER, line), "native", user=manager, check_files=False)
    # then it updates that item: no new one, the annotation on it
    assert (report.created, report.updated, report.error_count) == (0, 1, 0), report.to_json()
    assert list(AudioItem.objects.filter(project=project).values_list("pk", "sha256")) == [
        (item.pk, DIGEST)
    ]
    annotation = Annotation.objects.get(item=item)
    assert annotation.clip_labels == {"scene": ["park"]}
    assert Segment.objects.get(annotation=annotation).label == "dog"


def test_a_native_upper_case_sha256_is_stored_in_lower_case(project, manager):
    # given a native line for a new item named by an upper-case digest
    line = {"type": "item", "sha256": DIGEST.upper(), "storage_key": "a.wav", "duration_s": 10}
    # when it is imported
    report = run_import(project, jsonl(HEADER, line), "native", user=manager, check_files=False)
    # then the item stores the digest in lower case, and a second import finds it
    assert report.created == 1, report.to_json()
    assert AudioItem.objects.get(project=project).sha256 == DIGEST
    again = run_import(project, jsonl(HEADER, line), "native", user=manager, check_files=False)
    assert (again.created, again.error_count) == (0, 0), again.to_json()
    assert AudioItem.objects.filter(project=project).count() == 1


def test_a_label_studio_upper_case_sha256_finds_the_item(project, manager):
    # given an item known by its lower-case digest
    item = AudioItemFactory(project=project, external_id=None, sha256=DIGEST)
    # when a task names it by the digest in upper case (and no external id)
    data = {"audio": item.storage_key, "sha256": DIGEST.upper()}
    report = run_import(project, ls_task(data), "label_studio", user=manager, check_files=False)
    # then the task's annotation goes onto that item, and no item is made
    assert (report.created, report.updated, report.error_count) == (0, 1, 0), report.to_json()
    assert AudioItem.objects.filter(project=project).count() == 1
    annotation = Annotation.objects.get(item=item)
    assert annotation.clip_labels == {"scene": ["park"]}
    assert Segment.objects.get(annotation=annotation).label == "dog"


def test_a_prediction_with_an_upper_case_sha256_finds_the_item(project, manager):
    # given an item known by its lower-case digest
    item = AudioItemFactory(project=project, external_id=None, sha256=DIGEST)
    # when a prediction line names it by the digest in upper case
    line = {"sha256": DIGEST.upper(), "clip_scores": {"scene": {"park": 0.9}}}
    report = run_import(project, jsonl(line), "predictions", user=manager, model_name="m")
    # then the prediction is that item's
    assert (report.updated, report.error_count) == (1, 0), report.to_json()
    assert Prediction.objects.get().item_id == item.pk

from __future__ import annotations

import json

import pytest

from backend.annotations.models import Annotation, Review, Segment
from backend.audio.models import AudioItem
from backend.predictions.models import ModelVersion, Prediction
from backend.projects.models import Membership, Project
from backend.users.models import User
from tests.backend.dataio.conftest import jsonl, run_export, run_import
from tests.factories import (
    DEMO_SCHEMA,
    AnnotationFactory,
    AudioItemFactory,
    SegmentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HEADER = {"type": "earmark", "version": 1, "project": {"name": "p", "label_schema": DEMO_SCHEMA}}


def _item(n: int, **extra):
    return {
        "type": "item",
        "external_id": f"rec-{n}",
        "sha256": f"{n:064x}",
        "storage_key": f"audio/{n}.wav",
        "original_name": f"{n}.wav",
        "duration_s": 10.0,
        "sample_rate_hz": 16000,
        "channels": 1,
        "format": "wav",
        **extra,
    }


def _ann(who: str, **extra):
    return {
        "annotator": who,
        "state": "submitted",
        "clip_labels": {"scene": ["park"]},
        "segments": [{"start_s": 1.0, "end_s": 2.0, "label": "dog"}],
        **extra,
    }


def test_native_import_creates_items_people_and_annotations(empty_project, manager_of):
    # given a native file with a header, a model version and two items annotated by two people
    user = manager_of(empty_project)
    text = jsonl(
        HEADER,
        {"type": "model_version", "version": 1, "kind": "clip_cnn"},
        _item(
            1,
            annotations=[
                _ann("ann-a"),
                _ann("ann-b", reviews=[{"reviewer": "rev", "verdict": "accepted"}]),
            ],
            predictions=[{"model_version": 1, "clip_scores": {"scene": {"park": 0.9}}}],
        ),
        _item(2, annotations=[_ann("ann-a", state="draft", segments=[])]),
    )
    # when it is imported with file checks off (no bytes in this test)
    report = run_import(empty_project, text, "native", user=user, check_files=False)
    # then everything is there, people are inactive members
    assert report.to_json() | {"errors": [], "unmapped": []} == {
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "error_count": 0,
        "errors": [],
        "unmapped": [],
    }
    empty_project.refresh_from_db()
    assert empty_project.label_schema["segment_labels"][0]["name"] == "dog"
    assert AudioItem.objects.filter(project=empty_project).count() == 2
    assert Annotation.objects.filter(item__project=empty_project).count() == 3
    assert Segment.objects.filter(annotation__item__project=empty_project).count() == 2
    assert Review.objects.get().reviewer.username == "rev"
    assert not User.objects.get(username="ann-a").is_active
    roles = dict(
        Membership.objects.filter(project=empty_project).values_list("user__username", "role")
    )
    assert roles == {
        user.username: "manager",
        "ann-a": "annotator",
        "ann-b": "annotator",
        "rev": "reviewer",
    }
    assert Prediction.objects.get().model_version == ModelVersion.objects.get(project=empty_project)
    item1 = AudioItem.objects.get(external_id="rec-1")
    assert (item1.active_annotations, item1.submitted_annotations) == (2, 2)
    # an imported draft has no lease: it holds no slot in the queue (nothing would release it)
    item2 = AudioItem.objects.get(external_id="rec-2")
    assert (item2.active_annotations, item2.submitted_annotations) == (0, 0)


def test_native_reimport_is_idempotent(empty_project, manager_of):
    user = manager_of(empty_project)
    text = jsonl(HEADER, _item(1, annotations=[_ann("a")]), _item(2))
    run_import(empty_project, text, "native", user=user, check_files=False)
    # when the same file comes again
    report = run_import(empty_project, text, "native", user=user, check_files=False)
    # then nothing is duplicated and every row is unchanged
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert AudioItem.objects.filter(project=empty_project).count() == 2
    assert Annotation.objects.count() == 1
    assert Segment.objects.count() == 1


def test_native_reimport_with_changed_labels_updates(empty_project, manager_of):
    user = manager_of(empty_project)
    run_import(
        empty_project,
        jsonl(HEADER, _item(1, annotations=[_ann("a")])),
        "native",
        user=user,
        check_files=False,
    )
    changed = _ann("a", clip_labels={"scene": ["street"]}, segments=[])
    report = run_import(
        empty_project,
        jsonl(HEADER, _item(1, annotations=[changed])),
        "native",
        user=user,
        check_files=False,
    )
    assert (report.created, report.updated) == (0, 1)
    annotation = Annotation.objects.get()
    assert annotation.clip_labels == {"scene": ["street"]}
    assert annotation.version == 2
    assert not Segment.objects.exists()


def test_bad_batch_writes_nothing_and_reports_row_field_reason(empty_project, manager_of):
    user = manager_of(empty_project)
    text = (
        jsonl(
            HEADER,
            _item(1, annotations=[_ann("a")]),
            _item(2, annotations=[_ann("a", clip_labels={"scene": ["beach"]})]),
            _item(
                3, annotations=[_ann("a", segments=[{"start_s": 5, "end_s": 12, "label": "dog"}])]
            ),
        )
        + "{not json\n"
    )
    report = run_import(empty_project, text, "native", user=user, check_files=False)
    assert report.rejected == 4
    assert not AudioItem.objects.filter(project=empty_project).exists()
    errors = {(e["row"], e["field"]) for e in report.errors}
    assert (3, "annotations.0.clip_labels.scene") in errors
    assert (4, "annotations.0.segments.0.end_s") in errors
    assert (5, "") in errors
    reasons = " ".join(e["reason"] for e in report.errors)
    assert "unknown label 'beach'" in reasons
    assert "beyond the end of the recording" in reasons
    assert "invalid JSON" in reasons


def test_only_the_bad_batch_is_rejected(empty_project, manager_of):
    user = manager_of(empty_project)
    rows = [_item(n, annotations=[_ann("a")]) for n in range(1, 7)]
    rows[4]["annotations"][0]["segments"][0]["label"] = "cat"
    report = run_import(
        empty_project, jsonl(HEADER, *rows), "native", user=user, check_files=False, batch_size=2
    )
    # rows 1-2, 3-4 written; 5-6 rejected together
    assert (report.created, report.rejected) == (4, 2)
    assert set(AudioItem.objects.values_list("external_id", flat=True)) == {
        "rec-1",
        "rec-2",
        "rec-3",
        "rec-4",
    }


def test_missing_file_is_an_error(empty_project, manager_of, media_root):
    user = manager_of(empty_project)
    report = run_import(empty_project, jsonl(HEADER, _item(1)), "native", user=user)
    assert report.errors == [{"row": 2, "field": "path", "reason": "file not found: audio/1.wav"}]


def test_header_errors(empty_project, manager_of):
    text = jsonl({"type": "item"}) + jsonl({"type": "earmark", "version": 9})
    report = run_import(
        empty_project, text, "native", user=manager_of(empty_project), check_files=False
    )
    fields = [e["field"] for e in report.errors]
    assert "type" in fields
    assert "version" in fields


def test_native_export_then_import_into_new_project_is_identical(manager_of, project):
    # given a project with annotations, reviews, a reference and predictions
    item = AudioItemFactory(project=project, external_id="x1", metadata={"site": "A"})
    AudioItemFactory(project=project)
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    a = AnnotationFactory(
        item=item, annotator=alice, state="submitted", clip_labels={"scene": ["park"]}
    )
    SegmentFactory(
        annotation=a, start_s=0.5, end_s=1.25, label="bird", low_hz=100.0, high_hz=2000.0, text="hi"
    )
    Review.objects.create(annotation=a, reviewer=bob, verdict="accepted", comment="ok")
    AnnotationFactory(item=item, annotator=bob, state="draft")
    mv = ModelVersion.objects.create(project=project, version=1, kind="clip_cnn")
    Prediction.objects.create(
        item=item, model_version=mv, clip_scores={"scene": {"park": 0.25}}, uncertainty=0.5
    )
    first = run_export(project, "native")
    # when it is imported into a new project and exported again
    target = Project.objects.create(name="copy", label_schema={})
    report = run_import(target, first, "native", user=manager_of(target), check_files=False)
    assert report.error_count == 0, report.errors
    second = run_export(target, "native")
    # then the content is identical (but for the project's name)
    one, two = first.decode().splitlines(), second.decode().splitlines()
    assert json.loads(one[0])["project"] | {"name": ""} == json.loads(two[0])["project"] | {
        "name": ""
    }
    assert one[1:] == two[1:]


def test_text_with_tabs_newlines_and_backslashes_survives(empty_project, manager_of):
    user = manager_of(empty_project)
    odd = 'tab\there\nnew line \\N back\\slash "quote" \r end'
    seg = {"start_s": 1.0, "end_s": 2.0, "label": "dog", "text": odd}
    item = _item(1, metadata={"note": odd}, annotations=[_ann("a@b.org", segments=[seg])])
    report = run_import(empty_project, jsonl(HEADER, item), "native", user=user, check_files=False)
    assert report.error_count == 0
    assert Segment.objects.get().text == odd
    assert AudioItem.objects.get().metadata == {"note": odd}
    bad = run_import(
        empty_project,
        jsonl(HEADER, _item(2, annotations=[_ann("a\tb")])),
        "native",
        user=user,
        check_files=False,
    )
    assert bad.errors[0]["reason"] == "'a\\tb' is not a valid username"

"""Imports of every format through the service, against a real database."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from backend.annotations.models import Annotation, Segment
from backend.audio.models import AudioItem, StorageConnection
from backend.predictions.models import ModelVersion, Prediction
from tests.backend.dataio.conftest import jsonl, run_import
from tests.factories import AnnotationFactory, AudioItemFactory, SegmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(project, tmp_path, settings):
    root = tmp_path / "recordings"
    (root / "site").mkdir(parents=True)
    for name in ("a.wav", "b.wav"):
        (root / "site" / name).write_bytes(b"RIFF")
    settings.EARMARK_FOLDER_ROOTS = (tmp_path,)
    return StorageConnection.objects.create(
        project=project, name="disk", kind="folder", root=str(root)
    )


def test_manifest_registers_references_with_labels(
    project, manager, folder, django_capture_on_commit_callbacks
):
    text = (
        "path,site,clip_labels,segments\n"
        'site/a.wav,north,scene=park,"[{""start_s"": 1, ""end_s"": 2, ""label"": ""dog""}]"\n'
        "site/b.wav,south,,\n"
    )
    with django_capture_on_commit_callbacks() as callbacks:
        report = run_import(project, text, "manifest", user=manager, connection_id=folder.pk)
    assert (report.created, report.error_count) == (2, 0)
    a = AudioItem.objects.get(external_id="site/a.wav")
    assert (a.connection_id, a.storage_key, a.state, a.metadata) == (
        folder.pk,
        "site/a.wav",
        "pending",
        {"site": "north"},
    )
    annotation = Annotation.objects.get(item=a)
    assert annotation.annotator == manager  # no annotator column: the importing user's
    assert annotation.clip_labels == {"scene": ["park"]}
    assert Segment.objects.get(annotation=annotation).label == "dog"
    assert callbacks  # processing is queued after commit
    # re-import: nothing new
    again = run_import(project, text, "manifest", user=manager, connection_id=folder.pk)
    assert (again.created, again.unchanged) == (0, 2)
    assert AudioItem.objects.filter(project=project).count() == 2


def test_manifest_missing_files_and_bad_paths(project, manager, folder):
    text = "path\nsite/a.wav\nsite/missing.wav\n../etc/passwd\n"
    report = run_import(project, text, "manifest", user=manager, connection_id=folder.pk)
    assert report.rejected == 3
    fields = {(e["row"], e["field"]) for e in report.errors}
    assert fields == {(3, "path"), (4, "path")}
    assert not AudioItem.objects.filter(project=project).exists()


def test_manifest_unknown_connection_fails_loudly(project, manager):
    from backend.common.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed):
        run_import(project, "path\na.wav\n", "manifest", user=manager, connection_id=999)


def test_manifest_segment_times_are_checked_when_the_duration_is_given(project, manager, folder):
    text = (
        "path,duration_s,segments\n"
        'site/a.wav,1.5,"[{""start_s"": 1, ""end_s"": 2, ""label"": ""dog""}]"\n'
    )
    report = run_import(project, text, "manifest", user=manager, connection_id=folder.pk)
    assert report.errors[0]["field"] == "annotations.0.segments.0.end_s"


def test_label_studio_attaches_to_existing_items_and_makes_people(project, manager):
    item = AudioItemFactory(project=project, external_id="/data/upload/1/rec.wav", duration_s=10)
    task = {
        "data": {"audio": "/data/upload/1/rec.wav"},
        "annotations": [
            {
                "completed_by": {"email": "ann@x.org"},
                "result": [
                    {
                        "id": "r",
                        "type": "labels",
                        "from_name": "label",
                        "to_name": "audio",
                        "value": {"start": 1, "end": 2, "labels": ["dog"]},
                    },
                    {
                        "id": "c",
                        "type": "choices",
                        "from_name": "scene",
                        "to_name": "audio",
                        "value": {"choices": ["park"]},
                    },
                    {
                        "id": "z",
                        "type": "rating",
                        "from_name": "r",
                        "to_name": "audio",
                        "value": {"rating": 1},
                    },
                ],
            }
        ],
        "predictions": [
            {
                "model_version": "birdnet",
                "result": [
                    {
                        "type": "choices",
                        "from_name": "scene",
                        "to_name": "audio",
                        "score": 0.7,
                        "value": {"choices": ["street"]},
                    }
                ],
            }
        ],
    }
    report = run_import(project, json.dumps([task]), "label_studio", user=manager)
    assert (report.updated, report.error_count, len(report.unmapped)) == (1, 0, 1)
    annotation = Annotation.objects.get(item=item)
    assert annotation.annotator.username == "ann@x.org"
    assert annotation.clip_labels == {"scene": ["park"]}
    mv = ModelVersion.objects.get(project=project)
    assert (mv.kind, mv.is_external) == ("birdnet", True)
    assert Prediction.objects.get().clip_scores == {"scene": {"street": 0.7}}
    again = run_import(project, json.dumps([task]), "label_studio", user=manager)
    assert (again.unchanged, Annotation.objects.count(), ModelVersion.objects.count()) == (1, 1, 1)


def test_label_studio_unknown_labels_are_errors(project, manager):
    AudioItemFactory(project=project, external_id="a.wav")
    task = {
        "data": {"audio": "a.wav"},
        "annotations": [
            {
                "result": [
                    {
                        "id": "r",
                        "type": "labels",
                        "value": {"start": 1, "end": 2, "labels": ["whale"]},
                    }
                ]
            }
        ],
    }
    report = run_import(project, json.dumps([task]), "label_studio", user=manager)
    assert report.errors == [
        {
            "row": 1,
            "field": "annotations.0.segments.0.label",
            "reason": "unknown segment label 'whale'; expected one of ['bird', 'dog']",
        }
    ]


def test_raven_table_adds_segments_to_the_importers_annotation(project, manager):
    item = AudioItemFactory(
        project=project, original_name="XC12.wav", duration_s=10, sample_rate_hz=16000
    )
    existing = AnnotationFactory(item=item, annotator=manager, clip_labels={"scene": ["home"]})
    SegmentFactory(annotation=existing, label="bird")
    table = (
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\t"
        "Low Freq (Hz)\tHigh Freq (Hz)\tAnnotation\n"
        "1\tSpectrogram 1\t1\t1.0\t2.0\t100\t2000\tdog\n"
    )
    report = run_import(project, table, "raven", user=manager, name="XC12.Table.1.selections.txt")
    assert (report.updated, report.error_count) == (1, 0)
    existing.refresh_from_db()
    assert existing.clip_labels == {"scene": ["home"]}  # kept: a table has only segments
    assert list(existing.segments.values_list("label", "low_hz")) == [("dog", 100.0)]


def test_raven_bad_times_and_unknown_recordings(project, manager):
    AudioItemFactory(project=project, original_name="a.wav", duration_s=3, sample_rate_hz=16000)
    table = (
        "Begin File\tBegin Time (s)\tEnd Time (s)\tHigh Freq (Hz)\tLow Freq (Hz)\tLabel\n"
        "a.wav\t1\t5\t1000\t100\tdog\n"
        "zzz.wav\t1\t2\t1000\t100\tdog\n"
    )
    report = run_import(project, table, "raven", user=manager)
    assert {(e["row"], e["field"]) for e in report.errors} == {
        (2, "annotations.0.segments.0.end_s"),
        (3, "external_id"),
    }
    assert not Annotation.objects.exists()


def test_audacity_zip_of_label_files(project, manager):
    AudioItemFactory(project=project, original_name="one.flac", duration_s=10)
    AudioItemFactory(project=project, original_name="two.wav", duration_s=10)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("labels/one.txt", "1\t2\tdog\n")
        zf.writestr("two.txt", "3\t4\tbird\n\\\t100\t200\n")
    report = run_import(project, buf.getvalue(), "audacity", user=manager)
    assert (report.updated, report.error_count) == (2, 0)
    assert sorted(Segment.objects.values_list("label", flat=True)) == ["bird", "dog"]


def test_audacity_not_a_zip_and_not_text(project, manager):
    report = run_import(project, b"PK\x03\x04garbage", "audacity", user=manager, name="x.txt")
    assert report.errors[0]["reason"].startswith("not a valid zip archive")
    report = run_import(
        project, b"1\t2\tdog\n\xff\xfe\x00bad", "audacity", user=manager, name="x.txt"
    )
    assert "not UTF-8" in report.errors[-1]["reason"]


def test_predictions_import_creates_an_external_model_and_upserts(project, manager):
    AudioItemFactory(project=project, external_id="a", duration_s=10)
    line = {
        "external_id": "a",
        "clip_scores": {"scene": {"park": 0.9, "street": 0.1}},
        "segments": [{"start_s": 1, "end_s": 2, "label": "dog", "score": 0.8}],
        "uncertainty": 0.2,
    }
    report = run_import(project, jsonl(line), "predictions", user=manager, model_name="birdnet-2.4")
    assert (report.updated, report.error_count) == (1, 0)
    mv = ModelVersion.objects.get()
    assert (mv.kind, mv.is_external, mv.version) == ("birdnet-2.4", True, 1)
    line["uncertainty"] = 0.5
    again = run_import(project, jsonl(line), "predictions", user=manager, model_name="birdnet-2.4")
    assert (again.updated, ModelVersion.objects.count(), Prediction.objects.get().uncertainty) == (
        1,
        1,
        0.5,
    )


def test_predictions_bad_labels_times_and_items(project, manager):
    AudioItemFactory(project=project, external_id="a", duration_s=10)
    text = jsonl(
        {"external_id": "a", "clip_scores": {"scene": {"beach": 1}}},
        {"external_id": "a", "segments": [{"start_s": 1, "end_s": 20, "label": "dog"}]},
        {"external_id": "nope"},
        {"external_id": "a", "clip_scores": {"weather": {"rain": 1}}},
    )
    report = run_import(project, text, "predictions", user=manager)
    assert {(e["row"], e["field"]) for e in report.errors} == {
        (1, "predictions.0.clip_scores.scene.beach"),
        (2, "predictions.0.segments.0.end_s"),
        (3, "external_id"),
        (4, "predictions.0.clip_scores.weather"),
    }
    assert not Prediction.objects.exists()


def test_annotator_me_takes_every_annotation(project, manager, folder):
    text = jsonl({"path": "site/a.wav", "annotator": "someone", "clip_labels": {"scene": ["park"]}})
    run_import(project, text, "manifest", user=manager, connection_id=folder.pk, annotator="me")
    assert Annotation.objects.get().annotator == manager

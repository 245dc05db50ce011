"""Exports: every format, every source, the filters, and audio in audiofolder zips."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
import soundfile as sf

from backend.annotations.models import Annotation, Review
from backend.audio.services import IngestSource, items_ingest
from backend.common.exceptions import ValidationFailed
from backend.predictions.models import ModelVersion, Prediction
from tests.audio_gen import write_tone
from tests.backend.dataio.conftest import run_export
from tests.factories import AnnotationFactory, AudioItemFactory, SegmentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(project):
    """Two items; alice and bob submitted the first, carol left a draft; a model predicted."""
    one = AudioItemFactory(project=project, external_id="one", original_name="one.wav")
    two = AudioItemFactory(project=project, external_id="two", original_name="two.wav")
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    a = AnnotationFactory(
        item=one, annotator=alice, state="submitted", clip_labels={"scene": ["park"]}
    )
    SegmentFactory(annotation=a, start_s=1.0, end_s=2.0, label="dog", low_hz=50.0, high_hz=900.0)
    b = AnnotationFactory(
        item=one, annotator=bob, state="submitted", clip_labels={"scene": ["park"]}
    )
    SegmentFactory(annotation=b, start_s=1.1, end_s=2.1, label="dog")
    AnnotationFactory(item=two, annotator=carol, state="draft", clip_labels={"scene": ["home"]})
    Review.objects.create(annotation=a, reviewer=carol, verdict="accepted")
    Annotation.objects.filter(pk=a.pk).update(review_state="accepted")
    mv = ModelVersion.objects.create(project=project, version=3, kind="clip_cnn")
    Prediction.objects.create(
        item=two,
        model_version=mv,
        clip_scores={"scene": {"home": 0.8, "park": 0.2}},
        segments=[{"start_s": 0.0, "end_s": 1.0, "label": "bird", "score": 0.6}],
    )
    return {"one": one, "two": two, "mv": mv}


def _csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_native_export_is_lossless(project, labelled):
    lines = [json.loads(x) for x in run_export(project, "native").decode().splitlines()]
    header, mv, one, two = lines
    assert header["type"] == "earmark"
    assert header["project"]["label_schema"]["clip_groups"][0]["name"] == "scene"
    assert (mv["type"], mv["version"], mv["kind"]) == ("model_version", 3, "clip_cnn")
    assert [a["annotator"] for a in one["annotations"]] == ["alice", "bob"]
    assert one["annotations"][0]["segments"][0] == {
        "start_s": 1.0,
        "end_s": 2.0,
        "label": "dog",
        "low_hz": 50.0,
        "high_hz": 900.0,
        "text": "",
    }
    assert one["annotations"][0]["reviews"] == [
        {"reviewer": "carol", "verdict": "accepted", "comment": ""}
    ]
    assert two["annotations"][0]["state"] == "draft"
    assert two["predictions"][0]["model_version"] == 3


def test_csv_keeps_times_and_only_submitted_by_default(project, labelled):
    rows = _csv(run_export(project, "csv"))
    assert {r["source"] for r in rows} == {"alice", "bob"}
    seg = next(r for r in rows if r["kind"] == "segment" and r["source"] == "alice")
    assert (seg["start_s"], seg["end_s"], seg["low_hz"], seg["high_hz"]) == (
        "1.0",
        "2.0",
        "50.0",
        "900.0",
    )
    drafts = _csv(run_export(project, "csv", filters={"annotation_state": ["draft"]}))
    assert {r["source"] for r in drafts} == {"carol"}


def test_filters_by_annotator_label_and_item_state(project, labelled):
    assert {
        r["source"] for r in _csv(run_export(project, "csv", filters={"annotator": "bob"}))
    } == {"bob"}
    labels = {r["label"] for r in _csv(run_export(project, "csv", filters={"label": "dog"}))}
    assert labels == {"dog", "park"}  # annotations that use the label, whole
    assert _csv(run_export(project, "csv", filters={"item_state": ["failed"]})) == []
    lines = run_export(project, "native", filters={"annotator": "carol"}).decode().splitlines()
    assert [json.loads(x)["external_id"] for x in lines[2:]] == ["two"]


def test_date_filters(project, labelled):
    assert _csv(run_export(project, "csv", filters={"updated_after": "2999-01-01"})) == []
    assert (
        len(_csv(run_export(project, "csv", filters={"updated_before": "2999-01-01T00:00:00Z"})))
        == 4
    )


def test_bad_filters_and_sources(project, labelled):
    with pytest.raises(ValidationFailed) as exc:
        run_export(project, "csv", filters={"colour": "red"})
    assert "filters.colour" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        run_export(project, "csv", filters={"annotation_state": ["done"]})
    assert "filters.annotation_state" in exc.value.fields
    assert "'done'" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:
        run_export(project, "csv", filters={"item_state": ["ready", "lost"]})
    assert "filters.item_state" in exc.value.fields
    assert "'lost'" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:
        run_export(project, "csv", filters={"updated_after": "yesterday"})
    assert "filters.updated_after" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        run_export(project, "csv", source="predictions")
    assert "model_version" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        run_export(project, "parquet")
    assert "format" in exc.value.fields


def test_reviewed_source_keeps_accepted_work(project, labelled):
    assert {r["source"] for r in _csv(run_export(project, "csv", source="reviewed"))} == {"alice"}


def test_consensus_source(project, labelled):
    rows = _csv(run_export(project, "csv", source="consensus"))
    assert {r["source"] for r in rows} == {"consensus"}
    assert {(r["kind"], r["label"]) for r in rows} == {("clip", "park"), ("segment", "dog")}


def test_predictions_source(project, labelled):
    rows = _csv(run_export(project, "csv", source="predictions", model_version=labelled["mv"]))
    assert {r["source"] for r in rows} == {"model:clip_cnn-v3"}
    assert {(r["kind"], r["label"], r["score"]) for r in rows} == {
        ("clip", "home", "0.8"),
        ("clip", "park", "0.2"),
        ("segment", "bird", "0.6"),
    }
    tasks = json.loads(
        run_export(project, "label_studio", source="predictions", model_version=labelled["mv"])
    )
    assert tasks[0]["predictions"][0]["model_version"] == "clip_cnn-v3"


def test_label_studio_export_is_a_json_array_of_tasks(project, labelled):
    tasks = json.loads(run_export(project, "label_studio"))
    assert [t["data"]["external_id"] for t in tasks] == ["one", "two"]
    result = tasks[0]["annotations"][0]["result"]
    assert {r["type"] for r in result} == {"choices", "labels"}
    assert tasks[1]["annotations"] == []  # a draft is not a Label Studio annotation


def test_raven_and_audacity_zips_have_one_file_per_recording(project, labelled):
    with zipfile.ZipFile(io.BytesIO(run_export(project, "raven"))) as zf:
        assert zf.namelist() == ["one.Table.1.selections.txt"]
        table = zf.read("one.Table.1.selections.txt").decode().splitlines()
    assert table[0].split("\t")[:5] == [
        "Selection",
        "View",
        "Channel",
        "Begin Time (s)",
        "End Time (s)",
    ]
    assert len(table) == 3
    with zipfile.ZipFile(io.BytesIO(run_export(project, "audacity"))) as zf:
        text = zf.read("one.txt").decode()
    assert text.startswith("1.0\t2.0\tdog\n\\\t50.0\t900.0\n")


@pytest.fixture
def stored(project, media_root, tmp_path, django_capture_on_commit_callbacks):
    path = write_tone(tmp_path / "song.wav", duration_s=3.0)
    with django_capture_on_commit_callbacks(execute=True):
        (outcome,) = items_ingest(
            project=project, sources=[IngestSource(name="song.wav", path=path)], uploaded_by=None
        )
    item = outcome.item
    annotation = AnnotationFactory(item=item, state="submitted", clip_labels={"scene": ["park"]})
    SegmentFactory(annotation=annotation, start_s=0.5, end_s=1.5, label="dog")
    return item


def test_audiofolder_recordings(project, stored):
    with zipfile.ZipFile(io.BytesIO(run_export(project, "audiofolder"))) as zf:
        names = zf.namelist()
        meta = _csv(zf.read("metadata.csv"))
        audio = zf.read("data/song.wav")
    assert names == ["data/song.wav", "metadata.csv"]
    assert meta[0]["file_name"] == "data/song.wav"
    assert json.loads(meta[0]["clip_labels"]) == {"scene": ["park"]}
    assert sf.info(io.BytesIO(audio)).duration == pytest.approx(3.0)


def test_audiofolder_clips_cut_per_segment(project, stored):
    with zipfile.ZipFile(
        io.BytesIO(run_export(project, "audiofolder", options={"audiofolder": "clips"}))
    ) as zf:
        meta = _csv(zf.read("metadata.csv"))
        clip = zf.read(meta[0]["file_name"])
    assert (meta[0]["label"], meta[0]["start_s"], meta[0]["end_s"]) == ("dog", "0.5", "1.5")
    info = sf.info(io.BytesIO(clip))
    assert info.frames == 16000  # one second at 16 kHz


def test_audiofolder_skips_missing_audio(project, labelled):
    from backend.dataio.exports import ExportSpec, export_write

    out = io.BytesIO()
    outcome = export_write(project=project, spec=ExportSpec(fmt="audiofolder"), out=out)
    # items whose audio is not in storage are listed as skipped; the zip is still written
    assert [s.split(":")[0] for s in outcome["skipped"]] == ["one", "two"]
    assert zipfile.ZipFile(out).namelist() == ["metadata.csv"]

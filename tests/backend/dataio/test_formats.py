"""The pure readers and writers: good input, and every kind of bad input."""

from __future__ import annotations

import io
import json

from backend.dataio.formats import (
    csv_rows,
    label_studio,
    manifest,
    native,
    parse,
    predictions,
    tables,
)
from backend.dataio.formats.records import (
    AnnotationRecord,
    ItemRecord,
    RowError,
    SegmentRecord,
    Unmapped,
)
from tests.backend.dataio.conftest import records


def _errors(out):
    return [(r.row, r.field) for r in out if isinstance(r, RowError)]


# --- JSON array streaming ------------------------------------------------------------------


def test_json_array_is_read_element_by_element_across_chunks():
    big = [{"n": i, "pad": "x" * 5000} for i in range(40)]
    out = list(parse.iter_json_array(io.StringIO(json.dumps(big))))
    assert [v["n"] for _, v in out] == list(range(40))


def test_json_array_accepts_json_lines_and_a_single_object():
    assert [v for _, v in parse.iter_json_array(io.StringIO('{"a": 1}\n{"a": 2}\n'))] == [
        {"a": 1},
        {"a": 2},
    ]
    assert [v for _, v in parse.iter_json_array(io.StringIO('{\n "a": 1\n}'))] == [{"a": 1}]


def test_json_array_bad_input():
    assert _errors(parse.iter_json_array(io.StringIO('[{"a": 1}, {"a": '))) == [(2, "")]
    assert _errors(parse.iter_json_array(io.StringIO('[{"a": 1}'))) == [(2, "")]
    assert _errors(parse.iter_json_array(io.StringIO("hello"))) == [(1, "")]


# --- native ---------------------------------------------------------------------------------


def test_native_bad_lines_name_row_and_field():
    text = "".join(
        json.dumps(x) + "\n"
        for x in [
            {"type": "earmark", "version": 1, "project": {"name": "p"}},
            {"type": "item", "sha256": "a", "duration_s": "long"},
            {
                "type": "item",
                "external_id": "x",
                "annotations": [{"state": "done", "segments": [{"start_s": 1}]}],
            },
            {"type": "model_version", "version": 0, "kind": "k"},
            {"type": "widget"},
            [1, 2],
        ]
    )
    errors = _errors(records(native.read, text))
    assert (2, "duration_s") in errors
    assert (3, "annotations.0.state") in errors
    assert (3, "annotations.0.segments.0.end_s") in errors
    assert (3, "annotations.0.segments.0.label") in errors
    assert (4, "version") in errors
    assert (5, "type") in errors
    assert (6, "") in errors


def test_native_item_needs_an_identity():
    text = (
        json.dumps({"type": "earmark", "version": 1, "project": {}})
        + "\n"
        + json.dumps({"type": "item"})
        + "\n"
    )
    assert _errors(records(native.read, text)) == [(2, "external_id")]


# --- manifest -------------------------------------------------------------------------------


def test_manifest_csv_rows_with_metadata_labels_and_segments():
    text = (
        "path,external_id,site,clip_labels,segments,annotator\n"
        "a/1.wav,,north,scene=park;tags=speech|music,"
        '"[{""start_s"": 1, ""end_s"": 2, ""label"": ""dog""}]",ann\n'
        "a/2.wav,two,south,,,\n"
    )
    one, two = records(manifest.read, text)
    assert one.external_id == "a/1.wav"
    assert one.original_name == "1.wav"
    assert one.metadata == {"site": "north"}
    assert one.annotations[0].clip_labels == {"scene": ["park"], "tags": ["speech", "music"]}
    assert one.annotations[0].segments == (SegmentRecord(1.0, 2.0, "dog"),)
    assert one.annotations[0].annotator == "ann"
    assert (two.external_id, two.annotations) == ("two", ())


def test_manifest_jsonl_is_sniffed():
    text = '\n {"path": "x.wav", "metadata": {"a": 1}, "clip_labels": {"scene": "park"}}\n'
    (item,) = records(manifest.read, text)
    assert item.metadata == {"a": 1}
    assert item.annotations[0].clip_labels == {"scene": ["park"]}


def test_manifest_bad_input():
    csv_text = (
        "path,duration_s,segments,clip_labels\n"
        ",1,,\n"  # no path
        "b.wav,long,,\n"  # not a number
        "c.wav,,[oops,\n"  # bad JSON
        "d.wav,,,scene\n"  # no '='
        "e.wav,1\n"  # too few cells
    )
    assert _errors(records(manifest.read, csv_text)) == [
        (2, "path"),
        (3, "duration_s"),
        (4, "segments"),
        (5, "clip_labels"),
        (6, ""),
    ]
    assert _errors(records(manifest.read, "name,site\nx,y\n")) == [(1, "path")]
    assert _errors(records(manifest.read, '{"path": "a"}\n{"path": \n[1]\n')) == [(2, ""), (3, "")]


# --- Label Studio ---------------------------------------------------------------------------


def _ls_task():
    return {
        "id": 7,
        "data": {"audio": "/data/upload/1/rec.wav", "site": "A"},
        "annotations": [
            {
                "completed_by": {"email": "ann@example.org"},
                "lead_time": 12.5,
                "result": [
                    {
                        "id": "r1",
                        "from_name": "label",
                        "to_name": "audio",
                        "type": "labels",
                        "original_length": 9.5,
                        "value": {"start": 1, "end": 2, "labels": ["dog"]},
                    },
                    {
                        "id": "r1",
                        "from_name": "note",
                        "to_name": "audio",
                        "type": "textarea",
                        "value": {"start": 1, "end": 2, "text": ["barks"]},
                    },
                    {
                        "id": "r2",
                        "from_name": "kind",
                        "to_name": "audio",
                        "type": "choices",
                        "value": {"start": 3, "end": 4, "choices": ["bird"]},
                    },
                    {
                        "id": "c",
                        "from_name": "place",
                        "to_name": "audio",
                        "type": "choices",
                        "value": {"choices": ["park"]},
                    },
                    {
                        "id": "x",
                        "from_name": "stars",
                        "to_name": "audio",
                        "type": "rating",
                        "value": {"rating": 3},
                    },
                    {
                        "id": "t",
                        "from_name": "summary",
                        "to_name": "audio",
                        "type": "textarea",
                        "value": {"text": ["nice"]},
                    },
                ],
            },
            {"completed_by": 3, "was_cancelled": True, "result": []},
        ],
        "predictions": [
            {
                "model_version": "birdnet",
                "score": 0.5,
                "result": [
                    {
                        "id": "p",
                        "from_name": "label",
                        "to_name": "audio",
                        "type": "labels",
                        "score": 0.9,
                        "value": {"start": 0.5, "end": 1.5, "labels": ["bird"]},
                    },
                    {
                        "from_name": "scene",
                        "to_name": "audio",
                        "type": "choices",
                        "value": {"choices": ["street"]},
                    },
                ],
            },
        ],
    }


def test_label_studio_maps_regions_choices_text_and_reports_the_rest():
    out = records(
        label_studio.read, json.dumps([_ls_task()]), clip_groups={"scene": ["park", "street"]}
    )
    unmapped = [r.what for r in out if isinstance(r, Unmapped)]
    (item,) = [r for r in out if isinstance(r, ItemRecord)]
    assert item.external_id == "/data/upload/1/rec.wav"
    assert item.duration_s == 9.5
    assert item.metadata == {"site": "A"}
    done, skipped = item.annotations
    assert done.annotator == "ann@example.org"
    assert done.lead_time_s == 12.5
    assert done.clip_labels == {"scene": ["park"]}  # "place" mapped by its labels
    assert done.segments == (
        SegmentRecord(1.0, 2.0, "dog", text="barks"),
        SegmentRecord(3.0, 4.0, "bird"),
    )
    assert (skipped.annotator, skipped.state) == ("label-studio-3", "skipped")
    (pred,) = item.predictions
    assert pred.model_name == "birdnet"
    assert pred.clip_scores == {"scene": {"street": 0.5}}
    assert pred.segments[0]["score"] == 0.9
    assert any("rating" in u for u in unmapped)
    assert any("outside a region" in u for u in unmapped)


def test_label_studio_bad_input():
    tasks = [
        {"data": {}},
        {
            "data": {"audio": "a.wav"},
            "annotations": [
                {
                    "result": [
                        {
                            "id": "r",
                            "type": "labels",
                            "value": {"start": "x", "end": 2, "labels": ["dog"]},
                        },
                        {
                            "id": "q",
                            "type": "labels",
                            "value": {"start": 1, "end": 2, "labels": "dog"},
                        },
                    ]
                }
            ],
        },
        {"data": {"audio": "b.wav"}, "annotations": "none"},
        "task",
    ]
    errors = _errors(records(label_studio.read, json.dumps(tasks)))
    assert (1, "data.audio") in errors
    assert (2, "annotations.0.result.0.value.start") in errors
    assert (3, "annotations") in errors
    assert (4, "") in errors
    assert _errors(records(label_studio.read, '[{"data": {"audio": "a"}} {')) == [(2, "")]


def test_label_studio_writer_round_trips_through_the_reader():
    item = ItemRecord(
        row=1,
        external_id="e1",
        storage_key="a/b.wav",
        original_name="b.wav",
        duration_s=5.0,
        metadata={"site": "x"},
        annotations=(
            AnnotationRecord(
                "ann",
                clip_labels={"scene": ["park"]},
                segments=(SegmentRecord(1.0, 2.0, "dog", text="t"),),
                lead_time_s=3.0,
            ),
            AnnotationRecord("other", state="skipped"),
        ),
    )
    buf = io.StringIO()
    label_studio.write(buf, [item], model_names={})
    (back,) = [r for r in records(label_studio.read, buf.getvalue()) if isinstance(r, ItemRecord)]
    assert back.annotations == item.annotations
    assert (back.external_id, back.storage_key, back.metadata) == ("e1", "a/b.wav", {"site": "x"})


# --- Raven and Audacity ---------------------------------------------------------------------

RAVEN = (
    "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\t"
    "Low Freq (Hz)\tHigh Freq (Hz)\tSpecies\n"
    "1\tWaveform 1\t1\t1.0\t2.0\t100\t2000\tdog\n"
    "1\tSpectrogram 1\t1\t1.0\t2.0\t100\t2000\tdog\n"
    "2\tSpectrogram 1\t1\t3.5\t4.0\t\t\tbird\n"
)


def test_raven_one_file_table():
    (item,) = records(tables.read_raven, RAVEN, target="rec1")
    assert item.match_only
    assert item.external_id == "rec1"
    assert item.annotations[0].segments == (
        SegmentRecord(1.0, 2.0, "dog", 100.0, 2000.0),
        SegmentRecord(3.5, 4.0, "bird"),
    )


def test_raven_multi_file_table_groups_by_begin_file():
    text = (
        "Selection\tBegin File\tBegin Time (s)\tEnd Time (s)\tAnnotation\n"
        "1\ta.wav\t0\t1\tdog\n2\tb.wav\t0\t2\tbird\n3\ta.wav\t2\t3\tbird\n"
    )
    a, b = records(tables.read_raven, text, target="ignored")
    assert (a.external_id, len(a.annotations[0].segments)) == ("a.wav", 2)
    assert (b.external_id, len(b.annotations[0].segments)) == ("b.wav", 1)


def test_raven_bad_input():
    assert _errors(records(tables.read_raven, "", target="x")) == [(1, "")]
    assert _errors(records(tables.read_raven, "Begin Time (s)\tLabel\n", target="x")) == [
        (1, "End Time (s)")
    ]
    assert _errors(records(tables.read_raven, "Begin Time (s)\tEnd Time (s)\n", target="x")) == [
        (1, "label")
    ]
    bad = "Begin Time (s)\tEnd Time (s)\tLabel\nx\t2\tdog\n1\t2\t\n1\n"
    assert _errors(records(tables.read_raven, bad, target="x")) == [
        (2, "Begin Time (s)"),
        (3, "Label"),
        (4, ""),
    ]


def test_audacity_labels_with_frequency_lines():
    text = "1.0\t2.0\tdog\n\\\t100.0\t2000.0\n3.0\t3.0\tclick\n4.5\t5.0\tbird song\n"
    out = records(tables.read_audacity, text, target="rec")
    (item,) = [r for r in out if isinstance(r, ItemRecord)]
    assert item.annotations[0].segments == (
        SegmentRecord(1.0, 2.0, "dog", 100.0, 2000.0),
        SegmentRecord(4.5, 5.0, "bird song"),
    )
    assert [r.what for r in out if isinstance(r, Unmapped)] == [
        "point label 'click' at 3.0 s (Earmark keeps spans)"
    ]


def test_audacity_bad_input():
    text = "\\\t1\t2\n1.0\tdog\nx\t2\tdog\n1\t2\tdog\n\\\tlow\t9\n"
    assert _errors(records(tables.read_audacity, text, target="r")) == [
        (1, ""),
        (2, ""),
        (3, "start_s"),
        (5, "low_hz"),
    ]


def test_table_writers():
    segs = [
        (SegmentRecord(1.0, 2.5, "dog", 100.0, 900.0), "ann"),
        (SegmentRecord(3.0, 4.0, "bird"), "b"),
    ]
    raven = tables.raven_table(segs)
    back = records(tables.read_raven, raven, target="r")
    assert back[0].annotations[0].segments == tuple(s for s, _ in segs)
    audacity = tables.audacity_labels(s for s, _ in segs)
    assert audacity == "1.0\t2.5\tdog\n\\\t100.0\t900.0\n3.0\t4.0\tbird\n"


# --- predictions and CSV --------------------------------------------------------------------


def test_predictions_reader_and_bad_input():
    text = (
        json.dumps(
            {"external_id": "a", "clip_scores": {"scene": {"park": 0.9}}, "uncertainty": 0.1}
        )
        + "\n"
        + json.dumps({"clip_scores": {}})
        + "\n"
        + json.dumps({"sha256": "f" * 64, "clip_scores": {"scene": {"park": "high"}}})
        + "\n"
        + json.dumps({"external_id": "b", "segments": [{"start_s": 1, "end_s": 2}]})
        + "\n"
        + "nope\n"
    )
    out = records(predictions.read, text)
    ok = [r for r in out if isinstance(r, ItemRecord)]
    assert ok[0].predictions[0].clip_scores == {"scene": {"park": 0.9}}
    assert _errors(out) == [
        (2, "external_id"),
        (3, "clip_scores.scene.park"),
        (4, "segments.0.label"),
        (5, ""),
    ]


def test_csv_has_one_row_per_clip_label_and_per_segment_with_times():
    item = ItemRecord(
        row=1,
        external_id="e",
        original_name="a.wav",
        duration_s=3.0,
        annotations=(
            AnnotationRecord(
                "ann",
                clip_labels={"tags": ["speech", "music"]},
                segments=(SegmentRecord(0.25, 1.5, "dog", text="x"),),
            ),
        ),
    )
    buf = io.StringIO()
    csv_rows.write(buf, [item], model_names={})
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("external_id,sha256,original_name")
    assert lines[1:] == [
        "e,,a.wav,3.0,ann,submitted,clip,tags,speech,,,,,,",
        "e,,a.wav,3.0,ann,submitted,clip,tags,music,,,,,,",
        "e,,a.wav,3.0,ann,submitted,segment,,dog,0.25,1.5,,,x,",
    ]

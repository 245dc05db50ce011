"""The import's shortcuts for well-formed rows agree with the full checks they skip."""

from __future__ import annotations

import itertools
import random

import pytest

from backend.annotations.models import Annotation
from backend.annotations.validation import validate_segments
from backend.audio.models import AudioItem
from backend.common.exceptions import ValidationFailed
from backend.dataio.formats import parse
from backend.dataio.formats.records import SegmentRecord
from backend.dataio.services import ImportOptions, ImportReport, _Importer
from backend.projects.models import Project
from tests.backend.dataio.conftest import jsonl, run_import


def _slow_annotation(value, monkeypatch):
    problems = parse.Problems(1)
    with monkeypatch.context() as m:
        m.setattr(parse, "_fast_annotation", lambda value: None)
        record = parse.annotation(value, "annotations.0", problems)
    return record, problems.errors


ANNOTATIONS = [
    {"annotator": "ann", "state": "submitted", "clip_labels": {"scene": ["park"]}},
    {
        "annotator": "ann",
        "state": "draft",
        "clip_labels": {"scene": ["park", "street"], "tags": []},
        "segments": [{"start_s": 1, "end_s": 2.5, "label": "dog", "text": "bark"}],
        "lead_time_s": 12,
        "submitted_at": "2026-01-02T03:04:05Z",
        "is_reference": True,
        "review_state": "accepted",
    },
    {"annotator": "ann", "lead_time_s": None, "submitted_at": "", "reviews": []},
    {"annotator": "ann", "segments": [{"start_s": 1, "end_s": 2, "label": "dog", "low_hz": 5}]},
    # each of these needs the full checks: an error to name, or a shape they normalise
    {"annotator": 7, "state": "submitted"},
    {"annotator": "", "state": "submitted"},
    {"annotator": "ann", "state": None},
    {"annotator": "ann", "state": "finished"},
    {"annotator": "ann", "lead_time_s": True},
    {"annotator": "ann", "lead_time_s": "1.5"},
    {"annotator": "ann", "lead_time_s": float("nan")},
    {"annotator": "ann", "submitted_at": 20260102},
    {"annotator": "ann", "is_reference": "yes"},
    {"annotator": "ann", "review_state": "done"},
    {"annotator": "ann", "clip_labels": {"scene": "park"}},
    {"annotator": "ann", "clip_labels": {"scene": [1]}},
    {"annotator": "ann", "clip_labels": ["park"]},
    {"annotator": "ann", "segments": {"start_s": 1}},
    {"annotator": "ann", "segments": [{"start_s": "1", "end_s": 2, "label": "dog"}]},
    {"annotator": "ann", "segments": [{"start_s": 1, "end_s": 2, "label": ""}]},
    {"annotator": "ann", "segments": ["dog"]},
    {"annotator": "ann", "reviews": {}},
    {"annotator": "ann", "reviews": [{"reviewer": "rev", "verdict": "accepted"}]},
    {"annotator": "ann", "unknown_key": 1},
]


@pytest.mark.parametrize("value", ANNOTATIONS)
def test_the_annotation_shortcut_reads_what_the_full_checks_read(value, monkeypatch):
    # given an annotation as a file gives it
    # when it is read with and without the shortcut
    problems = parse.Problems(1)
    record = parse.annotation(value, "annotations.0", problems)
    slow, slow_errors = _slow_annotation(value, monkeypatch)
    # then both give the same record and the same errors
    assert record == slow
    assert problems.errors == slow_errors


def test_the_annotation_shortcut_takes_the_common_shape():
    value = ANNOTATIONS[1]
    assert parse._fast_annotation(value) is not None
    assert parse._fast_annotation({"annotator": "ann", "lead_time_s": "1.5"}) is None


def _schema(*, overlap: bool, frequency: bool, text: bool) -> dict:
    return {
        "clip_groups": [{"name": "scene", "choice": "single", "labels": ["park", "street"]}],
        "segment_labels": [
            {"name": "dog", "color": "#e6194b"},
            {"name": "bird", "color": "#3cb44b"},
        ],
        "segments_overlap": overlap,
        "segment_frequency": frequency,
        "segment_text": text,
    }


def _random_segments(rng: random.Random) -> tuple[SegmentRecord, ...]:
    out = []
    for _ in range(rng.randint(0, 4)):
        start = rng.choice([-1.0, 0.0, 0.5, 1.0, 2.0, 9.9995, 10.0])
        end = rng.choice([0.0, 0.5, 1.5, 2.0, 3.0, 10.0, 10.0005, 10.002, 11.0])
        low, high = rng.choice([(None, None), (None, None), (100.0, 2000.0), (None, 50.0)])
        out.append(
            SegmentRecord(
                start_s=start,
                end_s=end,
                label=rng.choice(["dog", "bird", "cat"]),
                low_hz=low,
                high_hz=high,
                text=rng.choice(["", "", "a note"]),
            )
        )
    return tuple(out)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overlap", "frequency", "text"), list(itertools.product([True, False], repeat=3))
)
def test_plain_segments_are_what_validate_segments_accepts(overlap, frequency, text):
    # given a project's schema and many random sets of segments, good and bad
    project = Project.objects.create(
        name="p", label_schema=_schema(overlap=overlap, frequency=frequency, text=text)
    )
    importer = _Importer(
        project=project, user=None, options=ImportOptions(), report=ImportReport(), on_progress=None
    )
    rng = random.Random(7)
    plain_seen = 0
    for _ in range(400):
        segments = _random_segments(rng)
        duration_s = rng.choice([0.0, 10.0])
        # when the shortcut and the full check look at them
        plain = importer._plain_segments(segments, duration_s)
        try:
            checked = validate_segments(
                importer.schema,
                [s.to_json() for s in segments],
                duration_s=duration_s or float("inf"),
                sample_rate_hz=10**9,
            )
        except ValidationFailed:
            checked = None
        # then the shortcut accepts only what the full check accepts, with the same rows
        if plain is not None:
            plain_seen += 1
            assert checked is not None
            assert plain == [
                (s.start_s, s.end_s, s.label, s.low_hz, s.high_hz, s.text) for s in checked
            ]
    assert plain_seen > 20


@pytest.mark.django_db
def test_new_items_get_their_queue_counters_with_the_insert(empty_project, manager_of):
    # given a file of references (no sha256) with submitted, draft, skipped and reference work
    user = manager_of(empty_project)
    header = {
        "type": "earmark",
        "version": 1,
        "project": {
            "name": "p",
            "label_schema": _schema(overlap=True, frequency=False, text=False),
        },
    }

    def ann(who, state, **extra):
        return {"annotator": who, "state": state, "clip_labels": {"scene": ["park"]}, **extra}

    items = [
        {
            "type": "item",
            "external_id": "a",
            "storage_key": "rec/a.wav",
            "annotations": [
                ann("p1", "submitted"),
                ann("p2", "submitted"),
                ann("p3", "draft"),
                ann("p4", "skipped"),
                ann("rev", "submitted", is_reference=True),
            ],
        },
        {"type": "item", "external_id": "b", "storage_key": "rec/b.wav"},
    ]
    # when it is imported
    report = run_import(
        empty_project, jsonl(header, *items), "native", user=user, check_files=False
    )
    # then the counters are those the queue's own recount gives
    assert report.rejected == 0, report.errors
    a = AudioItem.objects.get(project=empty_project, external_id="a")
    b = AudioItem.objects.get(project=empty_project, external_id="b")
    assert (a.active_annotations, a.submitted_annotations) == (2, 2)
    assert (b.active_annotations, b.submitted_annotations) == (0, 0)
    assert Annotation.objects.filter(item=a).count() == 5
    from backend.annotations.services import items_recount_slots

    items_recount_slots(item_ids=[a.pk, b.pk])
    a.refresh_from_db()
    assert (a.active_annotations, a.submitted_annotations) == (2, 2)


def _region(rid, start, end, labels, **extra):
    value = {"start": start, "end": end, "labels": labels}
    return {"id": rid, "type": "labels", "value": value, **extra}


def _choice(from_name, choices, **value):
    return {"from_name": from_name, "type": "choices", "value": {"choices": choices, **value}}


LABEL_STUDIO_RESULTS = [
    [
        _region("r1", 0.5, 1.5, ["dog"]),
        _region("r2", 2, 3, ["bird", "dog"]),
        _choice("s", ["park"]),
    ],
    [_choice("scene", ["park"]), _choice("other", ["street"])],
    [],
    # each of these needs the full checks: an error or a note to give, or regions to merge
    None,
    {"id": "r1"},
    [_region("r1", 0.5, 1.5, ["dog"]), _region("r1", 0.5, 1.5, ["bird"])],
    [_region("r1", 0.5, 1.5, ["dog"]), _choice("s", ["park"], start=0.5, end=1.5) | {"id": "r1"}],
    [_region("r1", "0.5", 1.5, ["dog"])],
    [_region("r1", True, 1.5, ["dog"])],
    [_region("r1", 0.5, float("inf"), ["dog"])],
    [_region("r1", 0.5, 1.5, [])],
    [_region("r1", 0.5, 1.5, "dog")],
    [_region(None, 0.5, 1.5, ["dog"])],
    [_region("r1", 0.5, 1.5, ["dog"], score=0.9)],
    [_region("r1", 0.5, 1.5, ["dog"], original_length=30)],
    [_choice("s", "park")],
    [_choice("s", [3])],
    [{"type": "textarea", "value": {"text": ["hi"]}}],
    [{"type": "rectanglelabels", "value": {}}],
    ["text"],
    [{"type": "labels", "value": None}],
]


@pytest.mark.parametrize("results", LABEL_STUDIO_RESULTS)
def test_the_label_studio_shortcut_reads_what_the_full_checks_read(results, monkeypatch):
    from backend.dataio.formats import label_studio

    groups = {"scene": frozenset({"park", "street"})}

    def read():
        problems, unmapped = parse.Problems(1), []
        out = label_studio._results(results, "annotations.0.result", problems, unmapped, groups)
        return out, problems.errors, unmapped

    fast = read()
    with monkeypatch.context() as m:
        m.setattr(label_studio, "_plain_results", lambda value, groups: None)
        slow = read()
    assert fast == slow


def test_the_label_studio_shortcut_takes_the_common_shape():
    from backend.dataio.formats import label_studio

    for results in LABEL_STUDIO_RESULTS[:3]:
        assert label_studio._plain_results(results, {}) is not None


@pytest.mark.django_db
def test_register_known_new_still_finds_items_that_exist(empty_project):
    # given an item registered already
    from backend.audio.services import RegisteredRef, items_register

    first = items_register(
        project=empty_project, connection=None, refs=[RegisteredRef(path="a.wav")], user=None
    )
    # when a caller that believes both refs new registers it again with a new one
    refs = [RegisteredRef(path="a.wav", active_annotations=3), RegisteredRef(path="b.wav")]
    result = items_register(
        project=empty_project, connection=None, refs=refs, user=None, known_new=True
    )
    # then the existing one is found, counted as existing and left unchanged
    assert (result.created, result.existing) == (1, 1)
    assert result.item_ids["a.wav"] == first.item_ids["a.wav"]
    assert AudioItem.objects.filter(project=empty_project).count() == 2
    assert AudioItem.objects.get(pk=first.item_ids["a.wav"]).active_annotations == 0


@pytest.mark.django_db
def test_segments_keep_awkward_text_and_frequency_bounds(empty_project, manager_of):
    # given segments whose text holds COPY's special characters, with frequency bounds
    from backend.annotations.models import Segment

    user = manager_of(empty_project)
    schema = _schema(overlap=True, frequency=True, text=True)
    header = {"type": "earmark", "version": 1, "project": {"name": "p", "label_schema": schema}}
    awkward = "tab\there\\back\nline\r\\N"
    item = {
        "type": "item",
        "external_id": "a",
        "storage_key": "rec/a.wav",
        "annotations": [
            {
                "annotator": "p1",
                "segments": [
                    {"start_s": 0.1, "end_s": 0.30000000000000004, "label": "dog", "text": awkward},
                    {"start_s": 1, "end_s": 2, "label": "bird", "low_hz": 100, "high_hz": 2e3},
                ],
            }
        ],
    }
    # when it is imported
    report = run_import(empty_project, jsonl(header, item), "native", user=user, check_files=False)
    # then the values are stored exactly
    assert report.rejected == 0, report.errors
    rows = list(
        Segment.objects.filter(annotation__item__project=empty_project)
        .order_by("start_s")
        .values_list("start_s", "end_s", "label", "low_hz", "high_hz", "text")
    )
    assert rows == [
        (0.1, 0.30000000000000004, "dog", None, None, awkward),
        (1.0, 2.0, "bird", 100.0, 2000.0, ""),
    ]

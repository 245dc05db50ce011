"""Numbers no column can hold, and JSON's non-standard constants: each is a row error that
names its field, and the batch writes nothing (never a crash of the reader or the insert)."""

from __future__ import annotations

import json

import pytest

from backend.audio.models import AudioItem
from backend.projects.models import Project
from tests.backend.dataio.conftest import run_import

pytestmark = pytest.mark.django_db

SCHEMA = {
    "clip_groups": [{"name": "scene", "choice": "single", "labels": ["park", "street"]}],
    "segment_labels": [{"name": "dog", "color": "#e6194b"}],
}
BIG = "1" + "0" * 400  # an integer JSON allows and no float holds
HEADER = json.dumps({"type": "earmark", "version": 1, "project": {"name": "x"}})


@pytest.fixture
def project(db: None) -> Project:
    return Project.objects.create(name="numbers", label_schema=SCHEMA)


def native_item(**fields: str) -> str:
    """A native item line; ``fields`` are raw JSON texts put in place."""
    parts = {
        "type": '"item"',
        "external_id": '"a"',
        "storage_key": '"a.wav"',
        "duration_s": "10",
    } | fields
    return "{" + ", ".join(f'"{k}": {v}' for k, v in parts.items()) + "}"


def annotation(**fields: str) -> str:
    parts = {"annotator": '"ann"', "segments": "[]"} | fields
    return "[{" + ", ".join(f'"{k}": {v}' for k, v in parts.items()) + "}]"


NATIVE_CASES = {
    "segment start": (
        native_item(
            annotations=annotation(segments=f'[{{"start_s": {BIG}, "end_s": 1, "label": "dog"}}]')
        ),
        "annotations.0.segments.0.start_s",
    ),
    "lead time": (
        native_item(annotations=annotation(lead_time_s=BIG)),
        "annotations.0.lead_time_s",
    ),
    "duration": (native_item(duration_s=BIG), "duration_s"),
    "size beyond bigint": (native_item(size_bytes=str(2**63)), "size_bytes"),
    "sample rate beyond integer": (native_item(sample_rate_hz=str(2**31)), "sample_rate_hz"),
    "channels beyond smallint": (native_item(channels="40000"), "channels"),
    "NaN in metadata": (native_item(metadata='{"x": NaN}'), "metadata.x"),
    "1e999 deep in metadata": (native_item(metadata='{"x": [1, {"y": 1e999}]}'), "metadata.x.1.y"),
    "1e999 duration": (native_item(duration_s="1e999"), "duration_s"),
    "Infinity in a segment": (
        native_item(
            annotations=annotation(segments='[{"start_s": 0, "end_s": Infinity, "label": "dog"}]')
        ),
        "annotations.0.segments.0.end_s",
    ),
    "1e999 segment end": (
        native_item(
            annotations=annotation(segments='[{"start_s": 0, "end_s": 1e999, "label": "dog"}]')
        ),
        "annotations.0.segments.0.end_s",
    ),
}


@pytest.mark.parametrize("case", sorted(NATIVE_CASES))
def test_a_native_line_with_a_number_out_of_range_is_a_row_error(project, case):
    line, field = NATIVE_CASES[case]
    report = run_import(project, HEADER + "\n" + line + "\n", "native", check_files=False)
    assert report.rejected == 1, report.to_json()
    errors = report.to_json()["errors"]
    assert [e["row"] for e in errors] == [2]
    assert errors[0]["field"] == field, errors
    assert not AudioItem.objects.filter(project=project).exists()


def ls_task(
    data: str = '{"audio": "a.wav"}', value: str = '{"start": 0, "end": 1, "labels": ["dog"]}'
) -> str:
    result = f'{{"id": "r", "type": "labels", "from_name": "l", "to_name": "a", "value": {value}}}'
    annotations = f'[{{"completed_by": {{"email": "ann"}}, "result": [{result}]}}]'
    return f'[{{"data": {data}, "annotations": {annotations}}}]'


LS_CASES = {
    "region start": (
        ls_task(value=f'{{"start": {BIG}, "end": 1, "labels": ["dog"]}}'),
        "annotations.0.result.0.value.start",
    ),
    "duration": (ls_task(data=f'{{"audio": "a.wav", "duration_s": {BIG}}}'), "data.duration_s"),
    "sha256 too long": (
        ls_task(data='{"audio": "a.wav", "sha256": "' + "f" * 70 + '"}'),
        "data.sha256",
    ),
    "1e999 in the data": (ls_task(data='{"audio": "a.wav", "site": 1e999}'), "data.site"),
    "NaN in meta": (
        '[{"data": {"audio": "a.wav"}, "meta": {"x": NaN}, "annotations": []}]',
        "meta.x",
    ),
}


@pytest.mark.parametrize("case", sorted(LS_CASES))
def test_a_label_studio_task_with_a_bad_value_is_a_row_error(project, case):
    text, field = LS_CASES[case]
    report = run_import(project, text, "label_studio", check_files=False)
    assert report.rejected == 1, report.to_json()
    errors = report.to_json()["errors"]
    assert [e["field"] for e in errors][:1] == [field], errors
    assert not AudioItem.objects.filter(project=project).exists()

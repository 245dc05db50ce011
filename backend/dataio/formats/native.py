"""Earmark's native format: JSON Lines, lossless, one line per item.

Line 1 is the header (``{"type": "earmark", "version": 1, "project": {...}}``: the project's
name, label schema and settings), then one ``model_version`` line per model version, then one
``item`` line per recording with its references, facts, annotations (by annotator username,
with segments and reviews) and predictions (by model version number). Lines are independent,
so a reader holds one item at a time and a writer writes as it goes. Database ids never
appear: items are known by ``external_id`` and ``sha256`` (the audio's SHA-256, 64 hexadecimal
characters, read in lower case), people by username.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal, TextIO

import msgspec

from backend.dataio.formats import parse
from backend.dataio.formats.records import (
    AnnotationRecord,
    ItemRecord,
    ModelVersionRecord,
    PredictionRecord,
    ProjectRecord,
    Record,
    RowError,
)

FORMAT_NAME = "earmark"
FORMAT_VERSION = 1
PROJECT_SETTINGS = (
    "instructions",
    "label_schema",
    "annotations_per_item",
    "queue_policy",
    "training_settings",
    "show_predictions",
)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def header_line(project: ProjectRecord) -> str:
    body = {"name": project.name, **{k: project.settings.get(k) for k in PROJECT_SETTINGS}}
    return _dumps({"type": FORMAT_NAME, "version": FORMAT_VERSION, "project": body}) + "\n"


def model_version_line(mv: ModelVersionRecord) -> str:
    return (
        _dumps(
            {
                "type": "model_version",
                "version": mv.version,
                "kind": mv.kind,
                "is_external": mv.is_external,
                "checkpoint_key": mv.checkpoint_key,
                "trained_on": mv.trained_on,
                "metrics": mv.metrics,
                "training_time_s": mv.training_time_s,
                "device": mv.device,
            }
        )
        + "\n"
    )


def annotation_json(a: AnnotationRecord) -> dict[str, Any]:
    return {
        "annotator": a.annotator,
        "state": a.state,
        "clip_labels": a.clip_labels,
        "segments": [s.to_json() for s in a.segments],
        "lead_time_s": a.lead_time_s,
        "submitted_at": a.submitted_at,
        "reviews": [
            {"reviewer": r.reviewer, "verdict": r.verdict, "comment": r.comment} for r in a.reviews
        ],
        "is_reference": a.is_reference,
        "review_state": a.review_state,
    }


def prediction_json(p: PredictionRecord) -> dict[str, Any]:
    return {
        "model_version": p.model_version,
        "clip_scores": p.clip_scores,
        "segments": list(p.segments),
        "uncertainty": p.uncertainty,
    }


def item_line(item: ItemRecord) -> str:
    return (
        _dumps(
            {
                "type": "item",
                "external_id": item.external_id,
                "sha256": item.sha256,
                "storage_key": item.storage_key,
                "connection": item.connection,
                "original_name": item.original_name,
                "format": item.format,
                "content_type": item.content_type,
                "size_bytes": item.size_bytes,
                "duration_s": item.duration_s,
                "sample_rate_hz": item.sample_rate_hz,
                "channels": item.channels,
                "metadata": item.metadata,
                "annotations": [annotation_json(a) for a in item.annotations],
                "predictions": [prediction_json(p) for p in item.predictions],
            }
        )
        + "\n"
    )


def write(
    out: TextIO,
    *,
    project: ProjectRecord,
    model_versions: Iterable[ModelVersionRecord],
    items: Iterable[ItemRecord],
) -> int:
    """Write a whole native file; returns the number of items written."""
    out.write(header_line(project))
    for mv in model_versions:
        out.write(model_version_line(mv))
    count = 0
    for item in items:
        out.write(item_line(item))
        count += 1
    return count


def read(fh: TextIO) -> Iterator[Record]:
    seen_header = False
    for number, line in enumerate(fh, start=1):
        if seen_header:
            # an item line of the common shape, decoded and checked in one pass in C; any
            # other line goes through the checks below, which name what is wrong
            item = _plain_item(number, line)
            if item is not None:
                yield item
                continue
        for entry in parse.json_line(number, line):
            if isinstance(entry, RowError):
                yield entry
                continue
            row, value = entry
            problems = parse.Problems(row)
            if not isinstance(value, dict):
                yield RowError(row, "", "each line must be a JSON object")
                continue
            kind = value.get("type")
            if kind == FORMAT_NAME:
                version = value.get("version")
                if version != FORMAT_VERSION:
                    yield RowError(row, "version", f"unsupported version {version!r}; expected 1")
                    continue
                seen_header = True
                yield _project(row, value, problems)
            elif not seen_header:
                yield RowError(row, "type", "the first line must be the earmark header")
                seen_header = True  # one error is enough; read on to report the items too
            elif kind == "model_version":
                yield from _model_version(row, value, problems)
            elif kind == "item":
                yield from _item(row, value, problems)
            else:
                yield RowError(row, "type", f"unknown line type {kind!r}")
            yield from problems.errors


def _project(row: int, value: dict[str, Any], problems: parse.Problems) -> ProjectRecord:
    body = parse.obj(value.get("project"), "project", problems)
    return ProjectRecord(
        row=row,
        name=parse.text(body.get("name"), "project.name", problems, max_length=200),
        settings={k: body[k] for k in PROJECT_SETTINGS if k in body},
    )


def _model_version(
    row: int, value: dict[str, Any], problems: parse.Problems
) -> Iterator[ModelVersionRecord]:
    version = value.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.add("version", "must be a positive integer")
        return
    kind = parse.text(value.get("kind"), "kind", problems, max_length=50)
    if not kind:
        problems.add("kind", "is required")
    training_time_s = parse.number(
        value.get("training_time_s"), "training_time_s", problems, optional=True
    )
    if problems.errors:
        return
    yield ModelVersionRecord(
        row=row,
        version=version,
        kind=kind,
        is_external=bool(value.get("is_external", False)),
        checkpoint_key=parse.text(value.get("checkpoint_key"), "checkpoint_key", problems),
        trained_on=parse.obj(value.get("trained_on"), "trained_on", problems),
        metrics=parse.obj(value.get("metrics"), "metrics", problems),
        training_time_s=training_time_s,
        device=parse.text(value.get("device"), "device", problems, max_length=50),
    )


# The largest value each integer column of an item holds (bigint, integer, smallint).
_SIZE_MAX = 2**63 - 1
_RATE_MAX = 2**31 - 1
_CHANNELS_MAX = 2**15 - 1


def _int(value: Any, path: str, problems: parse.Problems, *, maximum: int) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        problems.add(path, f"must be an integer from 0 to {maximum:,}")
        return 0
    return value


def _item(row: int, value: dict[str, Any], problems: parse.Problems) -> Iterator[ItemRecord]:
    external_id = parse.optional_text(
        value.get("external_id"), "external_id", problems, max_length=200
    )
    sha256 = parse.sha256(value.get("sha256"), "sha256", problems)
    if external_id is None and sha256 is None and not problems.errors:  # not if one was bad
        problems.add("external_id", "an item needs an external_id or a sha256")
    annotations = []
    for i, raw in enumerate(parse.array(value.get("annotations"), "annotations", problems)):
        ann = parse.annotation(raw, f"annotations.{i}", problems)
        if ann is not None:
            annotations.append(ann)
    predictions = []
    for i, raw in enumerate(parse.array(value.get("predictions"), "predictions", problems)):
        pred = parse.prediction(raw, f"predictions.{i}", problems, numbered=True)
        if pred is not None:
            predictions.append(pred)
    duration_s = parse.number(value.get("duration_s", 0), "duration_s", problems, optional=True)
    record = ItemRecord(
        row=row,
        external_id=external_id,
        sha256=sha256,
        storage_key=parse.text(value.get("storage_key"), "storage_key", problems),
        connection=parse.optional_text(
            value.get("connection"), "connection", problems, max_length=200
        ),
        original_name=parse.text(value.get("original_name"), "original_name", problems),
        format=parse.text(value.get("format"), "format", problems, max_length=10),
        content_type=parse.text(value.get("content_type"), "content_type", problems, max_length=50),
        size_bytes=_int(value.get("size_bytes"), "size_bytes", problems, maximum=_SIZE_MAX),
        duration_s=duration_s or 0.0,
        sample_rate_hz=_int(
            value.get("sample_rate_hz"), "sample_rate_hz", problems, maximum=_RATE_MAX
        ),
        channels=_int(value.get("channels"), "channels", problems, maximum=_CHANNELS_MAX),
        metadata=parse.obj(value.get("metadata"), "metadata", problems),
        annotations=tuple(annotations),
        predictions=tuple(predictions),
    )
    if not problems.errors:
        yield record


_Text10 = Annotated[str, msgspec.Meta(max_length=10)]
_Text50 = Annotated[str, msgspec.Meta(max_length=50)]
# a sha256 of any other form (upper case, empty, not a digest) goes through ``_item``
_Sha256 = Annotated[str, msgspec.Meta(pattern=parse.SHA256_STORED)]
_Text200 = Annotated[str, msgspec.Meta(max_length=200)]
_Text500 = Annotated[str, msgspec.Meta(max_length=500)]
_Size = Annotated[int, msgspec.Meta(ge=0, le=_SIZE_MAX)]
_Rate = Annotated[int, msgspec.Meta(ge=0, le=_RATE_MAX)]
_Channels = Annotated[int, msgspec.Meta(ge=0, le=_CHANNELS_MAX)]


class _ItemLine(msgspec.Struct):
    """An item line of the common shape, checked as it is decoded (in C, one pass), its
    annotations decoded straight into records. msgspec refuses NaN, Infinity and numbers
    beyond float's range, so every float here is finite (metadata included). Anything else
    fails to decode and goes through ``_item``, whose checks name what is wrong."""

    type: Literal["item"]
    external_id: _Text200 | None = None
    sha256: _Sha256 | None = None
    storage_key: _Text500 | None = None
    connection: _Text200 | None = None
    original_name: _Text500 | None = None
    format: _Text10 | None = None
    content_type: _Text50 | None = None
    size_bytes: _Size | None = None
    duration_s: float | None = None
    sample_rate_hz: _Rate | None = None
    channels: _Channels | None = None
    metadata: dict[str, Any] | None = None
    annotations: tuple[AnnotationRecord, ...] | None = None
    predictions: list[Any] | None = None


_ITEM_LINE = msgspec.json.Decoder(_ItemLine)


def _plain_item(row: int, line: str) -> ItemRecord | None:
    """What ``_item`` reads from a line of the common, well-formed shape; None for any other
    line (a header, a blank line, no JSON, a value to normalise or an error to name)."""
    try:
        value = _ITEM_LINE.decode(line)
    except parse.DECODE_ERRORS:
        return None
    external_id = value.external_id or None
    sha256 = value.sha256
    annotations = value.annotations or ()
    if (external_id is None and sha256 is None) or not parse.plain_annotations(annotations):
        return None
    predictions = []
    if value.predictions:
        problems = parse.Problems(row)
        for i, raw in enumerate(value.predictions):
            pred = parse.prediction(raw, f"predictions.{i}", problems, numbered=True)
            if pred is not None:
                predictions.append(pred)
        if problems.errors:
            return None
    return ItemRecord(
        row=row,
        external_id=external_id,
        sha256=sha256,
        storage_key=value.storage_key or "",
        connection=value.connection or None,
        original_name=value.original_name or "",
        format=value.format or "",
        content_type=value.content_type or "",
        size_bytes=value.size_bytes or 0,
        duration_s=value.duration_s or 0.0,
        sample_rate_hz=value.sample_rate_hz or 0,
        channels=value.channels or 0,
        metadata={} if value.metadata is None else value.metadata,
        annotations=annotations,
        predictions=tuple(predictions),
    )

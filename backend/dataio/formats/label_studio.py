"""Label Studio JSON: an array of tasks with ``annotations`` and ``predictions``.

Audio results map onto our schema like this: ``labels`` (a region, seconds) -> one segment per
label; ``choices`` -> clip labels of the group named by ``from_name`` (or the one group that has
every chosen label), or, when the result shares a region's ``id``, that segment's label if the
region has none; ``textarea`` sharing a region's ``id`` -> the segment's text. Anything else is
reported as unmapped. ``ground_truth`` marks the reference annotation (a reviewer's
correction). ``completed_by`` becomes the annotator: its ``username`` or ``email``
when it is an object, ``label-studio-<n>`` when it is a number, the importing user when absent.
Tasks are known by ``data.external_id``, else ``data.sha256`` (64 hexadecimal characters, read
in lower case), else their audio reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, TextIO

import msgspec

from backend.dataio.formats import parse
from backend.dataio.formats.records import (
    AnnotationRecord,
    ItemRecord,
    PredictionRecord,
    Record,
    RowError,
    SegmentRecord,
    Unmapped,
)

AUDIO_KEYS = ("audio", "url", "audio_url", "file", "path")
_DATA_KEYS = {"external_id", "original_name", "sha256", "duration_s"}
TO_NAME = "audio"
SEGMENT_FROM_NAME = "label"
TEXT_FROM_NAME = "text"


def read(fh: TextIO, *, clip_groups: Mapping[str, Iterable[str]] | None = None) -> Iterator[Record]:
    """Tasks one by one; ``clip_groups`` (group -> labels) helps map ``choices`` to groups."""
    groups = {g: frozenset(labels) for g, labels in (clip_groups or {}).items()}
    for entry in parse.iter_json_array(fh, _TASK.decode):
        if isinstance(entry, RowError):
            yield entry
            continue
        row, task = entry
        if type(task) is parse.Decoded:
            item = _plain_task(row, task.value, groups)
            if item is not None:
                yield item
                continue
            task = json.loads(task.text)
        yield from _task(row, task, groups)


def _task(row: int, task: Any, groups: Mapping[str, frozenset[str]]) -> Iterator[Record]:
    problems = parse.Problems(row)
    if not isinstance(task, dict):
        yield RowError(row, "", "each task must be an object")
        return
    data = parse.obj(task.get("data"), "data", problems)
    audio_key = next((k for k in AUDIO_KEYS if isinstance(data.get(k), str) and data[k]), None)
    if audio_key is None:
        problems.add("data.audio", f"the task has no audio reference (one of {list(AUDIO_KEYS)})")
        yield from problems.errors
        return
    ref = str(data[audio_key])
    external_id = parse.optional_text(
        data.get("external_id"), "data.external_id", problems, max_length=200
    )
    metadata = dict(parse.obj(task.get("meta"), "meta", problems))
    metadata.update({k: v for k, v in data.items() if k != audio_key and k not in _DATA_KEYS})
    unmapped: list[Unmapped] = []
    duration_hint = parse.number(data.get("duration_s"), "data.duration_s", problems, optional=True)
    annotations = []
    for i, raw in enumerate(parse.array(task.get("annotations"), "annotations", problems)):
        path = f"annotations.{i}"
        if not isinstance(raw, dict):
            problems.add(path, "must be an object")
            continue
        segs, clip, length = _results(
            raw.get("result"), f"{path}.result", problems, unmapped, groups
        )
        duration_hint = duration_hint or length
        state = "skipped" if raw.get("was_cancelled") else "submitted"
        lead = parse.number(raw.get("lead_time"), f"{path}.lead_time", problems, optional=True)
        annotations.append(
            AnnotationRecord(
                annotator=_annotator(raw.get("completed_by")),
                state=state,
                clip_labels={g: [lab for lab, _ in labels] for g, labels in clip.items()},
                segments=tuple(s for s, _ in segs),
                lead_time_s=lead or 0.0,
                submitted_at=parse.optional_text(
                    raw.get("created_at"), f"{path}.created_at", problems
                ),
                # a reviewer's correction is Label Studio's ground truth
                is_reference=raw.get("ground_truth") is True,
            )
        )
    predictions = []
    for i, raw in enumerate(parse.array(task.get("predictions"), "predictions", problems)):
        path = f"predictions.{i}"
        if not isinstance(raw, dict):
            problems.add(path, "must be an object")
            continue
        overall = parse.number(raw.get("score"), f"{path}.score", problems, optional=True)
        segs, clip, length = _results(
            raw.get("result"), f"{path}.result", problems, unmapped, groups
        )
        duration_hint = duration_hint or length
        name = raw.get("model_version")
        predictions.append(
            PredictionRecord(
                model_version=None,
                model_name=str(name) if name not in (None, "") else "label-studio",
                clip_scores={
                    g: {
                        lab: (s if s is not None else overall if overall is not None else 1.0)
                        for lab, s in labels
                    }
                    for g, labels in clip.items()
                },
                segments=tuple(
                    {
                        "start_s": s.start_s,
                        "end_s": s.end_s,
                        "label": s.label,
                        "score": score if score is not None else overall,
                        "low_hz": None,
                        "high_hz": None,
                    }
                    for s, score in segs
                ),
            )
        )
    sha256 = parse.sha256(data.get("sha256"), "data.sha256", problems)
    if problems.errors:
        yield from problems.errors
        return
    yield from unmapped
    yield ItemRecord(
        row=row,
        # An item known by its bytes keeps no external id; otherwise the audio reference is one.
        external_id=external_id or (None if sha256 else ref),
        sha256=sha256,
        storage_key=ref,
        original_name=str(data.get("original_name") or ref.rsplit("/", 1)[-1]),
        duration_s=duration_hint or 0.0,
        metadata=metadata,
        annotations=tuple(annotations),
        predictions=tuple(predictions),
    )


def _length(value: float, before: float | None) -> float | None:
    """A result's ``original_length`` (the recording's duration), if it is a finite number."""
    return float(value) if parse.finite_sum(value) else before


def _annotator(value: Any) -> str | None:
    if isinstance(value, dict):
        name = value.get("username") or value.get("email")
        return str(name)[:150] if name else None
    if isinstance(value, int) and not isinstance(value, bool):
        return f"label-studio-{value}"
    if isinstance(value, str) and value:
        return value[:150]
    return None


def _results(
    value: Any,
    path: str,
    problems: parse.Problems,
    unmapped: list[Unmapped],
    groups: Mapping[str, frozenset[str]],
) -> tuple[
    list[tuple[SegmentRecord, float | None]],
    dict[str, list[tuple[str, float | None]]],
    float | None,
]:
    """Segments (with scores), clip labels by group (with scores), and the audio's length."""
    plain = _plain_results(value, groups)
    if plain is not None:
        return plain
    regions: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    clip: dict[str, list[tuple[str, float | None]]] = {}
    length: float | None = None
    for j, res in enumerate(parse.array(value, path, problems)):
        rpath = f"{path}.{j}"
        if not isinstance(res, dict):
            problems.add(rpath, "must be an object")
            continue
        kind = res.get("type")
        val = res.get("value")
        if not isinstance(val, dict):
            problems.add(f"{rpath}.value", "must be an object")
            continue
        score = parse.number(res.get("score"), f"{rpath}.score", problems, optional=True)
        if isinstance(res.get("original_length"), int | float):
            length = _length(res["original_length"], length)
        rid = res.get("id")
        has_span = "start" in val or "end" in val
        if kind in ("labels", "choices", "textarea") and has_span and rid is not None:
            region = regions.setdefault(str(rid), {"labels": [], "choices": [], "text": []})
            if str(rid) not in order:
                order.append(str(rid))
            start = parse.number(val.get("start"), f"{rpath}.value.start", problems)
            end = parse.number(val.get("end"), f"{rpath}.value.end", problems)
            region.setdefault("start", start)
            region.setdefault("end", end)
            region.setdefault("score", score)
            key = {"labels": "labels", "choices": "choices", "textarea": "text"}[str(kind)]
            items = val.get(key)
            if isinstance(items, str):
                items = [items]
            if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
                problems.add(f"{rpath}.value.{key}", "must be a list of strings")
                continue
            region[key].extend(items)
            region.setdefault("row_path", rpath)
        elif kind == "choices":
            choices = val.get("choices")
            if not isinstance(choices, list) or not all(isinstance(x, str) for x in choices):
                problems.add(f"{rpath}.value.choices", "must be a list of strings")
                continue
            group = _group_for(str(res.get("from_name") or ""), choices, groups)
            clip.setdefault(group, []).extend((c, score) for c in choices)
        elif kind == "textarea":
            unmapped.append(
                Unmapped(
                    problems.row, f"{rpath}: text outside a region (Earmark keeps text on segments)"
                )
            )
        else:
            unmapped.append(
                Unmapped(problems.row, f"{rpath}: result type {kind!r} has no Earmark equivalent")
            )
    segments: list[tuple[SegmentRecord, float | None]] = []
    for rid in order:
        region = regions[rid]
        if region["start"] is None or region["end"] is None:
            continue
        labels = region["labels"] or region["choices"][:1]
        if region["labels"] and region["choices"]:
            unmapped.append(
                Unmapped(
                    problems.row,
                    f"{region['row_path']}: per-region choices {region['choices']} "
                    "beside a region label (a segment has one label)",
                )
            )
        if not labels:
            problems.add(f"{region['row_path']}.value.labels", "the region has no label")
            continue
        for label in labels:
            segments.append(
                (
                    SegmentRecord(
                        start_s=region["start"],
                        end_s=region["end"],
                        label=label,
                        text="\n".join(region["text"]),
                    ),
                    region["score"],
                )
            )
    return segments, clip, length


_NUMBER = (int, float)


def _plain_results(
    value: Any, groups: Mapping[str, frozenset[str]]
) -> (
    tuple[list[tuple[SegmentRecord, float | None]], dict[str, list[tuple[str, float | None]]], None]
    | None
):
    """What ``_results`` gives for the common, well-formed list (regions with labels, each
    its own id, and clip choices; no scores, text or lengths) in one pass; None sends
    anything else through ``_results``' checks, which name what is wrong."""
    if type(value) is not list:
        return None
    segments: list[tuple[SegmentRecord, float | None]] = []
    clip: dict[str, list[tuple[str, float | None]]] = {}
    seen: set[str] = set()
    for res in value:
        if type(res) is not dict or res.get("score") is not None or "original_length" in res:
            return None
        val = res.get("value")
        if type(val) is not dict:
            return None
        kind = res.get("type")
        if kind == "labels":
            rid = res.get("id")
            start: Any = val.get("start")
            end: Any = val.get("end")
            labels = val.get("labels")
            if (
                rid is None
                or str(rid) in seen
                or type(start) not in _NUMBER
                or type(end) not in _NUMBER
                or not parse.finite_sum(start, end)
                or type(labels) is not list
                or not labels
                or not all(type(x) is str for x in labels)
            ):
                return None
            seen.add(str(rid))
            start_s, end_s = float(start), float(end)
            segments += [(SegmentRecord(start_s, end_s, label), None) for label in labels]
        elif kind == "choices" and "start" not in val and "end" not in val:
            choices = val.get("choices")
            if type(choices) is not list or not all(type(x) is str for x in choices):
                return None
            group = _group_for(str(res.get("from_name") or ""), choices, groups)
            clip.setdefault(group, []).extend((c, None) for c in choices)
        else:
            return None
    return segments, clip, None


class _Span(msgspec.Struct):
    start: float
    end: float
    labels: Annotated[list[str], msgspec.Meta(min_length=1)]


class _Region(msgspec.Struct, tag_field="type", tag="labels"):
    value: _Span
    id: Any = None
    score: None = None
    original_length: Any = None


class _ChoiceValue(msgspec.Struct, forbid_unknown_fields=True):
    choices: list[str]


class _Choices(msgspec.Struct, tag_field="type", tag="choices"):
    value: _ChoiceValue
    from_name: Any = None
    score: None = None
    original_length: Any = None


class _Annotation(msgspec.Struct):
    result: list[_Region | _Choices] | None = None
    completed_by: Any = None
    was_cancelled: Any = None
    lead_time: float | None = None
    created_at: Any = None
    ground_truth: Any = None


class _Task(msgspec.Struct):
    """A task of the common shape (no predictions; results that ``_plain_results`` takes,
    or with an ``original_length``, as this format's writer gives them), checked as it is
    decoded, in C; ``_plain_task`` checks what types cannot say. Any other task fails to
    decode, or ``_plain_task`` gives it up, and ``_task`` reads it."""

    data: dict[str, Any]
    meta: dict[str, Any] | None = None
    annotations: list[_Annotation] | None = None
    predictions: list[Any] | None = None


_TASK = msgspec.json.Decoder(_Task)

# A frozen dataclass's __init__ sets each field with its own object.__setattr__ call; the 13
# records of a common task took a third of its reading so. These make the same objects (the
# same fields, in __dict__ in the same order; the classes run nothing after __init__) in one
# step. tests/backend/dataio/test_read_typed.py holds them to what __init__ makes.
_new = object.__new__
_set = object.__setattr__


def _segment(start_s: float, end_s: float, label: str) -> SegmentRecord:
    """``SegmentRecord(start_s, end_s, label)``."""
    segment = _new(SegmentRecord)
    _set(
        segment,
        "__dict__",
        {
            "start_s": start_s,
            "end_s": end_s,
            "label": label,
            "low_hz": None,
            "high_hz": None,
            "text": "",
            "score": None,
        },
    )
    return segment


def _annotation(
    annotator: str | None,
    state: str,
    clip_labels: dict[str, list[str]],
    segments: tuple[SegmentRecord, ...],
    lead_time_s: float,
    submitted_at: str | None,
    is_reference: bool,
) -> AnnotationRecord:
    """``AnnotationRecord`` of these fields (no reviews, review state pending)."""
    annotation = _new(AnnotationRecord)
    _set(
        annotation,
        "__dict__",
        {
            "annotator": annotator,
            "state": state,
            "clip_labels": clip_labels,
            "segments": segments,
            "lead_time_s": lead_time_s,
            "submitted_at": submitted_at,
            "reviews": (),
            "is_reference": is_reference,
            "review_state": "pending",
        },
    )
    return annotation


def _item(
    row: int,
    external_id: str | None,
    sha256: str | None,
    storage_key: str,
    original_name: str,
    duration_s: float,
    metadata: dict[str, Any],
    annotations: tuple[AnnotationRecord, ...],
) -> ItemRecord:
    """``ItemRecord`` of these fields (the others their defaults)."""
    item = _new(ItemRecord)
    _set(
        item,
        "__dict__",
        {
            "row": row,
            "external_id": external_id,
            "sha256": sha256,
            "storage_key": storage_key,
            "connection": None,
            "original_name": original_name,
            "format": "",
            "content_type": "",
            "size_bytes": 0,
            "duration_s": duration_s,
            "sample_rate_hz": 0,
            "channels": 0,
            "metadata": metadata,
            "annotations": annotations,
            "predictions": (),
            "match_only": False,
        },
    )
    return item


def _plain_task(row: int, task: _Task, groups: Mapping[str, frozenset[str]]) -> ItemRecord | None:
    """What ``_task`` yields for a typed task: its item, or None where ``_task`` would give
    errors or notes, or read a value differently from its type (it takes ``"1.5"`` for 1.5)."""
    if task.predictions:
        return None
    data = task.data
    for audio_key in AUDIO_KEYS:
        ref = data.get(audio_key)
        if isinstance(ref, str) and ref:
            break
    else:
        return None
    external_id = data.get("external_id")
    sha256 = data.get("sha256")
    duration_s = data.get("duration_s")
    if not (
        (external_id is None or (type(external_id) is str and len(external_id) <= 200))
        and (sha256 is None or parse.stored_sha256(sha256))
        and (duration_s is None or (type(duration_s) in _NUMBER and parse.finite_sum(duration_s)))
    ):
        return None
    metadata = dict(task.meta or {})
    metadata.update({k: v for k, v in data.items() if k != audio_key and k not in _DATA_KEYS})
    duration_hint = None if duration_s is None else float(duration_s)
    annotations = []
    for a in task.annotations or ():
        segments: list[SegmentRecord] = []
        clip: dict[str, list[str]] = {}
        seen: set[str] = set()
        length = None
        for res in a.result or ():
            if isinstance(res.original_length, _NUMBER):
                length = _length(res.original_length, length)
            if isinstance(res, _Region):
                rid = res.id
                if rid is None or (rid := str(rid)) in seen:
                    return None
                seen.add(rid)
                span = res.value
                for label in span.labels:
                    segments.append(_segment(span.start, span.end, label))
            else:
                choices = res.value.choices
                group = _group_for(str(res.from_name or ""), choices, groups)
                clip.setdefault(group, []).extend(choices)
        created_at = a.created_at
        if not (created_at is None or (type(created_at) is str and len(created_at) <= 500)):
            return None
        duration_hint = duration_hint or length
        annotations.append(
            _annotation(
                _annotator(a.completed_by),
                "skipped" if a.was_cancelled else "submitted",
                clip,
                tuple(segments),
                a.lead_time or 0.0,
                created_at or None,
                a.ground_truth is True,  # is_reference
            )
        )
    return _item(
        row,
        external_id or (None if sha256 else ref),
        sha256,
        ref,
        str(data.get("original_name") or ref.rsplit("/", 1)[-1]),
        duration_hint or 0.0,
        metadata,
        tuple(annotations),
    )


def _group_for(from_name: str, choices: list[str], groups: Mapping[str, frozenset[str]]) -> str:
    if from_name in groups or not groups:
        return from_name
    matching = [g for g, labels in groups.items() if set(choices) <= labels]
    return matching[0] if len(matching) == 1 else from_name


# --- writing -----------------------------------------------------------------------------


def task(item: ItemRecord, *, model_names: Mapping[int, str]) -> dict[str, Any]:
    """One Label Studio task for an item; region ids are stable: ``<item row>-<n>``."""
    data: dict[str, Any] = {"audio": item.storage_key}
    if item.external_id is not None:
        data["external_id"] = item.external_id
    if item.sha256:
        data["sha256"] = item.sha256
    data["original_name"] = item.original_name
    if item.duration_s:
        data["duration_s"] = item.duration_s
    annotations = []
    for a in item.annotations:
        if a.state == "draft":
            continue
        result = _clip_results(a.clip_labels) + _segment_results(a.segments, item.duration_s)
        annotations.append(
            {
                "completed_by": {"username": a.annotator},
                "was_cancelled": a.state == "skipped",
                "ground_truth": a.is_reference,
                "lead_time": a.lead_time_s,
                "created_at": a.submitted_at,
                "result": result,
            }
        )
    predictions = []
    for p in item.predictions:
        name = p.model_name or model_names.get(p.model_version or 0, f"v{p.model_version}")
        result = []
        for group, scores in p.clip_scores.items():
            if not scores:
                continue
            top = max(scores.items(), key=lambda kv: kv[1])
            result.append(_choices(group, [top[0]]) | {"score": top[1]})
        segs = [
            SegmentRecord(s["start_s"], s["end_s"], s["label"], score=s.get("score"))
            for s in p.segments
        ]
        for res, seg in zip(_segment_results(tuple(segs), item.duration_s), segs, strict=True):
            if seg.score is not None:
                res["score"] = seg.score
            result.append(res)
        predictions.append({"model_version": name, "result": result})
    return {
        "data": data,
        "meta": item.metadata,
        "annotations": annotations,
        "predictions": predictions,
    }


def _choices(group: str, labels: list[str]) -> dict[str, Any]:
    return {
        "from_name": group,
        "to_name": TO_NAME,
        "type": "choices",
        "value": {"choices": labels},
    }


def _clip_results(clip_labels: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    return [_choices(g, list(labels)) for g, labels in clip_labels.items() if labels]


def _segment_results(
    segments: tuple[SegmentRecord, ...], duration_s: float
) -> list[dict[str, Any]]:
    out = []
    for n, s in enumerate(segments):
        rid = f"s{n}"
        span = {"start": s.start_s, "end": s.end_s, "channel": 0}
        out.append(
            {
                "id": rid,
                "from_name": SEGMENT_FROM_NAME,
                "to_name": TO_NAME,
                "type": "labels",
                "original_length": duration_s,
                "value": {**span, "labels": [s.label]},
            }
        )
        if s.text:
            out.append(
                {
                    "id": rid,
                    "from_name": TEXT_FROM_NAME,
                    "to_name": TO_NAME,
                    "type": "textarea",
                    "value": {**span, "text": [s.text]},
                }
            )
    return out


def write(out: TextIO, items: Iterable[ItemRecord], *, model_names: Mapping[int, str]) -> int:
    """A JSON array, one task per line, written as the items come."""
    out.write("[")
    count = 0
    for item in items:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(task(item, model_names=model_names), ensure_ascii=False))
        count += 1
    out.write("\n]\n")
    return count

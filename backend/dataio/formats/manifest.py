"""Manifests: CSV or JSON Lines, one audio reference per row, with metadata and optionally
the clip labels and segments someone already gave it.

Columns (CSV) or keys (JSON Lines):

- ``path`` (required; ``file_name``, ``audio`` and ``file`` are accepted too): relative to the
  import's storage connection, or a key in Earmark's storage when there is none.
- ``external_id`` (defaults to ``path``), ``original_name`` (defaults to the path's basename),
  ``duration_s`` (optional; lets the import check segment times).
- ``metadata``: a JSON object; in CSV every other column goes into metadata as well.
- ``annotator`` (a username; default: the importing user), ``clip_labels`` (a JSON object
  ``{"group": ["label"]}``, or in CSV also ``group=label|label;group=label``), ``segments``
  (a JSON list of ``{"start_s", "end_s", "label", "low_hz", "high_hz", "text"}``).
"""

from __future__ import annotations

import csv
import json
import posixpath
from collections.abc import Iterator
from typing import Any, TextIO

from backend.dataio.formats import parse
from backend.dataio.formats.records import AnnotationRecord, ItemRecord, Record, RowError

PATH_KEYS = ("path", "file_name", "audio", "file")
KNOWN = {
    *PATH_KEYS,
    "external_id",
    "original_name",
    "duration_s",
    "metadata",
    "annotator",
    "clip_labels",
    "segments",
    "state",
}
# csv's default field limit (128 kB) is too small for a long segment list in one cell
csv.field_size_limit(16 * 1024 * 1024)


def sniff_is_json(head: str) -> bool:
    return head.lstrip().startswith("{")


def read(fh: TextIO) -> Iterator[Record]:
    """CSV or JSON Lines, told apart by the first character (``{`` means JSON Lines)."""
    head = fh.read(1)
    while head and head.isspace():
        head = fh.read(1)
    rest = _Prefixed(head, fh)
    if head == "{":
        yield from _read_jsonl(rest)
    else:
        yield from _read_csv(rest)


class _Prefixed:
    """A text stream with a few characters pushed back in front of it."""

    def __init__(self, prefix: str, fh: TextIO) -> None:
        self._prefix = prefix
        self._fh = fh

    def __iter__(self) -> Iterator[str]:
        first = self._fh.readline()
        yield self._prefix + first
        yield from self._fh


def _read_jsonl(fh: _Prefixed) -> Iterator[Record]:
    for number_, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RowError(number_, "", f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(value, dict):
            yield RowError(number_, "", "each line must be a JSON object")
            continue
        yield from _row(number_, value, metadata_extra={}, csv_cells=False)


def _read_csv(fh: _Prefixed) -> Iterator[Record]:
    reader = csv.reader(iter(fh))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield RowError(1, "", f"malformed CSV: {exc}")
        return
    header = [h.strip() for h in header]
    if not any(h in PATH_KEYS for h in header):
        yield RowError(1, "path", f"the header needs a 'path' column; it has {header}")
        return
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowError(reader.line_num, "", f"malformed CSV: {exc}")
            return
        row = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            yield RowError(row, "", f"has {len(cells)} cells; the header has {len(header)}")
            continue
        values = dict(zip(header, cells, strict=True))
        extra = {k: v for k, v in values.items() if k not in KNOWN and v != ""}
        yield from _row(row, values, metadata_extra=extra, csv_cells=True)


def _json_cell(value: Any, path: str, problems: parse.Problems) -> Any:
    if not isinstance(value, str) or value.strip() == "":
        return None if isinstance(value, str) else value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        problems.add(path, f"invalid JSON: {exc.msg}")
        return None


def _clip_cell(value: str, problems: parse.Problems) -> dict[str, list[str]]:
    """``{"scene": ["park"]}`` or ``scene=park;tags=speech|music``."""
    if value.strip().startswith("{"):
        return parse.clip_labels(
            _json_cell(value, "clip_labels", problems), "clip_labels", problems
        )
    out: dict[str, list[str]] = {}
    for part in value.split(";"):
        if not part.strip():
            continue
        group, sep, labels = part.partition("=")
        if not sep or not group.strip():
            problems.add("clip_labels", f"expected group=label, got {part!r}")
            continue
        out[group.strip()] = [x.strip() for x in labels.split("|") if x.strip()]
    return out


_LABELLED = ("metadata", "annotator", "clip_labels", "segments", "state", "duration_s")


def _row(
    row: int, values: dict[str, Any], *, metadata_extra: dict[str, Any], csv_cells: bool
) -> Iterator[Record]:
    path = values.get("path")
    external_id = values.get("external_id") or None
    name = values.get("original_name") or ""
    if (
        csv_cells
        and type(path) is str
        and path
        and len(path) <= 500
        and (external_id is None or len(external_id) <= 200)
        and len(name) <= 500
        and not any(values.get(k) for k in _LABELLED)
    ):
        # The common row of a big manifest, a reference with metadata: no checks to make.
        yield ItemRecord(
            row=row,
            external_id=external_id or path,
            storage_key=path,
            original_name=name or posixpath.basename(path),
            metadata=metadata_extra,
        )
        return
    problems = parse.Problems(row)
    path_key = next((k for k in PATH_KEYS if values.get(k) not in (None, "")), None)
    path = parse.text(values.get(path_key), path_key or "path", problems) if path_key else ""
    if not path:
        problems.add("path", "is required")
    external_id = parse.optional_text(
        values.get("external_id"), "external_id", problems, max_length=200
    )
    original_name = parse.text(values.get("original_name"), "original_name", problems)
    duration_s = parse.number(values.get("duration_s"), "duration_s", problems, optional=True)
    raw_meta = values.get("metadata")
    metadata = dict(metadata_extra)
    if csv_cells:
        raw_meta = _json_cell(raw_meta, "metadata", problems)
    metadata.update(parse.obj(raw_meta, "metadata", problems))
    annotator = parse.optional_text(values.get("annotator"), "annotator", problems, max_length=150)
    raw_clip = values.get("clip_labels")
    if csv_cells and isinstance(raw_clip, str):
        clip = _clip_cell(raw_clip, problems)
    else:
        clip = parse.clip_labels(raw_clip, "clip_labels", problems)
    raw_segs = values.get("segments")
    if csv_cells:
        raw_segs = _json_cell(raw_segs, "segments", problems)
    segs = parse.segments(raw_segs, "segments", problems)
    state = values.get("state") or "submitted"
    if state not in parse.ANNOTATION_STATES:
        problems.add("state", f"must be one of {list(parse.ANNOTATION_STATES)}")
    if problems.errors:
        yield from problems.errors
        return
    annotations: tuple[AnnotationRecord, ...] = ()
    if clip or segs:
        annotations = (
            AnnotationRecord(
                annotator=annotator, state=str(state), clip_labels=clip, segments=segs
            ),
        )
    yield ItemRecord(
        row=row,
        external_id=external_id or path,
        storage_key=path,
        original_name=original_name or posixpath.basename(path),
        duration_s=duration_s or 0.0,
        metadata=metadata,
        annotations=annotations,
    )

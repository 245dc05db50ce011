"""Raven selection tables and Audacity label files: segments of one recording as text.

Raven: tab-separated, ``Selection  View  Channel  Begin Time (s)  End Time (s)  Low Freq (Hz)
High Freq (Hz)  <label column>``; a table covering several files names each row's file in
``Begin File`` or ``Begin Path``. Audacity: ``start<TAB>end<TAB>label`` per line, optionally
followed by ``\\<TAB>low<TAB>high`` for the frequency range of the label before it.

Both readers group rows by the recording they belong to, so a table is held in memory while
it is read (tables describe one recording, or a few, not a dataset).
"""

from __future__ import annotations

import csv
import posixpath
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from backend.dataio.formats import parse
from backend.dataio.formats.records import (
    AnnotationRecord,
    ItemRecord,
    Record,
    RowError,
    SegmentRecord,
    Unmapped,
)

RAVEN_LABEL_COLUMNS = ("Annotation", "Label", "Species", "Class", "Sound Type", "label")
BEGIN = "Begin Time (s)"
END = "End Time (s)"
LOW = "Low Freq (Hz)"
HIGH = "High Freq (Hz)"


def _name_of(path: str) -> str:
    return posixpath.basename(path.replace("\\", "/"))


def read_raven(
    fh: TextIO, *, target: str, label_column: str | None = None, annotator: str | None = None
) -> Iterator[Record]:
    """Selections grouped per file: ``Begin File``/``Begin Path`` when the table has them,
    else every row belongs to ``target`` (an item's external id or file name)."""
    reader = csv.reader(fh, delimiter="\t")
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        yield RowError(1, "", "the table is empty")
        return
    except csv.Error as exc:
        yield RowError(1, "", f"malformed table: {exc}")
        return
    missing = [c for c in (BEGIN, END) if c not in header]
    if missing:
        yield RowError(1, missing[0], f"the header has no {missing[0]!r} column")
        return
    label_col = label_column or next((c for c in RAVEN_LABEL_COLUMNS if c in header), None)
    if label_col is None or label_col not in header:
        yield RowError(1, "label", f"no label column: name one of {list(RAVEN_LABEL_COLUMNS)}")
        return
    file_col = next((c for c in ("Begin File", "Begin Path") if c in header), None)
    by_file: dict[str, list[SegmentRecord]] = {}
    first_row: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    errors: list[RowError] = []
    for cells in reader:
        row = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) < len(header):
            errors.append(
                RowError(row, "", f"has {len(cells)} cells; the header has {len(header)}")
            )
            continue
        values = dict(zip(header, cells, strict=False))
        problems = parse.Problems(row)
        target_name = _name_of(values[file_col]) if file_col else target
        if not target_name:
            problems.add(file_col or "file", "is empty")
        # Raven lists a selection once per view (waveform, spectrogram): keep one.
        selection = values.get("Selection", "")
        if selection and (target_name, selection) in seen:
            continue
        seen.add((target_name, selection))
        start = parse.number(values[BEGIN], BEGIN, problems)
        end = parse.number(values[END], END, problems)
        low = parse.number(values.get(LOW), LOW, problems, optional=True)
        high = parse.number(values.get(HIGH), HIGH, problems, optional=True)
        label = values[label_col].strip()
        if not label:
            problems.add(label_col, "is empty")
        if problems.errors or start is None or end is None:
            errors.extend(problems.errors)
            continue
        by_file.setdefault(target_name, []).append(
            SegmentRecord(start_s=start, end_s=end, label=label, low_hz=low, high_hz=high)
        )
        first_row.setdefault(target_name, row)
    yield from errors
    for name, segs in by_file.items():
        yield _target(first_row[name], name, segs, annotator)


def _target(row: int, name: str, segs: list[SegmentRecord], annotator: str | None) -> ItemRecord:
    return ItemRecord(
        row=row,
        external_id=name,
        original_name=name,
        match_only=True,
        annotations=(AnnotationRecord(annotator=annotator, segments=tuple(segs)),),
    )


def read_audacity(fh: TextIO, *, target: str, annotator: str | None = None) -> Iterator[Record]:
    segs: list[SegmentRecord] = []
    errors: list[Record] = []
    first = 0
    for row, line in enumerate(fh, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        cells = line.split("\t")
        problems = parse.Problems(row)
        if cells[0] == "\\":
            if len(cells) < 3 or not segs:
                errors.append(RowError(row, "", "a frequency line must follow a label line"))
                continue
            low = parse.number(cells[1], "low_hz", problems)
            high = parse.number(cells[2], "high_hz", problems)
            if problems.errors:
                errors.extend(problems.errors)
                continue
            last = segs[-1]
            if low is not None and high is not None and low >= 0 and high > 0:
                segs[-1] = SegmentRecord(last.start_s, last.end_s, last.label, low, high, last.text)
            continue
        if len(cells) < 3:
            errors.append(RowError(row, "", "expected start<TAB>end<TAB>label"))
            continue
        start = parse.number(cells[0], "start_s", problems)
        end = parse.number(cells[1], "end_s", problems)
        label = "\t".join(cells[2:]).strip()
        if not label:
            problems.add("label", "is empty")
        if problems.errors or start is None or end is None:
            errors.extend(problems.errors)
            continue
        if start == end:
            errors.append(
                Unmapped(row, f"point label {label!r} at {start} s (Earmark keeps spans)")
            )
            continue
        first = first or row
        segs.append(SegmentRecord(start_s=start, end_s=end, label=label))
    yield from errors
    if segs:
        yield _target(first, target, segs, annotator)


def raven_table(
    segments: Iterable[tuple[SegmentRecord, Any]], *, label_column: str = "Annotation"
) -> str:
    """One Raven table; ``segments`` pairs each segment with the value of a ``Source`` column."""
    lines = [
        "\t".join(("Selection", "View", "Channel", BEGIN, END, LOW, HIGH, label_column, "Source"))
    ]
    for n, (s, source) in enumerate(segments, start=1):
        low = "" if s.low_hz is None else repr(s.low_hz)
        high = "" if s.high_hz is None else repr(s.high_hz)
        lines.append(
            "\t".join(
                (str(n), "Spectrogram 1", "1", repr(s.start_s), repr(s.end_s), low, high,
                 _clean(s.label), _clean(str(source)))
            )
        )  # fmt: skip
    return "\n".join(lines) + "\n"


def audacity_labels(segments: Iterable[SegmentRecord]) -> str:
    lines = []
    for s in segments:
        lines.append(f"{s.start_s!r}\t{s.end_s!r}\t{_clean(s.label)}")
        if s.low_hz is not None and s.high_hz is not None:
            lines.append(f"\\\t{s.low_hz!r}\t{s.high_hz!r}")
    return "\n".join(lines) + ("\n" if lines else "")


def _clean(value: str) -> str:
    return value.replace("\t", " ").replace("\n", " ").replace("\r", " ")

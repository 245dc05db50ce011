"""CSV export: one row per clip label and one per segment, times kept."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

from backend.dataio.formats.records import ItemRecord

COLUMNS = (
    "external_id",
    "sha256",
    "original_name",
    "duration_s",
    "source",  # the annotator's username, or "model:<name>" for predictions
    "state",
    "kind",  # "clip" or "segment"
    "group",
    "label",
    "start_s",
    "end_s",
    "low_hz",
    "high_hz",
    "text",
    "score",
)


def _blank(value: Any) -> Any:
    return "" if value is None else value


def rows(item: ItemRecord, *, model_names: Mapping[int, str]) -> Iterator[list[Any]]:
    base = [_blank(item.external_id), _blank(item.sha256), item.original_name, item.duration_s]
    for a in item.annotations:
        who = [a.annotator or "", a.state]
        for group, labels in a.clip_labels.items():
            for label in labels:
                yield [*base, *who, "clip", group, label, "", "", "", "", "", ""]
        for s in a.segments:
            yield [
                *base, *who, "segment", "", s.label, s.start_s, s.end_s,
                _blank(s.low_hz), _blank(s.high_hz), s.text, "",
            ]  # fmt: skip
    for p in item.predictions:
        name = p.model_name or model_names.get(p.model_version or 0, f"v{p.model_version}")
        who = [f"model:{name}", "prediction"]
        for group, scores in p.clip_scores.items():
            for label, score in scores.items():
                yield [*base, *who, "clip", group, label, "", "", "", "", "", score]
        for seg in p.segments:
            yield [
                *base, *who, "segment", "", seg["label"], seg["start_s"], seg["end_s"],
                _blank(seg.get("low_hz")), _blank(seg.get("high_hz")), "", _blank(seg.get("score")),
            ]  # fmt: skip


def header_line() -> str:
    """The first line ``write`` writes (for writers that write the rows themselves)."""
    return ",".join(COLUMNS) + "\n"


def write(out: TextIO, items: Iterable[ItemRecord], *, model_names: Mapping[int, str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for item in items:
        writer.writerows(rows(item, model_names=model_names))
        count += 1
    return count

"""Predictions of an external model, JSON Lines, the shape of our ``Prediction``::

    {"external_id": "rec-1", "clip_scores": {"scene": {"park": 0.9, "street": 0.1}},
     "segments": [{"start_s": 1.0, "end_s": 2.5, "label": "dog", "score": 0.8}],
     "uncertainty": 0.2}

Each line names its item by ``external_id`` or ``sha256`` (64 hexadecimal characters, read in
lower case) or ``original_name``; items are never created by a predictions import.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from backend.dataio.formats import parse
from backend.dataio.formats.records import ItemRecord, Record, RowError


def read(fh: TextIO) -> Iterator[Record]:
    for entry in parse.iter_json_lines(fh):
        if isinstance(entry, RowError):
            yield entry
            continue
        row, value = entry
        problems = parse.Problems(row)
        if not isinstance(value, dict):
            yield RowError(row, "", "each line must be a JSON object")
            continue
        external_id = parse.optional_text(
            value.get("external_id"), "external_id", problems, max_length=200
        )
        sha256 = parse.sha256(value.get("sha256"), "sha256", problems)
        name = parse.text(value.get("original_name"), "original_name", problems)
        if external_id is None and sha256 is None and not name and not problems.errors:
            problems.add("external_id", "name the item by external_id, sha256 or original_name")
        pred = parse.prediction(value, "", problems, numbered=False)
        if problems.errors or pred is None:
            yield from problems.errors
            continue
        yield ItemRecord(
            row=row,
            external_id=external_id,
            sha256=sha256,
            original_name=name,
            match_only=True,
            predictions=(pred,),
        )

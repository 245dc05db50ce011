"""Checks of one annotation against its project's label schema and its recording.

Pure functions: they take the parsed schema and the recording's facts and either return the
normalised content or raise ``ValidationFailed`` naming every field that is wrong, with paths
like ``segments.3.end_s`` that a client can map back to what the user sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from backend.common.exceptions import ValidationFailed
from backend.projects.schema import LabelSchema

# Browsers place region edges from pixels; a millisecond past the end is rounding, not intent.
END_TOLERANCE_S = 1e-3


@dataclass(frozen=True)
class SegmentData:
    start_s: float
    end_s: float
    label: str
    low_hz: float | None = None
    high_hz: float | None = None
    text: str = ""


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.fields.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            path, messages = next(iter(self.fields.items()))
            raise ValidationFailed(f"{path}: {messages[0]}", fields=self.fields)


def validate_clip_labels(schema: LabelSchema, clip_labels: Any) -> dict[str, list[str]]:
    errors = _Errors()
    if not isinstance(clip_labels, dict):
        errors.add("clip_labels", "must be an object mapping group name to a list of labels")
        errors.raise_if_any()
    out: dict[str, list[str]] = {}
    for group_name, labels in clip_labels.items():
        path = f"clip_labels.{group_name}"
        group = schema.group(group_name)
        if group is None:
            errors.add(path, f"unknown label group {group_name!r}")
            continue
        if isinstance(labels, str):
            labels = [labels]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            errors.add(path, "must be a list of labels")
            continue
        unknown = [x for x in labels if x not in group.labels]
        if unknown:
            errors.add(path, f"unknown label {unknown[0]!r}; expected one of {list(group.labels)}")
            continue
        if group.choice == "single" and len(labels) > 1:
            errors.add(path, "this group takes a single label")
            continue
        if labels:
            # Keep the schema's order so equal choices compare equal.
            out[group_name] = [x for x in group.labels if x in set(labels)]
    errors.raise_if_any()
    return out


def validate_segments(
    schema: LabelSchema,
    segments: list[dict[str, Any]],
    *,
    duration_s: float,
    sample_rate_hz: int,
) -> list[SegmentData]:
    errors = _Errors()
    nyquist_hz = sample_rate_hz / 2
    names = schema.segment_label_names
    out: list[SegmentData] = []
    for i, seg in enumerate(segments):
        p = f"segments.{i}"
        label = seg.get("label")
        start_s = float(seg["start_s"])
        end_s = float(seg["end_s"])
        ok = True
        if label not in names:
            errors.add(
                f"{p}.label", f"unknown segment label {label!r}; expected one of {sorted(names)}"
            )
            ok = False
        if start_s < 0:
            errors.add(f"{p}.start_s", "must not be negative")
            ok = False
        if start_s >= end_s:
            errors.add(f"{p}.end_s", f"must be greater than start_s ({start_s})")
            ok = False
        if end_s > duration_s + END_TOLERANCE_S:
            errors.add(f"{p}.end_s", f"is beyond the end of the recording ({duration_s:.3f} s)")
            ok = False
        low_hz, high_hz = seg.get("low_hz"), seg.get("high_hz")
        if not schema.segment_frequency and (low_hz is not None or high_hz is not None):
            errors.add(f"{p}.low_hz", "this project's segments carry no frequency bounds")
            ok = False
        elif low_hz is not None or high_hz is not None:
            if low_hz is None or high_hz is None:
                errors.add(f"{p}.high_hz", "give both low_hz and high_hz, or neither")
                ok = False
            else:
                if low_hz < 0:
                    errors.add(f"{p}.low_hz", "must not be negative")
                    ok = False
                if high_hz > nyquist_hz:
                    errors.add(
                        f"{p}.high_hz", f"is above the Nyquist frequency ({nyquist_hz:g} Hz)"
                    )
                    ok = False
                if low_hz >= high_hz:
                    errors.add(f"{p}.high_hz", f"must be greater than low_hz ({low_hz})")
                    ok = False
        text = seg.get("text") or ""
        if text and not schema.segment_text:
            errors.add(f"{p}.text", "this project's segments carry no text")
            ok = False
        if ok:
            out.append(
                SegmentData(
                    start_s=start_s,
                    end_s=min(end_s, duration_s),
                    label=str(label),
                    low_hz=None if low_hz is None else float(low_hz),
                    high_hz=None if high_hz is None else float(high_hz),
                    text=text,
                )
            )
    if not schema.segments_overlap and not errors.fields:
        ordered = sorted(range(len(out)), key=lambda k: out[k].start_s)
        for a, b in pairwise(ordered):
            if out[b].start_s < out[a].end_s:
                errors.add(
                    f"segments.{b}.start_s",
                    f"overlaps segment {a}; this project does not allow overlapping segments",
                )
    errors.raise_if_any()
    return out


def missing_required_groups(schema: LabelSchema, clip_labels: dict[str, list[str]]) -> list[str]:
    return [g.name for g in schema.clip_groups if g.required and not clip_labels.get(g.name)]

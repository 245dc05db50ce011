"""Event-based metrics for sound event detection (DCASE / sed_eval conventions).

A detected event matches a reference event of the same label when its onset is within
``onset_collar_s`` of the reference onset and its offset within
``max(offset_collar_s, offset_collar_rate * reference length)`` of the reference offset.
Each reference matches at most one detection and vice versa (maximum bipartite matching per
label, so the counts do not depend on the order of the events).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple


class Event(NamedTuple):
    """A labelled time span ``[start_s, end_s)`` in seconds of one recording."""

    start_s: float
    end_s: float
    label: str


@dataclass(frozen=True)
class EventMetrics:
    """Event-based scores over a set of recordings.

    ``f1``/``precision``/``recall`` pool every label's counts (micro average, the DCASE
    "overall" figure); ``macro_f1`` is the mean F1 over labels that occur in the reference or
    the detections. Per-label lists follow ``label_names``; ``support`` counts reference
    events. Collars as in the module docstring.
    """

    f1: float
    precision: float
    recall: float
    macro_f1: float
    label_names: list[str]
    per_label_f1: list[float]
    per_label_precision: list[float]
    per_label_recall: list[float]
    support: list[int]
    n_detected: int
    n_reference: int
    onset_collar_s: float
    offset_collar_s: float
    offset_collar_rate: float
    loss: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventMetrics:
        loss = data.get("loss")
        return cls(
            f1=float(data["f1"]),
            precision=float(data["precision"]),
            recall=float(data["recall"]),
            macro_f1=float(data["macro_f1"]),
            label_names=[str(v) for v in data["label_names"]],
            per_label_f1=[float(v) for v in data["per_label_f1"]],
            per_label_precision=[float(v) for v in data["per_label_precision"]],
            per_label_recall=[float(v) for v in data["per_label_recall"]],
            support=[int(v) for v in data["support"]],
            n_detected=int(data["n_detected"]),
            n_reference=int(data["n_reference"]),
            onset_collar_s=float(data["onset_collar_s"]),
            offset_collar_s=float(data["offset_collar_s"]),
            offset_collar_rate=float(data["offset_collar_rate"]),
            loss=None if loss is None else float(loss),
        )


def _matches(reference: Sequence[Event], detected: Sequence[Event], ok: Any) -> int:
    """Size of a maximum matching between reference and detected events (Kuhn's algorithm;
    event counts per label and recording are small)."""
    owner: dict[int, int] = {}

    def augment(ref: int, seen: set[int]) -> bool:
        for det in range(len(detected)):
            if det in seen or not ok(reference[ref], detected[det]):
                continue
            seen.add(det)
            if det not in owner or augment(owner[det], seen):
                owner[det] = ref
                return True
        return False

    return sum(augment(ref, set()) for ref in range(len(reference)))


def _f1(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0
    return f1, precision, recall


def event_metrics(
    reference: Sequence[Sequence[Event]],
    detected: Sequence[Sequence[Event]],
    *,
    label_names: Sequence[str],
    onset_collar_s: float = 0.2,
    offset_collar_s: float = 0.2,
    offset_collar_rate: float = 0.2,
    loss: float | None = None,
) -> EventMetrics:
    """Event-based F1 of ``detected`` against ``reference``: one list of events per
    recording, both in the same recording order. Labels outside ``label_names`` count as
    false positives/negatives of no label (ignored). Defaults: onset collar 200 ms, offset
    collar max(200 ms, 20 % of the reference event's length)."""
    if len(reference) != len(detected):
        raise ValueError("reference and detected need one list per recording each")
    names = [str(n) for n in label_names]

    def ok(ref: Event, det: Event) -> bool:
        offset_collar = max(offset_collar_s, offset_collar_rate * (ref.end_s - ref.start_s))
        return (
            abs(det.start_s - ref.start_s) <= onset_collar_s + 1e-9
            and abs(det.end_s - ref.end_s) <= offset_collar + 1e-9
        )

    tp = [0] * len(names)
    n_ref = [0] * len(names)
    n_det = [0] * len(names)
    for refs, dets in zip(reference, detected, strict=True):
        for index, name in enumerate(names):
            r = [e for e in refs if e.label == name]
            d = [e for e in dets if e.label == name]
            n_ref[index] += len(r)
            n_det[index] += len(d)
            if r and d:
                tp[index] += _matches(r, d, ok)
    per_label = [_f1(t, d - t, r - t) for t, d, r in zip(tp, n_det, n_ref, strict=True)]
    present = [i for i in range(len(names)) if n_ref[i] or n_det[i]]
    f1, precision, recall = _f1(sum(tp), sum(n_det) - sum(tp), sum(n_ref) - sum(tp))
    return EventMetrics(
        f1=f1,
        precision=precision,
        recall=recall,
        macro_f1=(sum(per_label[i][0] for i in present) / len(present)) if present else 0.0,
        label_names=names,
        per_label_f1=[p[0] for p in per_label],
        per_label_precision=[p[1] for p in per_label],
        per_label_recall=[p[2] for p in per_label],
        support=n_ref,
        n_detected=sum(n_det),
        n_reference=sum(n_ref),
        onset_collar_s=onset_collar_s,
        offset_collar_s=offset_collar_s,
        offset_collar_rate=offset_collar_rate,
        loss=loss,
    )

"""Consensus of several annotators on one item. Pure Python: plain values in, dataclasses out.

Clip labels: a majority vote per group. In a single-choice group the label with most votes
wins; when the top labels tie, nothing wins and the tie is flagged with its candidates. In a
multi-choice group each label is decided on its own: present when more than half of the
annotators chose it, flagged as tied when exactly half did.

Segments: segments of different annotators with the same label are matched by time overlap
(IoU of at least ``min_iou`` with the cluster formed so far, at most one segment per annotator
in a cluster) and merged into one consensus segment spanning the median start and median end
of its members, with a ``support`` count of the annotators behind it.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT_MIN_IOU = 0.3


@dataclass(frozen=True)
class SegmentInput:
    label: str
    start_s: float
    end_s: float
    low_hz: float | None = None
    high_hz: float | None = None


@dataclass(frozen=True)
class AnnotationInput:
    """One submitted annotation: who made it, its clip labels and its segments."""

    annotator_id: int
    clip_labels: Mapping[str, Sequence[str]]
    segments: Sequence[SegmentInput] = ()


@dataclass(frozen=True)
class ClipVote:
    group: str
    choice: str  # "single" or "multi"
    labels: tuple[str, ...]  # the consensus labels (empty when a single-choice vote tied)
    votes: dict[str, int]
    voters: int  # annotators who were asked (multi) or who answered (single)
    tied: bool
    tied_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsensusSegment:
    label: str
    start_s: float
    end_s: float
    support: int  # distinct annotators whose segments were merged into this one
    annotator_ids: tuple[int, ...]
    majority: bool  # support from more than half of the item's annotators
    low_hz: float | None = None
    high_hz: float | None = None


@dataclass(frozen=True)
class ItemConsensus:
    item_id: int
    annotator_ids: tuple[int, ...]
    clip: tuple[ClipVote, ...]
    segments: tuple[ConsensusSegment, ...]
    # annotation ids marked as reviewed truth for this item, if a reviewer corrected it
    reviewed_truth_ids: tuple[int, ...] = field(default=())

    @property
    def tied(self) -> bool:
        return any(v.tied for v in self.clip)


def clip_vote(
    group: str, choice: str, allowed: Sequence[str], annotations: Sequence[AnnotationInput]
) -> ClipVote:
    """The majority vote of one label group; labels outside ``allowed`` are ignored."""
    votes = dict.fromkeys(allowed, 0)
    for a in annotations:
        for label in set(a.clip_labels.get(group, ())):
            if label in votes:
                votes[label] += 1
    if choice == "multi":
        voters = len(annotations)
        present = tuple(lab for lab in allowed if 2 * votes[lab] > voters)
        tied_labels = tuple(lab for lab in allowed if voters and 2 * votes[lab] == voters)
        return ClipVote(group, choice, present, votes, voters, bool(tied_labels), tied_labels)
    voters = sum(
        1 for a in annotations if any(lab in votes for lab in a.clip_labels.get(group, ()))
    )
    top = max(votes.values(), default=0)
    if top == 0:
        return ClipVote(group, choice, (), votes, voters, False)
    leaders = tuple(lab for lab in allowed if votes[lab] == top)
    if len(leaders) > 1:
        return ClipVote(group, choice, (), votes, voters, True, leaders)
    return ClipVote(group, choice, leaders, votes, voters, False)


def _iou(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    inter = min(a_end, b_end) - max(a_start, b_start)
    if inter <= 0:
        return 0.0
    return inter / (max(a_end, b_end) - min(a_start, b_start))


@dataclass
class _Cluster:
    members: list[tuple[int, SegmentInput]]
    start_s: float
    end_s: float

    def add(self, annotator_id: int, segment: SegmentInput) -> None:
        self.members.append((annotator_id, segment))
        self.start_s = statistics.median(s.start_s for _, s in self.members)
        self.end_s = statistics.median(s.end_s for _, s in self.members)


def _median_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def segment_consensus(
    annotations: Sequence[AnnotationInput], *, min_iou: float = DEFAULT_MIN_IOU
) -> tuple[ConsensusSegment, ...]:
    """Segments of different annotators matched by label and overlap, merged, with support.

    Greedy in time order (start, end, annotator): each segment joins the overlapping cluster of
    its label with the highest IoU that has no segment of its annotator yet, or starts a new
    one. Every cluster is returned; ``support`` and ``majority`` let callers filter.
    """
    n_annotators = len({a.annotator_id for a in annotations})
    by_label: dict[str, list[tuple[int, SegmentInput]]] = {}
    for a in annotations:
        for s in a.segments:
            if s.end_s > s.start_s:
                by_label.setdefault(s.label, []).append((a.annotator_id, s))
    out: list[ConsensusSegment] = []
    for label, rows in by_label.items():
        rows.sort(key=lambda r: (r[1].start_s, r[1].end_s, r[0]))
        clusters: list[_Cluster] = []
        for annotator_id, seg in rows:
            best, best_iou = None, min_iou
            for cluster in clusters:
                if cluster.end_s <= seg.start_s or any(
                    m == annotator_id for m, _ in cluster.members
                ):
                    continue
                iou = _iou(seg.start_s, seg.end_s, cluster.start_s, cluster.end_s)
                if iou > 0 and iou >= best_iou and (best is None or iou > best_iou):
                    best, best_iou = cluster, iou
            if best is None:
                clusters.append(_Cluster([(annotator_id, seg)], seg.start_s, seg.end_s))
            else:
                best.add(annotator_id, seg)
        for cluster in clusters:
            ids = tuple(sorted(m for m, _ in cluster.members))
            out.append(
                ConsensusSegment(
                    label=label,
                    start_s=float(cluster.start_s),
                    end_s=float(cluster.end_s),
                    support=len(ids),
                    annotator_ids=ids,
                    majority=2 * len(ids) > n_annotators,
                    low_hz=_median_or_none([s.low_hz for _, s in cluster.members]),
                    high_hz=_median_or_none([s.high_hz for _, s in cluster.members]),
                )
            )
    out.sort(key=lambda c: (c.start_s, c.end_s, c.label))
    return tuple(out)


def item_consensus(
    item_id: int,
    annotations: Sequence[AnnotationInput],
    clip_groups: Sequence[tuple[str, str, Sequence[str]]],
    *,
    min_iou: float = DEFAULT_MIN_IOU,
    reviewed_truth_ids: Sequence[int] = (),
) -> ItemConsensus:
    """Consensus of one item; ``clip_groups`` are (name, "single"|"multi", labels) triples."""
    return ItemConsensus(
        item_id=item_id,
        annotator_ids=tuple(sorted({a.annotator_id for a in annotations})),
        clip=tuple(
            clip_vote(name, choice, labels, annotations) for name, choice, labels in clip_groups
        ),
        segments=segment_consensus(annotations, min_iou=min_iou),
        reviewed_truth_ids=tuple(reviewed_truth_ids),
    )

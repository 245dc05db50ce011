"""Each annotator against a reference: the consensus of the others, or the reviewed truth.

Pure numpy (and ``consensus.py`` for the rare tangled cases), no Django. Arrays are in the
report's long form: one row per submitted annotation (``unit`` is the item's index, ``rater``
the annotator's), one row per segment with the annotation row it belongs to.

Leave-one-out consensus: an annotator is compared with the consensus of the *other*
annotators of the item, so their own vote never props up their score (with the own vote
included, two annotators out of three agreeing would always agree with "the majority").
A consensus needs at least two other annotators: with one, it is that person, which the
"with others" figures already measure.

Segment consensus is ``consensus.segment_consensus`` (greedy clusters by label and IoU, merged
to median start and end), kept where its support is above half of the others. It is computed
here for every (item, left-out annotator) at once: segments of one label split into runs of
overlapping segments, and a run can only ever form clusters on its own (a cluster spans the
median start and end of its members, inside the run). A run of one segment is a cluster of
one; a run of two is one cluster when the two are by different people and their IoU reaches
``min_iou``, else two; longer runs, rare, go through ``segment_consensus`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.agreement import metrics
from backend.agreement.consensus import AnnotationInput, SegmentInput, segment_consensus
from backend.agreement.metrics import EventSettings, FloatArray, IntArray, SegmentPairwise

_US_PER_S = 1_000_000


@dataclass(frozen=True)
class SegmentRows:
    """Segments by annotation row: one row per segment; times in seconds."""

    row: IntArray  # annotation row (or, for references, comparison index)
    label: IntArray  # 0 .. n_labels-1
    start_s: FloatArray
    end_s: FloatArray


def loo_groups(unit_of_row: IntArray, min_others: int = 2) -> tuple[IntArray, IntArray]:
    """Annotation rows whose item has at least ``min_others`` other annotations, and the number
    of others of every row."""
    per_unit = np.bincount(unit_of_row) if len(unit_of_row) else np.zeros(0, dtype=np.int64)
    others = per_unit[unit_of_row] - 1 if len(unit_of_row) else np.zeros(0, dtype=np.int64)
    return np.flatnonzero(others >= min_others).astype(np.int64), others.astype(np.int64)


def loo_segment_consensus(
    segs: SegmentRows,
    unit_of_row: IntArray,
    rater_of_row: IntArray,
    *,
    min_iou: float,
    min_others: int = 2,
) -> SegmentRows:
    """Majority consensus segments of the others, for every annotation row with at least
    ``min_others`` other annotations on its item; ``row`` is the left-out annotation's row."""
    groups, others = loo_groups(unit_of_row, min_others)
    eligible = np.zeros(len(unit_of_row), dtype=bool)
    eligible[groups] = True
    # Every segment joins the group of every other eligible annotation of its item.
    seg_i, row_j = metrics.equi_join(unit_of_row[segs.row], unit_of_row)
    keep = (row_j != segs.row[seg_i]) & eligible[row_j]
    seg_i, group = seg_i[keep], row_j[keep]
    label = segs.label[seg_i]
    start, end = segs.start_s[seg_i], segs.end_s[seg_i]
    author = rater_of_row[segs.row[seg_i]]
    order = np.lexsort((author, end, start, label, group))
    group, label, start, end, author = (a[order] for a in (group, label, start, end, author))
    n = len(group)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SegmentRows(empty, empty, np.zeros(0), np.zeros(0))
    # Runs of overlapping segments within (group, label), in integer microseconds so the
    # running maximum of the ends is exact across groups.
    key = np.r_[True, (group[1:] != group[:-1]) | (label[1:] != label[:-1])]
    start_us = np.round(start * _US_PER_S).astype(np.int64)
    end_us = np.round(end * _US_PER_S).astype(np.int64)
    span = int(end_us.max() - min(int(start_us.min()), 0)) + 1
    rank = np.cumsum(key) - 1
    running = np.maximum.accumulate(end_us + rank * span) - rank * span
    previous_end = np.r_[np.iinfo(np.int64).min, running[:-1]]
    new_run = key | (start_us >= previous_end)
    run = np.cumsum(new_run) - 1
    size = np.bincount(run)
    run_size = size[run]
    first = np.flatnonzero(new_run)

    out_group: list[IntArray] = []
    out_label: list[IntArray] = []
    out_start: list[FloatArray] = []
    out_end: list[FloatArray] = []
    out_support: list[IntArray] = []
    # Runs of one: a cluster of one.
    single = run_size == 1
    out_group.append(group[single])
    out_label.append(label[single])
    out_start.append(start[single])
    out_end.append(end[single])
    out_support.append(np.ones(int(single.sum()), dtype=np.int64))
    # Runs of two: the second joins the first when by someone else with enough IoU.
    a = first[size == 2]
    b = a + 1
    inter = np.minimum(end[a], end[b]) - np.maximum(start[a], start[b])
    hull = np.maximum(end[a], end[b]) - np.minimum(start[a], start[b])
    iou = np.where(inter > 0, inter / np.where(hull > 0, hull, 1.0), 0.0)
    join = (author[a] != author[b]) & (iou >= min_iou) & (iou > 0)
    j = a[join]
    out_group.append(group[j])
    out_label.append(label[j])
    out_start.append((start[j] + start[j + 1]) / 2)
    out_end.append((end[j] + end[j + 1]) / 2)
    out_support.append(np.full(len(j), 2, dtype=np.int64))
    apart = np.concatenate([a[~join], b[~join]])
    out_group.append(group[apart])
    out_label.append(label[apart])
    out_start.append(start[apart])
    out_end.append(end[apart])
    out_support.append(np.ones(len(apart), dtype=np.int64))
    # Longer runs: the greedy clustering itself (plain lists: thousands of tiny runs).
    long_runs = np.flatnonzero(size > 2)
    members = np.concatenate(
        [np.arange(first[r], first[r] + size[r]) for r in long_runs.tolist()] or [np.zeros(0)]
    ).astype(np.int64)
    m_start, m_end = start[members].tolist(), end[members].tolist()
    m_author = author[members].tolist()
    fb_group: list[int] = []
    fb_label: list[int] = []
    fb_start: list[float] = []
    fb_end: list[float] = []
    fb_support: list[int] = []
    offset = 0
    for r, n_run in zip(long_runs.tolist(), size[long_runs].tolist(), strict=True):
        by_author: dict[int, list[SegmentInput]] = {}
        for k in range(offset, offset + n_run):
            by_author.setdefault(m_author[k], []).append(SegmentInput("", m_start[k], m_end[k]))
        offset += n_run
        clusters = segment_consensus(
            [AnnotationInput(who, {}, segments) for who, segments in by_author.items()],
            min_iou=min_iou,
        )
        lo = int(first[r])
        fb_group += [int(group[lo])] * len(clusters)
        fb_label += [int(label[lo])] * len(clusters)
        fb_start += [c.start_s for c in clusters]
        fb_end += [c.end_s for c in clusters]
        fb_support += [c.support for c in clusters]
    out_group.append(np.array(fb_group, dtype=np.int64))
    out_label.append(np.array(fb_label, dtype=np.int64))
    out_start.append(np.array(fb_start, dtype=np.float64))
    out_end.append(np.array(fb_end, dtype=np.float64))
    out_support.append(np.array(fb_support, dtype=np.int64))
    g = np.concatenate(out_group)
    support = np.concatenate(out_support)
    majority = 2 * support > others[g]
    return SegmentRows(
        g[majority].astype(np.int64),
        np.concatenate(out_label)[majority].astype(np.int64),
        np.concatenate(out_start)[majority],
        np.concatenate(out_end)[majority],
    )


def segments_versus(
    compared_row: IntArray,
    reference: SegmentRows,
    segs: SegmentRows,
    rater_of_row: IntArray,
    n_raters: int,
    n_labels: int,
    settings: EventSettings,
) -> SegmentPairwise:
    """Event matching and time overlap of annotators' segments against reference segments.

    ``compared_row[c]`` is the annotation row of comparison ``c``; ``reference.row`` names the
    comparison each reference segment belongs to. The reference is the matching's reference
    (its lengths set the offset collar). The result is indexed ``[n_raters, rater, label]``:
    an extra rater, the reference, against each annotator; comparisons where neither side has
    a segment count for nothing.
    """
    n_cmp = len(compared_row)
    seg_i, cmp_j = metrics.equi_join(segs.row, compared_row)
    reference_rater = n_raters
    unit = np.concatenate([cmp_j, reference.row]).astype(np.int64)
    rater = np.concatenate(
        [rater_of_row[compared_row[cmp_j]], np.full(len(reference.row), reference_rater)]
    ).astype(np.int64)
    combined = metrics.Segments(
        unit,
        rater,
        np.concatenate([segs.label[seg_i], reference.label]).astype(np.int64),
        np.concatenate([segs.start_s[seg_i], reference.start_s]),
        np.concatenate([segs.end_s[seg_i], reference.end_s]),
        n_labels,
    )
    index = np.arange(n_cmp, dtype=np.int64)
    pairs = metrics.RaterPairs(
        unit=index,
        rater_a=np.full(n_cmp, reference_rater, dtype=np.int64),
        rater_b=rater_of_row[compared_row].astype(np.int64),
        row_a=index,
        row_b=index,
    )
    return metrics.segment_pairwise(
        combined, index, pairs.rater_b, n_raters + 1, settings, pairs=pairs
    )


@dataclass(frozen=True)
class SegmentVersus:
    """Per annotator (and per annotator and label): event F1 and time IoU against a reference,
    with the events on both sides that were compared."""

    f1: FloatArray  # (n_raters,)
    iou: FloatArray
    events: IntArray  # reference events + the annotator's events compared
    f1_label: FloatArray  # (n_raters, n_labels)
    iou_label: FloatArray
    events_label: IntArray


def segment_versus_figures(result: SegmentPairwise, n_raters: int) -> SegmentVersus:
    m = result.matches[n_raters, :n_raters, :].astype(np.float64)
    n = (result.n_a + result.n_b)[n_raters, :n_raters, :].astype(np.float64)
    inter = result.intersection_s[n_raters, :n_raters, :]
    union = result.union_s[n_raters, :n_raters, :]
    return SegmentVersus(
        f1=metrics._ratios(2 * m.sum(axis=1), n.sum(axis=1)),
        iou=metrics._ratios(inter.sum(axis=1), union.sum(axis=1)),
        events=n.sum(axis=1).astype(np.int64),
        f1_label=metrics._ratios(2 * m, n),
        iou_label=metrics._ratios(inter, union),
        events_label=n.astype(np.int64),
    )

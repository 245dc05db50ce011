"""The agreement report of a project, built from columnar arrays. Pure numpy, no Django.

``build_report`` turns submitted annotations (one row each), their segments and the label
schema into the JSON document that the dashboard and ``GET /api/projects/{id}/agreement/``
show. How each figure is defined is documented in docs/agreement.md.

Multi-choice groups: every label of the group is a binary present/absent judgement made by
every annotator who submitted the item (an empty choice says "none of these"). Per label that
gives binary alpha/kappa; the group's figure pools all (item, label) units, so a group with
many rare labels is not flattered by the easy "absent" decisions being averaged away label
by label. Single-choice groups: an annotator who left the group empty did not judge it (a
missing value), and per-label figures are the binary "this label or not" view of the choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from backend.agreement import metrics, versus
from backend.agreement.consensus import DEFAULT_MIN_IOU
from backend.agreement.metrics import (
    EventSettings,
    FloatArray,
    IntArray,
    Segments,
)

# 2: each annotator against the consensus of the others (leave-one-out) and against reviewed
# truth that includes accepted annotations, for clip labels and segments, per label.
REPORT_VERSION = 2
DISPUTED_LIMIT = 100
# Rows of annotations per chunk when leave-one-out votes are built (bounds memory with
# many labels).
_LOO_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class GroupSpec:
    name: str
    choice: str  # "single" or "multi"
    labels: tuple[str, ...]


@dataclass(frozen=True)
class AnnotationColumns:
    """Submitted annotations, one row each (reference annotations excluded)."""

    annotation_id: IntArray
    item_id: IntArray
    annotator_id: IntArray
    lead_time_s: FloatArray
    clip_labels: Sequence[dict[str, Any]]
    # Accepted in review: the item's reviewed truth for the others where it has no reference.
    accepted: np.ndarray | None = None


@dataclass(frozen=True)
class SegmentColumns:
    """Segments of those annotations, one row each."""

    annotation_id: IntArray
    label: Sequence[str]
    start_s: FloatArray
    end_s: FloatArray


@dataclass(frozen=True)
class TruthColumns:
    """Reference (reviewed truth) annotations: one per item at most. ``annotation_id`` and
    ``author_id`` (the reviewer who wrote it) are optional; ``segments`` are theirs."""

    item_id: IntArray
    clip_labels: Sequence[dict[str, Any]]
    annotation_id: IntArray | None = None
    author_id: IntArray | None = None
    segments: SegmentColumns | None = None


@dataclass(frozen=True)
class ReportSettings:
    events: EventSettings = field(default_factory=EventSettings)
    disputed_limit: int = DISPUTED_LIMIT
    min_iou: float = DEFAULT_MIN_IOU  # segment consensus: clusters by at least this IoU


def _num(x: float | np.floating[Any]) -> float | None:
    """JSON has no nan: undefined figures become null; others are rounded for reading."""
    x = float(x)
    return None if np.isnan(x) else round(x, 4)


def _matrix(m: FloatArray) -> list[list[float | None]]:
    return [[_num(v) for v in row] for row in m]


def _codes_single(rows: Sequence[dict[str, Any]], group: GroupSpec) -> tuple[IntArray, IntArray]:
    """(row index, label code) for each annotation that chose a known label in the group."""
    index = {label: i for i, label in enumerate(group.labels)}
    pick, code = [], []
    for i, labels in enumerate(rows):
        chosen = labels.get(group.name) if isinstance(labels, dict) else None
        if chosen:
            c = index.get(chosen[0])
            if c is not None:
                pick.append(i)
                code.append(c)
    return np.array(pick, dtype=np.int64), np.array(code, dtype=np.int64)


def _presence_multi(rows: Sequence[dict[str, Any]], group: GroupSpec) -> np.ndarray:
    """(n_rows, n_labels) booleans: which labels each annotation chose in the group."""
    index = {label: i for i, label in enumerate(group.labels)}
    out = np.zeros((len(rows), len(group.labels)), dtype=bool)
    for i, labels in enumerate(rows):
        chosen = labels.get(group.name) if isinstance(labels, dict) else None
        for label in chosen or ():
            c = index.get(label)
            if c is not None:
                out[i, c] = True
    return out


def build_report(
    annotations: AnnotationColumns,
    segments: SegmentColumns,
    groups: Sequence[GroupSpec],
    segment_labels: Sequence[str],
    *,
    truth: TruthColumns | None = None,
    usernames: dict[int, str] | None = None,
    settings: ReportSettings | None = None,
) -> dict[str, Any]:
    settings = settings or ReportSettings()
    usernames = usernames or {}
    item_ids, unit_of_row = np.unique(annotations.item_id, return_inverse=True)
    annotator_ids, rater_of_row = np.unique(annotations.annotator_id, return_inverse=True)
    unit_of_row = unit_of_row.astype(np.int64)
    rater_of_row = rater_of_row.astype(np.int64)
    n_items, n_raters = len(item_ids), len(annotator_ids)

    reviewed = _truth_rows(annotations, truth, item_ids, unit_of_row)
    pairs = metrics.rater_pairs(unit_of_row, rater_of_row)
    clip = _Clip(unit_of_row, rater_of_row, n_items, n_raters, pairs, reviewed)
    clip_groups = [
        (_multi_group if group.choice == "multi" else _single_group)(
            annotations.clip_labels, group, clip
        )
        for group in groups
    ]
    shared_items = (
        metrics.pair_stats(pairs.rater_a, pairs.rater_b, np.zeros_like(pairs.unit),
                           np.zeros_like(pairs.unit), n_raters, 1).shared().tolist()
    )  # fmt: skip

    per_annotator: dict[str, Any] = {}
    item_clip_disagreement = np.full(n_items, np.nan)
    heatmap: dict[str, Any] | None = None
    if clip.pair_parts:
        # All clip labels pooled: groups have disjoint categories, so their statistics concatenate.
        everything = metrics.PairStats.pool(clip.pair_parts)
        others = everything.versus_others().result()
        consensus = metrics.VersusStats.pool(clip.consensus_parts).result()
        vs_truth = metrics.VersusStats.pool(clip.truth_parts).result()
        per_annotator.update(
            kappa_vs_others=others.cohen_kappa,
            agreement_vs_others=others.percent_agreement,
            kappa_vs_consensus=consensus.cohen_kappa,
            agreement_vs_consensus=consensus.percent_agreement,
            judgements_vs_consensus=consensus.n,
            kappa_vs_truth=vs_truth.cohen_kappa,
            agreement_vs_truth=vs_truth.percent_agreement,
            judgements_vs_truth=vs_truth.n,
        )
        heatmap = {
            "measure": "cohen_kappa",
            "matrix": _matrix(everything.kappa()),
            "shared_items": shared_items,
        }
        # An item's clip disagreement: per group the share of disagreeing pairs (for
        # multi-choice groups averaged over the labels somebody chose), then the mean over
        # the groups.
        item_clip_disagreement = _nanmean_rows(np.vstack(clip.item_parts))

    seg_section, item_seg_disagreement, seg_pairwise, seg_versus = _segments_section(
        annotations, segments, segment_labels, unit_of_row, rater_of_row, n_items, n_raters,
        settings, pairs, reviewed, truth,
    )  # fmt: skip
    if seg_pairwise is not None:
        per_annotator.update(
            segment_f1_vs_others=seg_pairwise.f1_per_rater(),
            segment_iou_vs_others=seg_pairwise.iou_per_rater(),
        )
        if heatmap is None:
            heatmap = {
                "measure": "event_f1",
                "matrix": _matrix(seg_pairwise.f1_matrix()),
                "shared_items": shared_items,
            }
    for name, figures in seg_versus.items():
        per_annotator.update(
            {
                f"segment_f1_vs_{name}": figures.f1,
                f"segment_iou_vs_{name}": figures.iou,
                f"segment_events_vs_{name}": figures.events,
            }
        )

    # Per item: the mean of its clip and its segment disagreement, where each exists.
    score = _nanmean_rows(np.vstack([item_clip_disagreement, item_seg_disagreement]))
    raters_per_item = np.bincount(unit_of_row, minlength=n_items)
    disputed = _disputed(score, item_clip_disagreement, item_seg_disagreement, item_ids,
                         raters_per_item, settings.disputed_limit)  # fmt: skip
    valid = score[~np.isnan(score)]
    histogram = np.histogram(valid, bins=10, range=(0.0, 1.0))[0].tolist()

    annotators = _annotator_rows(annotations, annotator_ids, rater_of_row, per_annotator,
                                 usernames)  # fmt: skip
    for r, row in enumerate(annotators):
        row["labels"] = _label_rows(r, clip.label_versus, segment_labels, seg_versus)
    return {
        "version": REPORT_VERSION,
        "settings": {"events": asdict(settings.events)},
        "totals": {
            "submitted": len(annotations.annotation_id),
            "items": n_items,
            "items_with_overlap": int((raters_per_item >= 2).sum()),
            "annotators": n_raters,
            "reviewed_truth_items": reviewed.items,
        },
        "annotators": annotators,
        "clip_groups": clip_groups,
        "segments": seg_section,
        "heatmap": heatmap,
        "disputed_items": disputed,
        "disagreement_histogram": histogram,
    }


def _nanmean_rows(stacked: FloatArray) -> FloatArray:
    """Column means ignoring nan; nan where a column has no value."""
    present = ~np.isnan(stacked)
    return metrics._ratios(np.where(present, stacked, 0).sum(axis=0), present.sum(axis=0))


def _summary(counts: IntArray, stats: metrics.PairStats) -> dict[str, Any]:
    upper = np.triu_indices(stats.agree.shape[0], 1)
    kappa = stats.kappa()[upper]
    weights = stats.n[upper]
    usable = ~np.isnan(kappa) & (weights > 0)
    mean_kappa = (
        float(np.average(kappa[usable], weights=weights[usable])) if usable.any() else np.nan
    )
    return {
        "units": int((counts.sum(axis=1) >= 2).sum()),
        "judgements": int(counts.sum()),
        "alpha": _num(metrics.krippendorff_alpha(counts)),
        "fleiss_kappa": _num(metrics.fleiss_kappa(counts)),
        "percent_agreement": _num(metrics.percent_agreement(counts)),
        "cohen_kappa_mean": _num(mean_kappa),
    }


def _pairwise_json(stats: metrics.PairStats, shared_divisor: int = 1) -> dict[str, Any]:
    return {
        "cohen_kappa": _matrix(stats.kappa()),
        "percent_agreement": _matrix(stats.percent()),
        "shared_items": (stats.shared() // shared_divisor).tolist(),
    }


def _binary_counts(present: FloatArray, judged: IntArray) -> IntArray:
    """(n_units, 2) counts of absent / present from per-unit presence votes and judgements."""
    c1 = np.rint(present).astype(np.int64)
    return np.stack([judged - c1, c1], axis=1)


@dataclass
class _Clip:
    """What every clip group adds to the project-wide figures, and the shared row pairs.

    ``pairs`` are all pairs of annotation rows on the same item, computed once: every group
    and label reuses them by masking out rows without a judgement.
    """

    unit: IntArray  # item index per annotation row
    rater: IntArray
    n_items: int
    n_raters: int
    pairs: metrics.RaterPairs
    truth: _Truth
    pair_parts: list[metrics.PairStats] = field(default_factory=list)
    consensus_parts: list[metrics.VersusStats] = field(default_factory=list)
    truth_parts: list[metrics.VersusStats] = field(default_factory=list)
    item_parts: list[FloatArray] = field(default_factory=list)  # per group, item disagreement
    # Per (group, label): each annotator against the consensus and the truth, present or not.
    label_versus: list[_LabelVersus] = field(default_factory=list)


@dataclass(frozen=True)
class _LabelVersus:
    group: str
    label: str
    consensus: metrics.RaterVersus
    truth: metrics.RaterVersus


@dataclass(frozen=True)
class _Truth:
    """Reviewed truth as rows, and which annotation rows are compared with which truth row.

    An item's truth is its reference annotation (a reviewer's correction) or, without one,
    its annotations accepted in review. Nobody is compared with truth that is their own work.
    """

    unit: IntArray  # item index per truth row
    labels: Sequence[dict[str, Any]]
    row: IntArray  # annotation row of an accepted annotation; -1 for a reference
    reference: IntArray  # index into TruthColumns of a reference; -1 for an accepted row
    cmp_row: IntArray  # per comparison: the annotation row
    cmp_truth: IntArray  # per comparison: the truth row
    items: int  # items with reviewed truth


def _truth_rows(
    annotations: AnnotationColumns,
    truth: TruthColumns | None,
    item_ids: IntArray,
    unit_of_row: IntArray,
) -> _Truth:
    empty = np.zeros(0, dtype=np.int64)
    ref_index, ref_unit = empty, empty
    if truth is not None and len(truth.item_id) and len(item_ids):
        pos = np.clip(np.searchsorted(item_ids, truth.item_id), 0, len(item_ids) - 1)
        ref_index = np.flatnonzero(item_ids[pos] == truth.item_id).astype(np.int64)
        ref_unit = pos[ref_index].astype(np.int64)
    has_reference = np.zeros(len(item_ids), dtype=bool)
    has_reference[ref_unit] = True
    accepted = (
        np.zeros(len(unit_of_row), dtype=bool)
        if annotations.accepted is None
        else np.asarray(annotations.accepted, dtype=bool)
    )
    acc_rows = np.flatnonzero(accepted & ~has_reference[unit_of_row]).astype(np.int64)
    if truth is not None and truth.author_id is not None:
        ref_author = truth.author_id[ref_index]
    else:
        ref_author = np.full(len(ref_index), -1, dtype=np.int64)
    unit = np.concatenate([ref_unit, unit_of_row[acc_rows]]).astype(np.int64)
    author = np.concatenate([ref_author, annotations.annotator_id[acc_rows]]).astype(np.int64)
    labels = [truth.clip_labels[i] for i in ref_index.tolist()] if truth is not None else []
    labels += [annotations.clip_labels[r] for r in acc_rows.tolist()]
    ri, tj = metrics.equi_join(unit_of_row, unit)
    own = annotations.annotator_id[ri] == author[tj]
    return _Truth(
        unit=unit,
        labels=labels,
        row=np.concatenate([np.full(len(ref_index), -1, dtype=np.int64), acc_rows]),
        reference=np.concatenate([ref_index, np.full(len(acc_rows), -1, dtype=np.int64)]),
        cmp_row=ri[~own],
        cmp_truth=tj[~own],
        items=len(np.unique(unit)),
    )


def _loo_single(
    code_row: IntArray, ok: np.ndarray, counts: IntArray, c: _Clip
) -> tuple[IntArray, IntArray]:
    """Rows compared with the majority of the item's other annotators, and that majority's code
    (single choice: a tie among the others, or fewer than two of them, gives no consensus)."""
    idx = np.flatnonzero(ok)
    k = counts.shape[1]
    vote_code = np.full(len(idx), -1, dtype=np.int64)
    usable = np.zeros(len(idx), dtype=bool)
    step = max(1, _LOO_CHUNK_CELLS // max(k, 1))
    for start in range(0, len(idx), step):
        rows = idx[start : start + step]
        others = counts[c.unit[rows]]
        others[np.arange(len(rows)), code_row[rows]] -= 1
        vote = metrics.majority_vote(others)
        vote_code[start : start + len(rows)] = vote.code
        usable[start : start + len(rows)] = (vote.raters >= 2) & ~vote.tied
    return idx[usable], vote_code[usable]


def _binary_versus(
    c: _Clip, rows: IntArray, mine: np.ndarray, theirs: np.ndarray
) -> metrics.RaterVersus:
    """Present / absent of one label: each annotator's rows against the reference's."""
    return metrics.versus_stats(
        c.rater[rows], mine.astype(np.int64), theirs.astype(np.int64), c.n_raters, 2
    ).result()


def _add_versus(parts: list[metrics.VersusStats]) -> metrics.VersusStats:
    """The same categories seen in several slices (the labels of one multi-choice group)."""
    return metrics.VersusStats(
        np.sum([v.mine for v in parts], axis=0),
        np.sum([v.theirs for v in parts], axis=0),
        np.sum([v.agree for v in parts], axis=0),
    )


def _single_group(rows: Sequence[dict[str, Any]], group: GroupSpec, c: _Clip) -> dict[str, Any]:
    k = max(len(group.labels), 1)
    pick, code = _codes_single(rows, group)
    code_row = np.full(len(c.unit), -1, dtype=np.int64)
    code_row[pick] = code
    ok = code_row >= 0
    counts = np.bincount(c.unit[ok] * k + code_row[ok], minlength=c.n_items * k)
    counts = counts.reshape(c.n_items, k).astype(np.int64)
    p = c.pairs
    valid = ok[p.row_a] & ok[p.row_b]
    ra, rb = p.rater_a[valid], p.rater_b[valid]
    ca, cb = code_row[p.row_a[valid]], code_row[p.row_b[valid]]
    stats = metrics.pair_stats(ra, rb, ca, cb, c.n_raters, k)
    c.pair_parts.append(stats)

    vote = metrics.majority_vote(counts)
    judged = counts.sum(axis=1)
    # Each annotator against the majority of the others, and against reviewed truth.
    loo_rows, loo_code = _loo_single(code_row, ok, counts, c)
    c.consensus_parts.append(
        metrics.versus_stats(c.rater[loo_rows], code_row[loo_rows], loo_code, c.n_raters, k)
    )
    truth_code = np.full(len(c.truth.unit), -1, dtype=np.int64)
    t_pick, t_code = _codes_single(c.truth.labels, group)
    truth_code[t_pick] = t_code
    cr, ct = c.truth.cmp_row, c.truth.cmp_truth
    use = (code_row[cr] >= 0) & (truth_code[ct] >= 0)
    t_rows, t_theirs = cr[use], truth_code[ct[use]]
    c.truth_parts.append(
        metrics.versus_stats(c.rater[t_rows], code_row[t_rows], t_theirs, c.n_raters, k)
    )
    for i, label in enumerate(group.labels):
        c.label_versus.append(
            _LabelVersus(
                group.name,
                label,
                _binary_versus(c, loo_rows, code_row[loo_rows] == i, loo_code == i),
                _binary_versus(c, t_rows, code_row[t_rows] == i, t_theirs == i),
            )
        )
    c.item_parts.append(1.0 - metrics.unit_agreement(counts))

    out: dict[str, Any] = {"name": group.name, "choice": group.choice, **_summary(counts, stats)}
    out["pairwise"] = _pairwise_json(stats)
    out["ties"] = int(vote.tied.sum())
    total = counts.sum()
    labels = []
    for i, label in enumerate(group.labels):
        binary = _binary_counts(counts[:, i].astype(np.float64), judged)
        bstats = metrics.pair_stats(
            ra, rb, (ca == i).astype(np.int64), (cb == i).astype(np.int64), c.n_raters, 2
        )
        labels.append(
            {
                "label": label,
                "prevalence": _num(counts[:, i].sum() / total if total else np.nan),
                **_summary(binary, bstats),
            }
        )
    out["labels"] = labels
    return out


def _multi_group(rows: Sequence[dict[str, Any]], group: GroupSpec, c: _Clip) -> dict[str, Any]:
    n_l = len(group.labels)
    if not n_l:
        return {"name": group.name, "choice": group.choice, "labels": [], "ties": 0}
    presence = _presence_multi(rows, group)
    judged = np.bincount(c.unit, minlength=c.n_items).astype(np.int64)
    p = c.pairs
    truth = _presence_multi(c.truth.labels, group).astype(np.int64)
    cr, ct = c.truth.cmp_row, c.truth.cmp_truth
    others_n = judged[c.unit] - 1
    labels: list[dict[str, Any]] = []
    label_counts: list[IntArray] = []
    label_stats: list[metrics.PairStats] = []
    consensus: list[metrics.VersusStats] = []
    vs_truth: list[metrics.VersusStats] = []
    disagreement: list[FloatArray] = []
    for i, label in enumerate(group.labels):
        code_row = presence[:, i].astype(np.int64)
        votes = np.bincount(c.unit, weights=code_row, minlength=c.n_items)
        counts = _binary_counts(votes.astype(np.float64), judged)
        stats = metrics.pair_stats(
            p.rater_a, p.rater_b, code_row[p.row_a], code_row[p.row_b], c.n_raters, 2
        )
        label_counts.append(counts)
        label_stats.append(stats)
        # The others' vote on this label: present when more than half of them chose it.
        others_votes = counts[c.unit, 1] - code_row
        use = (others_n >= 2) & (2 * others_votes != others_n)
        winner = (2 * others_votes[use] > others_n[use]).astype(np.int64)
        loo = metrics.versus_stats(c.rater[use], code_row[use], winner, c.n_raters, 2)
        consensus.append(loo)
        theirs = truth[ct, i] if len(truth) else np.zeros(0, dtype=np.int64)
        against_truth = metrics.versus_stats(c.rater[cr], code_row[cr], theirs, c.n_raters, 2)
        vs_truth.append(against_truth)
        c.label_versus.append(_LabelVersus(group.name, label, loo.result(), against_truth.result()))
        # A label nobody chose on an item says nothing about disagreement there.
        dis = 1.0 - metrics.unit_agreement(counts)
        dis[counts[:, 1] == 0] = np.nan
        disagreement.append(dis)
        labels.append(
            {
                "label": label,
                "prevalence": _num(presence[:, i].mean() if len(presence) else np.nan),
                **_summary(counts, stats),
            }
        )
    # The group's figure pools its (item, label) units: counts stacked, pair statistics added.
    counts_all = np.concatenate(label_counts)
    stats_all = metrics.PairStats(
        np.sum([s.rows for s in label_stats], axis=0),
        np.sum([s.cols for s in label_stats], axis=0),
        np.sum([s.agree for s in label_stats], axis=0),
    )
    c.pair_parts.append(stats_all)
    c.consensus_parts.append(_add_versus(consensus))
    c.truth_parts.append(_add_versus(vs_truth))
    c.item_parts.append(_nanmean_rows(np.vstack(disagreement)))
    out: dict[str, Any] = {
        "name": group.name,
        "choice": group.choice,
        **_summary(counts_all, stats_all),
    }
    out["units"] //= n_l  # items: every label of an item has the same annotators
    out["pairwise"] = _pairwise_json(stats_all, shared_divisor=n_l)
    judged_all = counts_all.sum(axis=1)
    out["ties"] = int(((2 * counts_all[:, 1] == judged_all) & (judged_all > 0)).sum())
    out["labels"] = labels
    return out


def _segments_section(
    annotations: AnnotationColumns,
    segments: SegmentColumns,
    segment_labels: Sequence[str],
    unit_of_row: IntArray,
    rater_of_row: IntArray,
    n_items: int,
    n_raters: int,
    report_settings: ReportSettings,
    pairs: metrics.RaterPairs,
    reviewed: _Truth,
    truth: TruthColumns | None,
) -> tuple[
    dict[str, Any] | None,
    FloatArray,
    metrics.SegmentPairwise | None,
    dict[str, versus.SegmentVersus],
]:
    nothing = np.full(n_items, np.nan)
    if not segment_labels or len(segments.annotation_id) == 0:
        return None, nothing, None, {}
    settings = report_settings.events
    label_index = {label: i for i, label in enumerate(segment_labels)}
    row_of, codes, known = _segment_rows(annotations.annotation_id, segments, label_index)
    segs = Segments(
        unit_of_row[row_of],
        rater_of_row[row_of],
        codes,
        segments.start_s[known],
        segments.end_s[known],
        len(segment_labels),
    )
    result = metrics.segment_pairwise(
        segs, unit_of_row, rater_of_row, n_raters, settings, pairs=pairs
    )
    per_label_counts = np.bincount(codes, minlength=len(segment_labels))
    f1_label, iou_label = result.f1_per_label(), result.iou_per_label()
    section = {
        "segments": len(codes),
        "f1": _num(result.f1()),
        "iou": _num(result.iou()),
        "labels": [
            {
                "label": label,
                "segments": int(per_label_counts[i]),
                "f1": _num(f1_label[i]),
                "iou": _num(iou_label[i]),
            }
            for i, label in enumerate(segment_labels)
        ],
        "pairwise": {"f1": _matrix(result.f1_matrix()), "iou": _matrix(result.iou_matrix())},
    }
    # An item's segment disagreement: 1 - event F1 over all its pairs of annotators (items
    # where nobody drew anything have none).
    m = np.bincount(result.pair_unit, weights=result.pair_matches, minlength=n_items)
    n = np.bincount(result.pair_unit, weights=result.pair_events, minlength=n_items)
    disagreement = 1.0 - metrics._ratios(2 * m, n)

    own = versus.SegmentRows(row_of, codes, segments.start_s[known], segments.end_s[known])
    n_labels = len(segment_labels)
    # Against the merged consensus segments of the others.
    loo_rows, _ = versus.loo_groups(unit_of_row)
    consensus = versus.loo_segment_consensus(
        own, unit_of_row, rater_of_row, min_iou=report_settings.min_iou
    )
    consensus = versus.SegmentRows(
        np.searchsorted(loo_rows, consensus.row).astype(np.int64),
        consensus.label,
        consensus.start_s,
        consensus.end_s,
    )
    against = versus.segments_versus(
        loo_rows, consensus, own, rater_of_row, n_raters, n_labels, settings
    )
    figures = {"consensus": versus.segment_versus_figures(against, n_raters)}
    # Against reviewed truth: the reference's segments, or an accepted annotation's.
    if len(reviewed.cmp_row):
        truth_segments = _truth_segments(own, reviewed, truth, label_index)
        t_seg, cmp = metrics.equi_join(truth_segments.row, reviewed.cmp_truth)
        reference = versus.SegmentRows(
            cmp,
            truth_segments.label[t_seg],
            truth_segments.start_s[t_seg],
            truth_segments.end_s[t_seg],
        )
        against = versus.segments_versus(
            reviewed.cmp_row, reference, own, rater_of_row, n_raters, n_labels, settings
        )
        figures["truth"] = versus.segment_versus_figures(against, n_raters)
    return section, disagreement, result, figures


def _segment_rows(
    annotation_id: IntArray, segments: SegmentColumns, label_index: dict[str, int]
) -> tuple[IntArray, IntArray, np.ndarray]:
    """The row of each segment's annotation in ``annotation_id`` and its label code; segments
    of unknown labels or annotations are dropped (``known`` says which were kept)."""
    codes = np.array([label_index.get(lab, -1) for lab in segments.label], dtype=np.int64)
    by_id = np.argsort(annotation_id, kind="stable")
    position = np.searchsorted(annotation_id[by_id], segments.annotation_id)
    row_of = by_id[np.clip(position, 0, max(len(by_id) - 1, 0))]
    if len(by_id):
        known = (codes >= 0) & (annotation_id[row_of] == segments.annotation_id)
    else:
        known = np.zeros(len(codes), dtype=bool)
    return row_of[known].astype(np.int64), codes[known], known


def _truth_segments(
    own: versus.SegmentRows,
    reviewed: _Truth,
    truth: TruthColumns | None,
    label_index: dict[str, int],
) -> versus.SegmentRows:
    """Segments of every truth row, ``row`` being the truth row: an accepted annotation's own
    segments, or the reference's."""
    accepted = np.flatnonzero(reviewed.row >= 0)
    seg_i, t_j = metrics.equi_join(own.row, reviewed.row[accepted])
    rows = [accepted[t_j]]
    labels, starts, ends = [own.label[seg_i]], [own.start_s[seg_i]], [own.end_s[seg_i]]
    references = np.flatnonzero(reviewed.reference >= 0)
    if truth is not None and truth.segments is not None and truth.annotation_id is not None:
        ids = truth.annotation_id[reviewed.reference[references]]
        ref_row, codes, known = _segment_rows(ids, truth.segments, label_index)
        rows.append(references[ref_row])
        labels.append(codes)
        starts.append(truth.segments.start_s[known])
        ends.append(truth.segments.end_s[known])
    return versus.SegmentRows(
        np.concatenate(rows).astype(np.int64),
        np.concatenate(labels).astype(np.int64),
        np.concatenate(starts).astype(np.float64),
        np.concatenate(ends).astype(np.float64),
    )


def _disputed(
    score: FloatArray,
    clip: FloatArray,
    seg: FloatArray,
    item_ids: IntArray,
    raters: IntArray,
    limit: int,
) -> list[dict[str, Any]]:
    candidates = np.flatnonzero(~np.isnan(score) & (score > 0))
    # Highest score first, then more annotators, then the lower id.
    order = np.lexsort((item_ids[candidates], -raters[candidates], -score[candidates]))
    top = candidates[order[:limit]]
    return [
        {
            "item_id": int(item_ids[i]),
            "score": _num(score[i]),
            "clip_disagreement": _num(clip[i]),
            "segment_disagreement": _num(seg[i]),
            "annotators": int(raters[i]),
        }
        for i in top
    ]


def _annotator_rows(
    annotations: AnnotationColumns,
    annotator_ids: IntArray,
    rater_of_row: IntArray,
    per_annotator: dict[str, Any],
    usernames: dict[int, str],
) -> list[dict[str, Any]]:
    submitted = np.bincount(rater_of_row, minlength=len(annotator_ids))
    order = np.argsort(rater_of_row, kind="stable")
    bounds = np.searchsorted(rater_of_row[order], np.arange(len(annotator_ids) + 1))
    lead = annotations.lead_time_s[order]
    rows = []
    for r, annotator_id in enumerate(annotator_ids.tolist()):
        mine = lead[bounds[r] : bounds[r + 1]]
        row: dict[str, Any] = {
            "annotator_id": annotator_id,
            "username": usernames.get(annotator_id, str(annotator_id)),
            "submitted": int(submitted[r]),
            "median_lead_time_s": _num(np.median(mine)) if len(mine) else None,
            "total_lead_time_s": _num(mine.sum()),
        }
        for key, values in per_annotator.items():
            value = values[r]
            counted = key.startswith(("judgements", "segment_events"))
            row[key] = int(value) if counted else _num(value)
        rows.append(row)
    return rows


def _label_rows(
    r: int,
    clip: Sequence[_LabelVersus],
    segment_labels: Sequence[str],
    segments: dict[str, versus.SegmentVersus],
) -> list[dict[str, Any]]:
    """Annotator ``r`` per label: clip labels (present or not) with kappa and agreement against
    the others' consensus and reviewed truth; segment labels with event F1 and time IoU."""
    rows: list[dict[str, Any]] = []
    for lv in clip:
        row: dict[str, Any] = {"kind": "clip", "group": lv.group, "label": lv.label}
        for name, result in (("consensus", lv.consensus), ("truth", lv.truth)):
            row[f"kappa_vs_{name}"] = _num(result.cohen_kappa[r])
            row[f"agreement_vs_{name}"] = _num(result.percent_agreement[r])
            row[f"judgements_vs_{name}"] = int(result.n[r])
        rows.append(row)
    for i, label in enumerate(segment_labels if segments else ()):
        row = {"kind": "segment", "group": None, "label": label}
        for name in ("consensus", "truth"):
            figures = segments.get(name)
            row[f"f1_vs_{name}"] = _num(figures.f1_label[r, i]) if figures else None
            row[f"iou_vs_{name}"] = _num(figures.iou_label[r, i]) if figures else None
            row[f"events_vs_{name}"] = int(figures.events_label[r, i]) if figures else 0
        rows.append(row)
    return rows

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

from backend.agreement import metrics
from backend.agreement.metrics import (
    BoolArray,
    EventSettings,
    FloatArray,
    IntArray,
    Ratings,
    Segments,
)

REPORT_VERSION = 1
DISPUTED_LIMIT = 100


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


@dataclass(frozen=True)
class SegmentColumns:
    """Segments of those annotations, one row each."""

    annotation_id: IntArray
    label: Sequence[str]
    start_s: FloatArray
    end_s: FloatArray


@dataclass(frozen=True)
class TruthColumns:
    """Reference (reviewed truth) annotations: one per item at most."""

    item_id: IntArray
    clip_labels: Sequence[dict[str, Any]]


@dataclass(frozen=True)
class ReportSettings:
    events: EventSettings = field(default_factory=EventSettings)
    disputed_limit: int = DISPUTED_LIMIT


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


def _summary(r: Ratings) -> dict[str, Any]:
    counts = metrics.category_counts(r)
    table = metrics.pairwise_cohen(r)
    upper = table.cohen_kappa[np.triu_indices(r.n_raters, 1)]
    weights = table.shared_units[np.triu_indices(r.n_raters, 1)].astype(np.float64)
    usable = ~np.isnan(upper) & (weights > 0)
    mean_kappa = (
        float(np.average(upper[usable], weights=weights[usable])) if usable.any() else np.nan
    )
    pairable = int((counts.sum(axis=1) >= 2).sum())
    return {
        "units": pairable,
        "judgements": len(r.code),
        "alpha": _num(metrics.krippendorff_alpha(counts)),
        "fleiss_kappa": _num(metrics.fleiss_kappa(counts)),
        "percent_agreement": _num(metrics.percent_agreement(counts)),
        "cohen_kappa_mean": _num(mean_kappa),
    }


@dataclass
class _Pooled:
    """Every clip judgement of every group as one nominal rating set (for per-annotator and
    heatmap figures): units are (item, group) or (item, group, label) for multi-choice."""

    unit: list[IntArray] = field(default_factory=list)
    rater: list[IntArray] = field(default_factory=list)
    code: list[IntArray] = field(default_factory=list)
    unit_item: list[IntArray] = field(default_factory=list)  # item index of each unit
    truth: list[IntArray] = field(default_factory=list)  # truth code per unit, -1 if none
    # Units that say something about disagreement on an item: a multi-choice label that
    # nobody chose is left out, or every item would look calm by the labels nobody uses.
    informative: list[BoolArray] = field(default_factory=list)
    unit_group: list[IntArray] = field(default_factory=list)
    n_units: int = 0
    n_categories: int = 0
    n_groups: int = 0

    def add(self, r: Ratings, unit_item: IntArray, truth: IntArray, informative: BoolArray) -> None:
        self.informative.append(informative)
        self.unit_group.append(np.full(r.n_units, self.n_groups, dtype=np.int64))
        self.n_groups += 1
        self.unit.append(r.unit + self.n_units)
        self.rater.append(r.rater)
        self.code.append(r.code + self.n_categories)
        self.unit_item.append(unit_item)
        self.truth.append(np.where(truth >= 0, truth + self.n_categories, -1))
        self.n_units += r.n_units
        self.n_categories += r.n_categories

    def ratings(self, n_raters: int) -> Ratings | None:
        if not self.unit:
            return None
        return Ratings(
            np.concatenate(self.unit),
            np.concatenate(self.rater),
            np.concatenate(self.code),
            self.n_units,
            n_raters,
            max(self.n_categories, 1),
        )


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

    truth_rows: dict[int, dict[str, Any]] = {}
    if truth is not None:
        for item_id, labels in zip(truth.item_id.tolist(), truth.clip_labels, strict=True):
            truth_rows[item_id] = labels
    truth_items = [i for i, item_id in enumerate(item_ids.tolist()) if item_id in truth_rows]
    truth_list = [truth_rows[int(item_ids[i])] for i in truth_items]
    truth_index = np.array(truth_items, dtype=np.int64)

    pooled = _Pooled()
    clip_groups: list[dict[str, Any]] = []
    for group in groups:
        if group.choice == "multi":
            clip_groups.append(
                _multi_group(
                    annotations,
                    group,
                    unit_of_row,
                    rater_of_row,
                    n_items,
                    n_raters,
                    truth_index,
                    truth_list,
                    pooled,
                )
            )
        else:
            clip_groups.append(
                _single_group(
                    annotations,
                    group,
                    unit_of_row,
                    rater_of_row,
                    n_items,
                    n_raters,
                    truth_index,
                    truth_list,
                    pooled,
                )
            )

    per_annotator: dict[str, Any] = {}
    item_clip_disagreement = np.full(n_items, np.nan)
    heatmap: dict[str, Any] | None = None
    all_clip = pooled.ratings(n_raters)
    if all_clip is not None and len(all_clip.code):
        counts = metrics.category_counts(all_clip)
        others = metrics.rater_vs_others(all_clip)
        consensus = metrics.rater_vs_consensus(all_clip, counts)
        truth_code = np.concatenate(pooled.truth)
        has_truth = truth_code[all_clip.unit] >= 0
        vs_truth = metrics.rater_versus(
            all_clip.rater[has_truth],
            all_clip.code[has_truth],
            truth_code[all_clip.unit[has_truth]],
            all_clip,
        )
        per_annotator.update(
            kappa_vs_others=others.cohen_kappa,
            agreement_vs_others=others.percent_agreement,
            kappa_vs_consensus=consensus.cohen_kappa,
            agreement_vs_consensus=consensus.percent_agreement,
            kappa_vs_truth=vs_truth.cohen_kappa,
            agreement_vs_truth=vs_truth.percent_agreement,
            judgements_vs_truth=vs_truth.n,
        )
        table = metrics.pairwise_cohen(all_clip)
        heatmap = {
            "measure": "cohen_kappa",
            "matrix": _matrix(table.cohen_kappa),
            "shared_items": _shared_items(unit_of_row, rater_of_row, n_raters).tolist(),
        }
        # An item's clip disagreement: per group the mean share of disagreeing pairs over its
        # units, then the mean over the groups.
        unit_item = np.concatenate(pooled.unit_item)
        unit_group = np.concatenate(pooled.unit_group)
        dis = 1.0 - metrics.unit_agreement(counts)
        ok = ~np.isnan(dis) & np.concatenate(pooled.informative)
        per_group = []
        for g in range(pooled.n_groups):
            pick = ok & (unit_group == g)
            sums = np.bincount(unit_item[pick], weights=dis[pick], minlength=n_items)
            n = np.bincount(unit_item[pick], minlength=n_items)
            per_group.append(metrics._ratios(sums, n))
        item_clip_disagreement = _nanmean_rows(np.vstack(per_group))

    seg_section, item_seg_disagreement, seg_pairwise = _segments_section(
        annotations, segments, segment_labels, unit_of_row, rater_of_row, n_items, n_raters,
        settings.events,
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
                "shared_items": _shared_items(unit_of_row, rater_of_row, n_raters).tolist(),
            }

    # Per item: the mean of its clip and its segment disagreement, where each exists.
    score = _nanmean_rows(np.vstack([item_clip_disagreement, item_seg_disagreement]))
    raters_per_item = np.bincount(unit_of_row, minlength=n_items)
    disputed = _disputed(score, item_clip_disagreement, item_seg_disagreement, item_ids,
                         raters_per_item, settings.disputed_limit)  # fmt: skip
    valid = score[~np.isnan(score)]
    histogram = np.histogram(valid, bins=10, range=(0.0, 1.0))[0].tolist()

    annotators = _annotator_rows(annotations, annotator_ids, rater_of_row, per_annotator,
                                 usernames)  # fmt: skip
    return {
        "version": REPORT_VERSION,
        "settings": {"events": asdict(settings.events)},
        "totals": {
            "submitted": len(annotations.annotation_id),
            "items": n_items,
            "items_with_overlap": int((raters_per_item >= 2).sum()),
            "annotators": n_raters,
            "reviewed_truth_items": len(truth_items),
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


def _shared_items(unit: IntArray, rater: IntArray, n_raters: int) -> IntArray:
    pairs = metrics.rater_pairs(unit, rater)
    shared = np.bincount(pairs.rater_a * n_raters + pairs.rater_b, minlength=n_raters * n_raters)
    shared = shared.reshape(n_raters, n_raters)
    return (shared + shared.T).astype(np.int64)


def _truth_codes_single(
    truth_index: IntArray, truth_list: Sequence[dict[str, Any]], group: GroupSpec, n_units: int
) -> IntArray:
    codes = np.full(n_units, -1, dtype=np.int64)
    pick, code = _codes_single(truth_list, group)
    codes[truth_index[pick]] = code
    return codes


def _single_group(
    annotations: AnnotationColumns,
    group: GroupSpec,
    unit_of_row: IntArray,
    rater_of_row: IntArray,
    n_items: int,
    n_raters: int,
    truth_index: IntArray,
    truth_list: Sequence[dict[str, Any]],
    pooled: _Pooled,
) -> dict[str, Any]:
    pick, code = _codes_single(annotations.clip_labels, group)
    k = len(group.labels)
    r = Ratings(unit_of_row[pick], rater_of_row[pick], code, n_items, n_raters, max(k, 1))
    truth = _truth_codes_single(truth_index, truth_list, group, n_items)
    pooled.add(r, np.arange(n_items, dtype=np.int64), truth, np.ones(n_items, dtype=bool))
    out: dict[str, Any] = {"name": group.name, "choice": group.choice, **_summary(r)}
    table = metrics.pairwise_cohen(r)
    out["pairwise"] = {
        "cohen_kappa": _matrix(table.cohen_kappa),
        "percent_agreement": _matrix(table.percent_agreement),
        "shared_items": table.shared_units.tolist(),
    }
    vote = metrics.majority_vote(metrics.category_counts(r))
    out["ties"] = int(vote.tied.sum())
    out["labels"] = [
        {
            "label": label,
            "prevalence": _num(float((code == i).mean()) if len(code) else np.nan),
            **_summary(r.binary(i)),
        }
        for i, label in enumerate(group.labels)
    ]
    return out


def _multi_group(
    annotations: AnnotationColumns,
    group: GroupSpec,
    unit_of_row: IntArray,
    rater_of_row: IntArray,
    n_items: int,
    n_raters: int,
    truth_index: IntArray,
    truth_list: Sequence[dict[str, Any]],
    pooled: _Pooled,
) -> dict[str, Any]:
    presence = _presence_multi(annotations.clip_labels, group)
    truth_presence = _presence_multi(truth_list, group)
    n_l = len(group.labels)
    labels = []
    for i, label in enumerate(group.labels):
        r = Ratings(unit_of_row, rater_of_row, presence[:, i].astype(np.int64), n_items,
                    n_raters, 2)  # fmt: skip
        labels.append(
            {
                "label": label,
                "prevalence": _num(presence[:, i].mean() if len(presence) else np.nan),
                **_summary(r),
            }
        )
    # The group's figure pools the (item, label) units: unit = item * n_labels + label.
    rows = np.repeat(np.arange(len(unit_of_row)), n_l)
    lab = np.tile(np.arange(n_l), len(unit_of_row))
    r_all = Ratings(
        unit_of_row[rows] * n_l + lab,
        rater_of_row[rows],
        presence.reshape(-1).astype(np.int64),
        n_items * n_l,
        n_raters,
        2,
    )
    truth = np.full(n_items * n_l, -1, dtype=np.int64)
    if len(truth_index):
        t_units = (truth_index[:, None] * n_l + np.arange(n_l)[None, :]).reshape(-1)
        truth[t_units] = truth_presence.reshape(-1).astype(np.int64)
    counts = metrics.category_counts(r_all)
    pooled.add(r_all, np.repeat(np.arange(n_items, dtype=np.int64), n_l), truth, counts[:, 1] > 0)
    out: dict[str, Any] = {"name": group.name, "choice": group.choice, **_summary(r_all)}
    out["units"] //= max(n_l, 1)  # items: every label of an item has the same annotators
    table = metrics.pairwise_cohen(r_all)
    out["pairwise"] = {
        "cohen_kappa": _matrix(table.cohen_kappa),
        "percent_agreement": _matrix(table.percent_agreement),
        "shared_items": (table.shared_units // max(n_l, 1)).tolist(),
    }
    raters = counts.sum(axis=1)
    out["ties"] = int(((2 * counts[:, 1] == raters) & (raters > 0)).sum())
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
    settings: EventSettings,
) -> tuple[dict[str, Any] | None, FloatArray, metrics.SegmentPairwise | None]:
    nothing = np.full(n_items, np.nan)
    if not segment_labels or len(segments.annotation_id) == 0:
        return None, nothing, None
    label_index = {label: i for i, label in enumerate(segment_labels)}
    codes = np.array([label_index.get(lab, -1) for lab in segments.label], dtype=np.int64)
    by_id = np.argsort(annotations.annotation_id, kind="stable")
    position = np.searchsorted(annotations.annotation_id[by_id], segments.annotation_id)
    row_of = by_id[np.clip(position, 0, max(len(by_id) - 1, 0))]
    known = (codes >= 0) & (annotations.annotation_id[row_of] == segments.annotation_id)
    row_of, codes = row_of[known], codes[known]
    segs = Segments(
        unit_of_row[row_of],
        rater_of_row[row_of],
        codes,
        segments.start_s[known],
        segments.end_s[known],
        len(segment_labels),
    )
    result = metrics.segment_pairwise(segs, unit_of_row, rater_of_row, n_raters, settings)
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
    return section, disagreement, result


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
            row[key] = int(value) if key.startswith("judgements") else _num(value)
        rows.append(row)
    return rows

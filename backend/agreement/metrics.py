"""Inter-annotator agreement, vectorised with numpy. No Django: arrays in, numbers out.

Clip labels are nominal ratings in long form (``Ratings``): one row per judgement, that is one
(unit, rater, category code) triple. A unit is what is rated (an item for a single-choice group;
an (item, label) pair when a multi-choice group is pooled). Missing judgements are simply absent
rows, so uneven numbers of raters per unit need nothing special.

Segments (``Segments``) are time spans with a label code per (unit, rater); ``judged`` lists the
(unit, rater) pairs that were submitted, because a rater who drew nothing on an item still said
"nothing here" and the other rater's segments on that item are then unmatched.

Every function returns ``nan`` where a statistic is undefined (no pairable units, or a single
category in use so chance agreement is 1); callers turn it into ``None`` for JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

# Segment times are compared as integer microseconds, so grouping tricks stay exact.
_US_PER_S = 1_000_000


@dataclass(frozen=True)
class Ratings:
    """Nominal judgements in long form; all arrays have one row per judgement."""

    unit: IntArray  # 0 .. n_units-1
    rater: IntArray  # 0 .. n_raters-1
    code: IntArray  # 0 .. n_categories-1
    n_units: int
    n_raters: int
    n_categories: int

    def binary(self, category: int) -> Ratings:
        """The same judgements as present (1) / absent (0) of one category."""
        return Ratings(
            self.unit,
            self.rater,
            (self.code == category).astype(np.int64),
            self.n_units,
            self.n_raters,
            2,
        )


def category_counts(r: Ratings) -> IntArray:
    """How many raters chose each category for each unit: shape (n_units, n_categories)."""
    flat = np.bincount(r.unit * r.n_categories + r.code, minlength=r.n_units * r.n_categories)
    return flat.reshape(r.n_units, r.n_categories).astype(np.int64)


def _pairable(counts: IntArray) -> tuple[IntArray, IntArray]:
    m = counts.sum(axis=1)
    keep = m >= 2
    return counts[keep], m[keep]


def krippendorff_alpha(counts: IntArray) -> float:
    """Krippendorff's alpha for nominal data from per-unit category counts.

    Units with fewer than two judgements are not pairable and drop out, as in the definition.
    alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k, with the coincidence matrix
    o_ck = sum_u n_uc (n_uk - [c == k]) / (m_u - 1).
    """
    c, m = _pairable(counts)
    if len(m) == 0:
        return float("nan")
    weighted = c / (m - 1)[:, None]
    coincidence = weighted.T @ c - np.diag(weighted.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    disagreement = n - np.trace(coincidence)
    expected = n * n - float((n_c * n_c).sum())
    if expected <= 0:
        return float("nan")
    return float(1.0 - (n - 1) * disagreement / expected)


def fleiss_kappa(counts: IntArray) -> float:
    """Fleiss' kappa from per-unit category counts.

    With the same number of raters on every unit this is Fleiss (1971) exactly. With uneven
    numbers, each pairable unit's observed agreement uses its own rater count, and category
    proportions are taken over all judgements of pairable units (the usual generalisation).
    """
    c, m = _pairable(counts)
    if len(m) == 0:
        return float("nan")
    p_unit = ((c * c).sum(axis=1) - m) / (m * (m - 1))
    p_cat = c.sum(axis=0) / c.sum()
    chance = float((p_cat * p_cat).sum())
    if chance >= 1.0:
        return float("nan")
    return float((p_unit.mean() - chance) / (1.0 - chance))


def unit_agreement(counts: IntArray) -> FloatArray:
    """Per unit, the share of rater pairs that agree; nan where fewer than two judgements."""
    m = counts.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = ((counts * (counts - 1)).sum(axis=1)) / (m * (m - 1))
    agree[m < 2] = np.nan
    return agree


def percent_agreement(counts: IntArray) -> float:
    """Mean over pairable units of the share of agreeing rater pairs (0..1)."""
    per_unit = unit_agreement(counts)
    per_unit = per_unit[~np.isnan(per_unit)]
    return float(per_unit.mean()) if len(per_unit) else float("nan")


def cohen_kappa(a: IntArray, b: IntArray, n_categories: int) -> float:
    """Cohen's kappa of two raters over the same units (equal-length code arrays)."""
    if len(a) == 0:
        return float("nan")
    confusion = np.bincount(a * n_categories + b, minlength=n_categories * n_categories)
    return _kappa_from_confusion(confusion.reshape(n_categories, n_categories).astype(np.float64))


def _kappa_from_confusion(confusion: FloatArray) -> float:
    n = confusion.sum()
    if n == 0:
        return float("nan")
    observed = np.trace(confusion) / n
    chance = float(confusion.sum(axis=1) @ confusion.sum(axis=0)) / (n * n)
    if chance >= 1.0:
        return float("nan")
    return float((observed - chance) / (1.0 - chance))


def equi_join(left: IntArray, right: IntArray) -> tuple[IntArray, IntArray]:
    """All index pairs (i, j) with left[i] == right[j], vectorised (a sort-merge join)."""
    order_l = np.argsort(left, kind="stable")
    order_r = np.argsort(right, kind="stable")
    sorted_l, sorted_r = left[order_l], right[order_r]
    lo = np.searchsorted(sorted_r, sorted_l, side="left")
    hi = np.searchsorted(sorted_r, sorted_l, side="right")
    per_left = hi - lo
    total = int(per_left.sum())
    li = np.repeat(np.arange(len(sorted_l)), per_left)
    starts = np.cumsum(per_left) - per_left
    ri = lo[li] + np.arange(total) - starts[li]
    return order_l[li].astype(np.int64), order_r[ri].astype(np.int64)


@dataclass(frozen=True)
class RaterPairs:
    """Every pair of judgements of the same unit by two raters, rater_a < rater_b."""

    unit: IntArray
    rater_a: IntArray
    rater_b: IntArray
    row_a: IntArray  # row of the judgement in the source arrays
    row_b: IntArray


def rater_pairs(unit: IntArray, rater: IntArray) -> RaterPairs:
    """Pairs of judgements on the same unit (one row per unordered pair of raters)."""
    i, j = equi_join(unit, unit)
    keep = rater[i] < rater[j]
    i, j = i[keep], j[keep]
    return RaterPairs(unit[i], rater[i], rater[j], i, j)


@dataclass(frozen=True)
class PairStats:
    """Sufficient statistics of Cohen's kappa for every ordered rater pair (a < b is filled).

    ``rows[a, b]`` counts rater a's categories on the units a and b share, ``cols[a, b]`` rater
    b's, ``agree[a, b]`` the units where they agree. Label groups have disjoint categories, so
    the statistics of several groups pool by concatenating ``rows`` and ``cols`` along the
    category axis and adding ``agree``: one kappa over all clip labels without building it.
    """

    rows: FloatArray  # (n_raters, n_raters, n_categories)
    cols: FloatArray
    agree: FloatArray  # (n_raters, n_raters)

    @property
    def n(self) -> FloatArray:
        return self.rows.sum(axis=2)

    @staticmethod
    def pool(parts: Sequence[PairStats]) -> PairStats:
        return PairStats(
            np.concatenate([p.rows for p in parts], axis=2),
            np.concatenate([p.cols for p in parts], axis=2),
            np.sum([p.agree for p in parts], axis=0),
        )

    def kappa(self) -> FloatArray:
        """Symmetric matrix of Cohen's kappa (nan on the diagonal and where undefined)."""
        return _symmetric(_kappa(self.n, self.agree, (self.rows * self.cols).sum(axis=2)))

    def percent(self) -> FloatArray:
        return _symmetric(_ratios(self.agree, self.n))

    def shared(self) -> IntArray:
        n = self.n.astype(np.int64)
        return n + n.T

    def versus_others(self) -> VersusStats:
        """Each rater against everyone they share units with, all pairs pooled."""
        mine = self.rows.sum(axis=1) + self.cols.sum(axis=0)
        theirs = self.cols.sum(axis=1) + self.rows.sum(axis=0)
        return VersusStats(mine, theirs, self.agree.sum(axis=1) + self.agree.sum(axis=0))


def _kappa(n: FloatArray, agree: FloatArray, chance_mass: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = agree / n
        chance = chance_mass / (n * n)
        kappa = (observed - chance) / (1.0 - chance)
    kappa[(n == 0) | (chance >= 1.0 - 1e-12)] = np.nan
    return np.asarray(kappa, dtype=np.float64)


def pair_stats(
    rater_a: IntArray,
    rater_b: IntArray,
    code_a: IntArray,
    code_b: IntArray,
    n_raters: int,
    n_categories: int,
) -> PairStats:
    """PairStats from one row per pair of judgements (rater_a < rater_b), by bincount."""
    r, k = n_raters, n_categories
    pair = rater_a * r + rater_b
    rows = np.bincount(pair * k + code_a, minlength=r * r * k).reshape(r, r, k)
    cols = np.bincount(pair * k + code_b, minlength=r * r * k).reshape(r, r, k)
    agree = np.bincount(pair[code_a == code_b], minlength=r * r).reshape(r, r)
    return PairStats(rows.astype(np.float64), cols.astype(np.float64), agree.astype(np.float64))


@dataclass(frozen=True)
class PairwiseTable:
    """Rater x rater matrices (symmetric; nan on the diagonal and where nothing is shared)."""

    cohen_kappa: FloatArray
    percent_agreement: FloatArray
    shared_units: IntArray


def pairwise_cohen(r: Ratings, pairs: RaterPairs | None = None) -> PairwiseTable:
    """Cohen's kappa and percent agreement for every pair of raters, on the units they share."""
    pairs = rater_pairs(r.unit, r.rater) if pairs is None else pairs
    stats = pair_stats(pairs.rater_a, pairs.rater_b, r.code[pairs.row_a], r.code[pairs.row_b],
                       r.n_raters, r.n_categories)  # fmt: skip
    return PairwiseTable(stats.kappa(), stats.percent(), stats.shared())


def _symmetric(upper: FloatArray) -> FloatArray:
    out = np.where(np.isnan(upper), upper.T, upper)
    np.fill_diagonal(out, np.nan)
    return out


@dataclass(frozen=True)
class VersusStats:
    """Each rater's judgements against a comparison (others, a consensus, reviewed truth):
    category counts of the rater's side and of the comparison's, and agreements. Pools across
    label groups like ``PairStats``."""

    mine: FloatArray  # (n_raters, n_categories)
    theirs: FloatArray
    agree: FloatArray  # (n_raters,)

    @property
    def n(self) -> FloatArray:
        return self.mine.sum(axis=1)

    @staticmethod
    def pool(parts: Sequence[VersusStats]) -> VersusStats:
        return VersusStats(
            np.concatenate([p.mine for p in parts], axis=1),
            np.concatenate([p.theirs for p in parts], axis=1),
            np.sum([p.agree for p in parts], axis=0),
        )

    def result(self) -> RaterVersus:
        kappa = _kappa(self.n, self.agree, (self.mine * self.theirs).sum(axis=1))
        return RaterVersus(kappa, _ratios(self.agree, self.n), self.n.astype(np.int64))


def versus_stats(
    rater: IntArray, code: IntArray, other: IntArray, n_raters: int, n_categories: int
) -> VersusStats:
    k = n_categories
    mine = np.bincount(rater * k + code, minlength=n_raters * k).reshape(n_raters, k)
    theirs = np.bincount(rater * k + other, minlength=n_raters * k).reshape(n_raters, k)
    agree = np.bincount(rater[code == other], minlength=n_raters)
    return VersusStats(mine.astype(np.float64), theirs.astype(np.float64), agree.astype(np.float64))


@dataclass(frozen=True)
class RaterVersus:
    """Each rater against a comparison (the other raters pooled, or a consensus)."""

    cohen_kappa: FloatArray  # (n_raters,)
    percent_agreement: FloatArray
    n: IntArray


def rater_versus(rater: IntArray, code: IntArray, other: IntArray, r: Ratings) -> RaterVersus:
    """Pooled kappa and agreement of each rater's codes against ``other`` codes, row by row."""
    return versus_stats(rater, code, other, r.n_raters, r.n_categories).result()


def rater_vs_others(r: Ratings) -> RaterVersus:
    """Each rater against everyone else who rated the same units (pairs counted both ways)."""
    pairs = rater_pairs(r.unit, r.rater)
    stats = pair_stats(pairs.rater_a, pairs.rater_b, r.code[pairs.row_a], r.code[pairs.row_b],
                       r.n_raters, r.n_categories)  # fmt: skip
    return stats.versus_others().result()


@dataclass(frozen=True)
class Majority:
    """Majority vote per unit: the winning code (-1 when no judgement) and whether it tied."""

    code: IntArray
    tied: BoolArray
    votes: IntArray  # votes for the winner
    raters: IntArray  # judgements of the unit


def majority_vote(counts: IntArray) -> Majority:
    """Plurality winner per unit; a tie between the top categories is flagged, not broken
    silently (the lowest code is reported)."""
    top = counts.max(axis=1) if counts.shape[1] else np.zeros(len(counts), dtype=np.int64)
    code = counts.argmax(axis=1).astype(np.int64)
    tied = (counts == top[:, None]).sum(axis=1) > 1
    raters = counts.sum(axis=1)
    code[raters == 0] = -1
    tied[raters == 0] = False
    return Majority(code, tied & (raters > 0), top.astype(np.int64), raters.astype(np.int64))


def rater_vs_consensus(r: Ratings, counts: IntArray | None = None) -> RaterVersus:
    """Each rater against the majority vote of their units; tied units and units with a
    single judgement are left out (there is no consensus to compare with)."""
    counts = category_counts(r) if counts is None else counts
    vote = majority_vote(counts)
    usable = (~vote.tied[r.unit]) & (vote.raters[r.unit] >= 2)
    return rater_versus(r.rater[usable], r.code[usable], vote.code[r.unit[usable]], r)


# --- segments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segments:
    """Labelled time spans: one row per segment; times in seconds."""

    unit: IntArray
    rater: IntArray
    label: IntArray  # 0 .. n_labels-1
    start_s: FloatArray
    end_s: FloatArray
    n_labels: int


@dataclass(frozen=True)
class EventSettings:
    """When two segments count as the same event (sed_eval's event-based criteria).

    Same label; onsets within ``onset_collar_s``; offsets within
    max(``offset_collar_s``, ``offset_length_fraction`` x the reference segment's length)
    (a fraction of 0 gives a fixed collar).
    """

    onset_collar_s: float = 0.2
    offset_collar_s: float = 0.2
    offset_length_fraction: float = 0.2
    evaluate_offset: bool = True


@dataclass(frozen=True)
class SegmentPairwise:
    """Segment agreement for every (rater_a, rater_b, label), rater_a < rater_b as reference.

    ``matches``, ``n_a``, ``n_b`` count events (F1 = 2 matches / (n_a + n_b)); ``intersection_s``
    and ``union_s`` measure the time covered by both and by either (IoU = their ratio).
    Per unit-pair rows say which unit each pair of judgements is about.
    """

    matches: IntArray  # (n_raters, n_raters, n_labels)
    n_a: IntArray
    n_b: IntArray
    intersection_s: FloatArray
    union_s: FloatArray
    pair_unit: IntArray  # per pair of judgements
    pair_rater_a: IntArray
    pair_rater_b: IntArray
    pair_matches: IntArray
    pair_events: IntArray  # n_a + n_b per pair of judgements
    pair_intersection_s: FloatArray
    pair_union_s: FloatArray

    def f1(self) -> float:
        return _ratio(2 * self.matches.sum(), self.n_a.sum() + self.n_b.sum())

    def iou(self) -> float:
        return _ratio(self.intersection_s.sum(), self.union_s.sum())

    def f1_per_label(self) -> FloatArray:
        return _ratios(2 * self.matches.sum(axis=(0, 1)), (self.n_a + self.n_b).sum(axis=(0, 1)))

    def iou_per_label(self) -> FloatArray:
        return _ratios(self.intersection_s.sum(axis=(0, 1)), self.union_s.sum(axis=(0, 1)))

    def f1_matrix(self) -> FloatArray:
        m = self.matches.sum(axis=2)
        n = (self.n_a + self.n_b).sum(axis=2)
        return _symmetric(_ratios(2 * m, n))

    def iou_matrix(self) -> FloatArray:
        return _symmetric(_ratios(self.intersection_s.sum(axis=2), self.union_s.sum(axis=2)))

    def f1_per_rater(self) -> FloatArray:
        """Each rater's event F1 against everyone they share units with, pooled."""
        m = self.matches.sum(axis=2)
        n = (self.n_a + self.n_b).sum(axis=2)
        return _ratios(2 * (m.sum(axis=0) + m.sum(axis=1)), n.sum(axis=0) + n.sum(axis=1))

    def iou_per_rater(self) -> FloatArray:
        inter = self.intersection_s.sum(axis=2)
        union = self.union_s.sum(axis=2)
        return _ratios(inter.sum(axis=0) + inter.sum(axis=1), union.sum(axis=0) + union.sum(axis=1))


def _ratio(num: float | np.integer | np.floating, den: float | np.integer | np.floating) -> float:
    return float(num) / float(den) if den else float("nan")


def _ratios(num: NDArray[np.generic], den: NDArray[np.generic]) -> FloatArray:
    num_f = np.asarray(num, dtype=np.float64)
    den_f = np.asarray(den, dtype=np.float64)
    out = np.full(num_f.shape, np.nan)
    np.divide(num_f, den_f, out=out, where=den_f > 0)
    return out


def segment_pairwise(
    segments: Segments,
    judged_unit: IntArray,
    judged_rater: IntArray,
    n_raters: int,
    settings: EventSettings | None = None,
    *,
    pairs: RaterPairs | None = None,
) -> SegmentPairwise:
    """Event-based matching and time overlap between every two raters of every unit.

    Events are matched one-to-one with a maximum bipartite matching per (pair, label), like
    sed_eval's "optimal" matching; the lower-numbered rater of a pair is the reference whose
    length sets the relative offset collar.
    """
    settings = settings or EventSettings()
    n_l = segments.n_labels
    # ``pairs`` may be passed in when the caller already paired these judgements.
    pairs = rater_pairs(judged_unit, judged_rater) if pairs is None else pairs
    n_pairs = len(pairs.unit)
    # Attach each segment to the pairs of judgements of its unit that involve its rater.
    seg_i, pair_i = equi_join(segments.unit, pairs.unit)
    is_a = segments.rater[seg_i] == pairs.rater_a[pair_i]
    is_b = segments.rater[seg_i] == pairs.rater_b[pair_i]
    ref_seg, ref_pair = seg_i[is_a], pair_i[is_a]
    est_seg, est_pair = seg_i[is_b], pair_i[is_b]

    def per_pair_label(pair: IntArray, seg: IntArray) -> IntArray:
        return np.bincount(pair * n_l + segments.label[seg], minlength=n_pairs * n_l).astype(
            np.int64
        )

    n_ref = per_pair_label(ref_pair, ref_seg)
    n_est = per_pair_label(est_pair, est_seg)
    matched = _event_matches(segments, ref_seg, ref_pair, est_seg, est_pair, settings)
    matches = np.bincount(matched, minlength=n_pairs * n_l).astype(np.int64)
    inter, union = _overlap(segments, ref_seg, ref_pair, est_seg, est_pair, n_pairs)

    shape = (n_raters, n_raters, n_l)
    group = (
        np.repeat(pairs.rater_a * n_raters + pairs.rater_b, n_l) * n_l
        + np.tile(np.arange(n_l), n_pairs)
    ).astype(np.int64)
    size = n_raters * n_raters * n_l

    def fold(values: NDArray[np.generic]) -> NDArray[np.generic]:
        return np.bincount(group, weights=values, minlength=size).reshape(shape)

    return SegmentPairwise(
        matches=fold(matches).astype(np.int64),
        n_a=fold(n_ref).astype(np.int64),
        n_b=fold(n_est).astype(np.int64),
        intersection_s=fold(inter).astype(np.float64),
        union_s=fold(union).astype(np.float64),
        pair_unit=pairs.unit,
        pair_rater_a=pairs.rater_a,
        pair_rater_b=pairs.rater_b,
        pair_matches=matches.reshape(n_pairs, n_l).sum(axis=1),
        pair_events=(n_ref + n_est).reshape(n_pairs, n_l).sum(axis=1),
        pair_intersection_s=inter.reshape(n_pairs, n_l).sum(axis=1),
        pair_union_s=union.reshape(n_pairs, n_l).sum(axis=1),
    )


def _event_matches(
    segments: Segments,
    ref_seg: IntArray,
    ref_pair: IntArray,
    est_seg: IntArray,
    est_pair: IntArray,
    settings: EventSettings,
) -> IntArray:
    """The (pair * n_labels + label) group of every matched reference event."""
    n_l = segments.n_labels
    ref_key = ref_pair * n_l + segments.label[ref_seg]
    est_key = est_pair * n_l + segments.label[est_seg]
    ri, ei = equi_join(ref_key, est_key)
    r_s, e_s = ref_seg[ri], est_seg[ei]
    start, end = segments.start_s, segments.end_s
    # A tiny tolerance so a collar of exactly 0.2 s is met by 0.2 s written as floats.
    eps = 1e-9
    hit = np.abs(start[r_s] - start[e_s]) <= settings.onset_collar_s + eps
    if settings.evaluate_offset:
        collar = np.maximum(
            settings.offset_collar_s, settings.offset_length_fraction * (end[r_s] - start[r_s])
        )
        hit &= np.abs(end[r_s] - end[e_s]) <= collar + eps
    ri, ei = ri[hit], ei[hit]
    if len(ri) == 0:
        return np.zeros(0, dtype=np.int64)
    # Edges whose two ends have no other edge are matched in every maximum matching; only the
    # rest (rare: several candidates within the collars) needs an augmenting-path search.
    deg_r = np.bincount(ri, minlength=len(ref_seg))
    deg_e = np.bincount(ei, minlength=len(est_seg))
    simple = (deg_r[ri] == 1) & (deg_e[ei] == 1)
    keys = [ref_key[ri[simple]]]
    hard_r, hard_e = ri[~simple], ei[~simple]
    if len(hard_r):
        group_of = ref_key[hard_r]
        order = np.argsort(group_of, kind="stable")
        bounds = np.flatnonzero(np.diff(group_of[order])) + 1
        for chunk in np.split(order, bounds):
            size = _max_matching(hard_r[chunk].tolist(), hard_e[chunk].tolist())
            keys.append(np.full(size, group_of[chunk[0]], dtype=np.int64))
    return np.concatenate(keys).astype(np.int64)


def _max_matching(left: list[int], right: list[int]) -> int:
    """Size of a maximum bipartite matching given as edge lists (Kuhn's augmenting paths)."""
    adjacency: dict[int, list[int]] = {}
    for a, b in zip(left, right, strict=True):
        adjacency.setdefault(a, []).append(b)
    owner: dict[int, int] = {}

    def augment(a: int, seen: set[int]) -> bool:
        for b in adjacency[a]:
            if b in seen:
                continue
            seen.add(b)
            if b not in owner or augment(owner[b], seen):
                owner[b] = a
                return True
        return False

    return sum(augment(a, set()) for a in adjacency)


def merge_intervals(group: IntArray, start_us: IntArray, end_us: IntArray) -> tuple[IntArray, ...]:
    """Union of intervals within each group: returns (group, start_us, end_us) of disjoint,
    sorted intervals. Integer microseconds keep the per-group running maximum exact."""
    if len(group) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    order = np.lexsort((start_us, group))
    g, s, e = group[order], start_us[order], end_us[order]
    # Running max of end within each group: offset groups so one cumulative max serves all.
    span = int(e.max() - min(int(s.min()), 0)) + 1
    rank = np.cumsum(np.r_[0, np.diff(g) != 0])
    running = np.maximum.accumulate(e + rank * span) - rank * span
    previous_end = np.r_[np.iinfo(np.int64).min, running[:-1]]
    new = np.r_[True, g[1:] != g[:-1]] | (s > previous_end)
    idx = np.flatnonzero(new)
    ends = np.maximum.reduceat(e, idx)
    return g[idx], s[idx], ends


def _overlap(
    segments: Segments,
    ref_seg: IntArray,
    ref_pair: IntArray,
    est_seg: IntArray,
    est_pair: IntArray,
    n_pairs: int,
) -> tuple[FloatArray, FloatArray]:
    """Seconds covered by both raters and by either, per (pair, label) group."""
    n_l = segments.n_labels
    size = n_pairs * n_l
    start_us = np.round(segments.start_s * _US_PER_S).astype(np.int64)
    end_us = np.round(segments.end_s * _US_PER_S).astype(np.int64)
    g_a, s_a, e_a = merge_intervals(
        ref_pair * n_l + segments.label[ref_seg], start_us[ref_seg], end_us[ref_seg]
    )
    g_b, s_b, e_b = merge_intervals(
        est_pair * n_l + segments.label[est_seg], start_us[est_seg], end_us[est_seg]
    )
    total_a = np.bincount(g_a, weights=e_a - s_a, minlength=size)
    total_b = np.bincount(g_b, weights=e_b - s_b, minlength=size)
    ia, ib = equi_join(g_a, g_b)
    both = np.maximum(0, np.minimum(e_a[ia], e_b[ib]) - np.maximum(s_a[ia], s_b[ib]))
    inter = np.bincount(g_a[ia], weights=both, minlength=size)
    union = total_a + total_b - inter
    return inter / _US_PER_S, union / _US_PER_S

"""Every metric against an independent reference implementation, on random data with fixed seeds.

References (test-only dependencies): ``krippendorff`` (alpha), scikit-learn
(``cohen_kappa_score``), statsmodels (``fleiss_kappa``), sed_eval (event-based F1), and a
brute-force time grid for the overlap IoU.
"""

from __future__ import annotations

import sys
import types

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from backend.agreement import metrics
from backend.agreement.metrics import EventSettings, Ratings, Segments

# dcase_util (under sed_eval) imports pkg_resources at module level, which setuptools >= 81
# no longer ships; it only uses it in helpers these tests never call.
sys.modules.setdefault("pkg_resources", types.ModuleType("pkg_resources"))
import sed_eval  # noqa: E402

SHAPES = [  # (units, raters, categories, share of judgements missing)
    (5, 2, 2, 0.0),
    (40, 3, 3, 0.0),
    (200, 4, 5, 0.3),
    (300, 7, 2, 0.5),
    (1000, 3, 4, 0.1),
    (60, 12, 6, 0.7),
]


def _random_ratings(seed: int, units: int, raters: int, cats: int, missing: float) -> np.ndarray:
    """A (raters, units) float matrix with nan for missing: biased towards agreement."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, cats, size=units)
    noise = rng.integers(0, cats, size=(raters, units))
    data = np.where(rng.random((raters, units)) < 0.6, truth, noise).astype(float)
    data[rng.random((raters, units)) < missing] = np.nan
    return data


def _long(data: np.ndarray, cats: int) -> Ratings:
    rater, unit = np.nonzero(~np.isnan(data))
    code = data[rater, unit].astype(np.int64)
    return Ratings(unit.astype(np.int64), rater.astype(np.int64), code, data.shape[1],
                   data.shape[0], cats)  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", SHAPES)
def test_krippendorff_alpha_matches_the_krippendorff_package(shape, seed):
    # given ratings with missing values and uneven rater counts per unit
    data = _random_ratings(seed, *shape)
    # when alpha is computed both ways
    ours = metrics.krippendorff_alpha(metrics.category_counts(_long(data, shape[2])))
    theirs = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    # then they agree
    assert ours == pytest.approx(theirs, abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", [(*s[:3], 0.0) for s in SHAPES])
def test_fleiss_kappa_matches_statsmodels(shape, seed):
    data = _random_ratings(seed, *shape)
    counts = metrics.category_counts(_long(data, shape[2]))
    assert metrics.fleiss_kappa(counts) == pytest.approx(sm_fleiss_kappa(counts), abs=1e-9)


def test_fleiss_kappa_with_uneven_raters_uses_each_units_own_count():
    # given units rated by 2 and by 3 raters
    counts = np.array([[2, 0], [1, 1], [3, 0], [1, 2], [0, 2]], dtype=np.int64)
    # then observed agreement per unit is sum n(n-1) / m(m-1), chance from all judgements
    p_unit = np.array([1, 0, 1, 1 / 3, 1])
    p = np.array([7, 5]) / 12
    expected = (p_unit.mean() - (p**2).sum()) / (1 - (p**2).sum())
    assert metrics.fleiss_kappa(counts) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", SHAPES)
def test_pairwise_cohen_kappa_matches_scikit_learn(shape, seed):
    data = _random_ratings(seed, *shape)
    r = _long(data, shape[2])
    table = metrics.pairwise_cohen(r)
    raters = shape[1]
    for a in range(raters):
        for b in range(a + 1, raters):
            both = ~np.isnan(data[a]) & ~np.isnan(data[b])
            assert table.shared_units[a, b] == both.sum()
            if both.sum() < 2:
                continue
            x, y = data[a, both].astype(int), data[b, both].astype(int)
            with np.errstate(all="ignore"):
                ref = cohen_kappa_score(x, y, labels=list(range(shape[2])))
            ours = table.cohen_kappa[a, b]
            assert ours == pytest.approx(ref, abs=1e-9, nan_ok=True)
            assert table.cohen_kappa[b, a] == pytest.approx(ours, nan_ok=True)
            assert table.percent_agreement[a, b] == pytest.approx(np.mean(x == y))
            assert metrics.cohen_kappa(x, y, shape[2]) == pytest.approx(ref, nan_ok=True)


@pytest.mark.parametrize("shape", SHAPES)
def test_percent_agreement_is_the_mean_share_of_agreeing_pairs(shape):
    data = _random_ratings(7, *shape)
    expected = []
    for u in range(data.shape[1]):
        col = data[:, u][~np.isnan(data[:, u])]
        pairs = [(i, j) for i in range(len(col)) for j in range(len(col)) if i != j]
        if pairs:
            expected.append(np.mean([col[i] == col[j] for i, j in pairs]))
    ours = metrics.percent_agreement(metrics.category_counts(_long(data, shape[2])))
    assert ours == pytest.approx(np.mean(expected))


def test_rater_vs_others_pools_that_raters_pairs_in_cohens_kappa():
    data = _random_ratings(3, 300, 4, 3, 0.2)
    r = _long(data, 3)
    versus = metrics.rater_vs_others(r)
    for a in range(4):
        mine, theirs = [], []
        for b in range(4):
            both = (b != a) & ~np.isnan(data[a]) & ~np.isnan(data[b]) if b != a else None
            if both is None:
                continue
            mine += list(data[a, both].astype(int))
            theirs += list(data[b, both].astype(int))
        assert versus.cohen_kappa[a] == pytest.approx(
            cohen_kappa_score(mine, theirs, labels=[0, 1, 2])
        )
        assert versus.n[a] == len(mine)


def test_binary_per_label_matches_the_reference_on_presence():
    data = _random_ratings(11, 400, 5, 4, 0.3)
    r = _long(data, 4)
    for label in range(4):
        binary = np.where(np.isnan(data), np.nan, (data == label).astype(float))
        ours = metrics.krippendorff_alpha(metrics.category_counts(r.binary(label)))
        theirs = krippendorff.alpha(reliability_data=binary, level_of_measurement="nominal")
        assert ours == pytest.approx(theirs, abs=1e-9)


def test_majority_vote_flags_ties():
    counts = np.array([[2, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 3]], dtype=np.int64)
    vote = metrics.majority_vote(counts)
    assert vote.code.tolist() == [0, 0, -1, 2]
    assert vote.tied.tolist() == [False, True, False, False]
    assert vote.votes.tolist() == [2, 1, 0, 3]


def test_perfect_agreement_and_undefined_cases():
    perfect = np.array([[0, 1, 2, 0], [0, 1, 2, 0]], dtype=float)
    counts = metrics.category_counts(_long(perfect, 3))
    assert metrics.krippendorff_alpha(counts) == pytest.approx(1.0)
    assert metrics.fleiss_kappa(counts) == pytest.approx(1.0)
    assert metrics.percent_agreement(counts) == pytest.approx(1.0)
    # one category in use: chance agreement is 1, the coefficients are undefined
    same = metrics.category_counts(_long(np.zeros((2, 5)), 2))
    assert np.isnan(metrics.krippendorff_alpha(same))
    assert np.isnan(metrics.fleiss_kappa(same))
    # nothing pairable
    single = metrics.category_counts(_long(np.array([[0.0, np.nan], [np.nan, 1.0]]), 2))
    assert np.isnan(metrics.krippendorff_alpha(single))
    assert np.isnan(metrics.percent_agreement(single))


# --- segments ------------------------------------------------------------------------------


def _random_segments(seed: int, units: int, raters: int, labels: int, per: int, missing: float):
    """Raters who roughly agree: jittered copies of true events, some dropped, some invented."""
    rng = np.random.default_rng(seed)
    judged_u, judged_r, rows = [], [], []
    for u in range(units):
        truth = []
        for _ in range(rng.integers(0, per + 1)):
            start = float(np.round(rng.uniform(0, 20), 3))
            truth.append((start, float(np.round(start + rng.uniform(0.05, 4), 3)),
                          int(rng.integers(0, labels))))  # fmt: skip
        for r in range(raters):
            if rng.random() < missing:
                continue
            judged_u.append(u)
            judged_r.append(r)
            for start, end, label in truth:
                if rng.random() < 0.15:
                    continue
                js = float(np.round(rng.normal(0, 0.25), 3))
                je = float(np.round(rng.normal(0, 0.4), 3))
                s, e = max(0.0, start + js), end + je
                if e > s:
                    rows.append((u, r, label, s, e))
            if rng.random() < 0.3:
                s = float(np.round(rng.uniform(0, 20), 3))
                rows.append((u, r, int(rng.integers(0, labels)), s, s + 1.0))
    arr = np.array(rows, dtype=float).reshape(-1, 5)
    segments = Segments(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64),
                        arr[:, 2].astype(np.int64), arr[:, 3], arr[:, 4], labels)  # fmt: skip
    return (
        segments,
        np.array(judged_u, dtype=np.int64),
        np.array(judged_r, dtype=np.int64),
    )


def _events(segments: Segments, unit: int, rater: int) -> list[dict]:
    pick = (segments.unit == unit) & (segments.rater == rater)
    return [
        {"filename": f"u{unit}", "event_label": f"l{lab}", "onset": s, "offset": e}
        for lab, s, e in zip(segments.label[pick], segments.start_s[pick], segments.end_s[pick],
                             strict=True)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("seed", "units", "raters", "labels", "per", "missing", "collar", "fraction"),
    [
        (0, 30, 2, 1, 4, 0.0, 0.2, 0.2),
        (1, 40, 3, 3, 5, 0.2, 0.2, 0.5),
        (2, 25, 4, 2, 8, 0.3, 0.5, 0.0),
        (3, 60, 3, 4, 3, 0.1, 0.1, 0.2),
    ],
)
def test_event_f1_matches_sed_eval(seed, units, raters, labels, per, missing, collar, fraction):
    # given random segments by several raters, some items not judged by everyone
    segments, judged_u, judged_r = _random_segments(seed, units, raters, labels, per, missing)
    settings = EventSettings(onset_collar_s=collar, offset_collar_s=collar,
                             offset_length_fraction=fraction)  # fmt: skip
    # when pairwise agreement is computed
    result = metrics.segment_pairwise(segments, judged_u, judged_r, raters, settings)
    judged = set(zip(judged_u.tolist(), judged_r.tolist(), strict=True))
    names = [f"l{i}" for i in range(labels)]
    # then every pair of raters matches sed_eval's event-based F1, overall and per label
    for a in range(raters):
        for b in range(a + 1, raters):
            ev = sed_eval.sound_event.EventBasedMetrics(
                event_label_list=names, t_collar=collar, percentage_of_length=fraction,
                event_matching_type="optimal",
            )  # fmt: skip
            shared = [u for u in range(units) if (u, a) in judged and (u, b) in judged]
            for u in shared:
                ev.evaluate(_events(segments, u, a), _events(segments, u, b))
            ref = ev.results()
            n_ref = sum(len(_events(segments, u, a)) for u in shared)
            n_est = sum(len(_events(segments, u, b)) for u in shared)
            assert result.n_a[a, b].sum() == n_ref
            assert result.n_b[a, b].sum() == n_est
            assert result.matches[a, b].sum() == round(ev.overall["Ntp"])
            if n_ref + n_est:
                expected = ref["overall"]["f_measure"]["f_measure"] if n_ref and n_est else 0.0
                assert 2 * result.matches[a, b].sum() / (n_ref + n_est) == pytest.approx(expected)
            for i, name in enumerate(names):
                assert result.matches[a, b, i] == round(ev.class_wise[name]["Ntp"])


def test_event_matching_is_optimal_not_greedy():
    # given one reference event that could match either estimate and one that matches only the
    # first: greedy order would take the first for the first and leave the second unmatched
    segments = Segments(
        unit=np.zeros(4, dtype=np.int64),
        rater=np.array([0, 0, 1, 1]),
        label=np.zeros(4, dtype=np.int64),
        start_s=np.array([1.0, 1.3, 1.1, 1.5]),
        end_s=np.array([2.0, 2.3, 2.1, 2.5]),
        n_labels=1,
    )
    result = metrics.segment_pairwise(segments, np.array([0, 0]), np.array([0, 1]), 2,
                                      EventSettings(0.25, 0.25, 0.0))  # fmt: skip
    assert result.matches.sum() == 2


def _grid_iou(segments: Segments, units, a: int, b: int, label: int) -> tuple[float, float]:
    """Seconds covered by both and by either, measured on a 1 ms grid (brute force)."""
    step = 0.001
    inter = union = 0.0
    for u in units:
        grid = np.arange(0, 30, step) + step / 2
        cover = []
        for r in (a, b):
            pick = (segments.unit == u) & (segments.rater == r) & (segments.label == label)
            on = np.zeros(len(grid), dtype=bool)
            for s, e in zip(segments.start_s[pick], segments.end_s[pick], strict=True):
                on |= (grid >= s) & (grid < e)
            cover.append(on)
        inter += (cover[0] & cover[1]).sum() * step
        union += (cover[0] | cover[1]).sum() * step
    return inter, union


def test_time_overlap_iou_matches_a_brute_force_grid():
    segments, judged_u, judged_r = _random_segments(5, 12, 3, 2, 6, 0.2)
    # round to the grid so the brute force is exact
    segments = Segments(segments.unit, segments.rater, segments.label,
                        np.round(segments.start_s, 3), np.round(segments.end_s, 3), 2)  # fmt: skip
    result = metrics.segment_pairwise(segments, judged_u, judged_r, 3)
    judged = set(zip(judged_u.tolist(), judged_r.tolist(), strict=True))
    for a in range(3):
        for b in range(a + 1, 3):
            shared = [u for u in range(12) if (u, a) in judged and (u, b) in judged]
            for label in range(2):
                inter, union = _grid_iou(segments, shared, a, b, label)
                assert result.intersection_s[a, b, label] == pytest.approx(inter, abs=0.01)
                assert result.union_s[a, b, label] == pytest.approx(union, abs=0.01)


def test_merge_intervals_joins_overlapping_and_touching_spans_per_group():
    group = np.array([0, 0, 0, 1, 1, 0])
    start = np.array([0, 5, 2, 0, 10, 20])
    end = np.array([3, 6, 4, 15, 12, 21])
    g, s, e = metrics.merge_intervals(group, start, end)
    assert list(zip(g.tolist(), s.tolist(), e.tolist(), strict=True)) == [
        (0, 0, 4), (0, 5, 6), (0, 20, 21), (1, 0, 15)
    ]  # fmt: skip

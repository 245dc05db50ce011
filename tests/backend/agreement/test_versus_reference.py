"""Each annotator against the consensus of the others and against reviewed truth, checked on
generated projects against independent references: scikit-learn's ``cohen_kappa_score`` for
clip labels, ``consensus.segment_consensus`` run item by item plus ``sed_eval``'s event-based
metrics for segments, and a plain interval union for the time IoU.
"""

from __future__ import annotations

import sys
import types
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from backend.agreement import versus
from backend.agreement.consensus import AnnotationInput, SegmentInput, segment_consensus
from backend.agreement.metrics import EventSettings
from backend.agreement.report import (
    AnnotationColumns,
    GroupSpec,
    ReportSettings,
    SegmentColumns,
    TruthColumns,
    build_report,
)

sys.modules.setdefault("pkg_resources", types.ModuleType("pkg_resources"))
import sed_eval  # noqa: E402

SCENES = ("street", "park", "home")
TAGS = ("speech", "music", "birds")
EVENTS = ("dog", "car")
GROUPS = [GroupSpec("scene", "single", SCENES), GroupSpec("tags", "multi", TAGS)]
REVIEWER = 900  # author of the reference annotations
# scikit-learn warns when a reference kappa is undefined (one category); the test expects None.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")


@dataclass
class Work:
    """One submitted annotation: who, which item, clip labels, segments, accepted or not."""

    annotation_id: int
    item: int
    annotator: int
    labels: dict[str, list[str]]
    segments: list[tuple[str, float, float]] = field(default_factory=list)
    accepted: bool = False


@dataclass
class Project:
    work: list[Work]
    # item -> (author, clip labels, segments) of its reference annotation
    references: dict[int, tuple[int, dict[str, list[str]], list[tuple[str, float, float]]]]


def _generate(seed: int, n_items: int, pool: int) -> Project:
    """Items labelled by 1-5 annotators who mostly copy a hidden truth; some work accepted in
    review, some items with a reviewer's reference (one written by an annotator of the item).
    Times are unrounded floats: sed_eval compares collars strictly, Earmark with a nanosecond
    of tolerance, and only times on a decimal grid land exactly on a collar."""
    rng = np.random.default_rng(seed)
    work: list[Work] = []
    references = {}
    next_id = 1
    for item in range(n_items):
        scene = SCENES[rng.integers(3)]
        tags = [t for t in TAGS if rng.random() < 0.4]
        events = []
        for _ in range(rng.integers(0, 4)):
            s = float(rng.uniform(0, 20))
            events.append((EVENTS[rng.integers(2)], s, s + float(rng.uniform(0.2, 3))))
        people = rng.choice(
            pool, size=int(rng.integers(1, min(pool, 5) + 1)), replace=False
        ).tolist()
        for who in people:
            labels: dict[str, list[str]] = {}
            if rng.random() > 0.1:  # sometimes the optional single-choice group is left empty
                labels["scene"] = [scene if rng.random() < 0.7 else SCENES[rng.integers(3)]]
            labels["tags"] = [t for t in TAGS if (t in tags) != (rng.random() < 0.2)]
            segments = []
            for label, s, e in events:
                if rng.random() < 0.15:
                    continue
                js, je = rng.normal(0, 0.2, size=2)
                if e + je > s + js >= 0:
                    segments.append((label, float(s + js), float(e + je)))
            if rng.random() < 0.3:  # an invented event, sometimes on top of a true one
                s = float(rng.uniform(0, 20))
                segments.append((EVENTS[rng.integers(2)], s, s + 1.0))
            work.append(Work(next_id, item, who, labels, segments, bool(rng.random() < 0.15)))
            next_id += 1
        if rng.random() < 0.2:
            author = people[0] if rng.random() < 0.2 else REVIEWER
            references[item] = (author, {"scene": [scene], "tags": tags}, list(events))
    return Project(work, references)


def _columns(p: Project) -> tuple[AnnotationColumns, SegmentColumns, TruthColumns]:
    w = p.work
    annotations = AnnotationColumns(
        annotation_id=np.array([a.annotation_id for a in w], dtype=np.int64),
        item_id=np.array([a.item for a in w], dtype=np.int64),
        annotator_id=np.array([a.annotator for a in w], dtype=np.int64),
        lead_time_s=np.ones(len(w)),
        clip_labels=[a.labels for a in w],
        accepted=np.array([a.accepted for a in w]),
    )
    segs = [(a.annotation_id, *s) for a in w for s in a.segments]
    segments = SegmentColumns(
        annotation_id=np.array([s[0] for s in segs], dtype=np.int64),
        label=[s[1] for s in segs],
        start_s=np.array([s[2] for s in segs]),
        end_s=np.array([s[3] for s in segs]),
    )
    items = sorted(p.references)
    ref_ids = [100_000 + i for i in items]
    ref_segs = [(100_000 + i, *s) for i in items for s in p.references[i][2]]
    truth = TruthColumns(
        item_id=np.array(items, dtype=np.int64),
        clip_labels=[p.references[i][1] for i in items],
        annotation_id=np.array(ref_ids, dtype=np.int64),
        author_id=np.array([p.references[i][0] for i in items], dtype=np.int64),
        segments=SegmentColumns(
            annotation_id=np.array([s[0] for s in ref_segs], dtype=np.int64),
            label=[s[1] for s in ref_segs],
            start_s=np.array([s[2] for s in ref_segs]),
            end_s=np.array([s[3] for s in ref_segs]),
        ),
    )
    return annotations, segments, truth


def _by_item(p: Project) -> dict[int, list[Work]]:
    out: dict[int, list[Work]] = {}
    for a in p.work:
        out.setdefault(a.item, []).append(a)
    return out


def _truth_of(p: Project, item: int, who: int, mates: list[Work]) -> list[tuple[dict, list]]:
    """Reviewed truth of ``item`` that ``who`` is compared with: the reference, else the
    accepted annotations, never their own work."""
    if item in p.references:
        author, labels, segments = p.references[item]
        return [] if author == who else [(labels, segments)]
    return [(a.labels, a.segments) for a in mates if a.accepted and a.annotator != who]


def _clip_pairs(mine: dict, theirs: dict) -> list[tuple[str, str, str]]:
    """(group:label key for per-label figures, my category, the reference's). Categories as
    the report pools them: a single-choice group's labels, a multi-choice group's present or
    absent (its labels' units pooled into one binary judgement)."""
    out = []
    if mine.get("scene") and theirs.get("scene"):
        m, t = mine["scene"][0], theirs["scene"][0]
        out.append(("scene", f"scene:{m}", f"scene:{t}"))
    for tag in TAGS:
        m, t = int(tag in mine.get("tags", [])), int(tag in theirs.get("tags", []))
        out.append((f"tags:{tag}", f"tags:{m}", f"tags:{t}"))
    return out


def _loo_clip(mine: Work, others: list[Work]) -> list[tuple[str, str, str]]:
    """My judgements against the majority of the others (at least two of them, no tie)."""
    out = []
    votes = Counter(o.labels["scene"][0] for o in others if o.labels.get("scene"))
    if mine.labels.get("scene") and sum(votes.values()) >= 2:
        (top, n), *rest = [*votes.most_common(), ("", 0)]
        if rest[0][1] < n:
            out.append(("scene", f"scene:{mine.labels['scene'][0]}", f"scene:{top}"))
    if len(others) >= 2:
        for tag in TAGS:
            n = sum(tag in o.labels.get("tags", []) for o in others)
            if 2 * n != len(others):
                m = int(tag in mine.labels.get("tags", []))
                out.append((f"tags:{tag}", f"tags:{m}", f"tags:{int(2 * n > len(others))}"))
    return out


def _kappa(mine: list[str], theirs: list[str]) -> float | None:
    if not mine:
        return None
    with np.errstate(all="ignore"):
        value = cohen_kappa_score(mine, theirs)
    return None if np.isnan(value) else float(value)


def _binary(pairs: list[tuple[str, str, str]], key: str) -> tuple[list[str], list[str]]:
    """One label's present / absent view of the pairs (single choice: this label or not)."""
    group, _, label = key.partition(":")
    mine, theirs = [], []
    for k, m, t in pairs:
        if group == "scene" and k == "scene":
            mine.append(str(m == f"scene:{label}"))
            theirs.append(str(t == f"scene:{label}"))
        elif k == key:
            mine.append(m[-1])
            theirs.append(t[-1])
    return mine, theirs


def _approx(value: float | None):
    return None if value is None else pytest.approx(value, abs=1e-4)


@pytest.mark.parametrize(("seed", "n_items", "pool"), [(0, 150, 6), (1, 300, 4), (2, 80, 9)])
def test_clip_labels_against_consensus_and_truth_match_scikit_learn(seed, n_items, pool):
    # given a generated project with uneven overlap, accepted work and references
    p = _generate(seed, n_items, pool)
    annotations, segments, truth = _columns(p)
    # when the report is built
    report = build_report(annotations, segments, GROUPS, EVENTS, truth=truth)
    rows = {r["annotator_id"]: r for r in report["annotators"]}
    by_item = _by_item(p)
    # then every annotator's figures are scikit-learn's Cohen's kappa on the pairs a plain
    # loop finds: the majority of the others, and reviewed truth that is not their own
    for who in sorted(rows):
        loo: list[tuple[str, str, str]] = []
        against_truth: list[tuple[str, str, str]] = []
        for item, mates in by_item.items():
            mine = next((a for a in mates if a.annotator == who), None)
            if mine is None:
                continue
            loo += _loo_clip(mine, [a for a in mates if a is not mine])
            for labels, _ in _truth_of(p, item, who, mates):
                against_truth += _clip_pairs(mine.labels, labels)
        row = rows[who]
        for name, pairs in (("consensus", loo), ("truth", against_truth)):
            mine_codes, theirs_codes = [m for _, m, _ in pairs], [t for _, _, t in pairs]
            assert row[f"judgements_vs_{name}"] == len(pairs)
            assert row[f"kappa_vs_{name}"] == _approx(_kappa(mine_codes, theirs_codes))
            agreement = np.mean([m == t for m, t in zip(mine_codes, theirs_codes, strict=True)])
            assert row[f"agreement_vs_{name}"] == _approx(float(agreement) if pairs else None)
            for entry in (e for e in row["labels"] if e["kind"] == "clip"):
                key = f"{entry['group']}:{entry['label']}"
                m, t = _binary(pairs, key)
                assert entry[f"judgements_vs_{name}"] == len(m), (who, name, key)
                assert entry[f"kappa_vs_{name}"] == _approx(_kappa(m, t)), (who, name, key)


def _sed_events(segments, tag: str) -> list[dict]:
    return [
        {"filename": tag, "event_label": lab, "onset": s, "offset": e} for lab, s, e in segments
    ]


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> tuple[float, float]:
    """Seconds covered by both and by either (each side's spans merged first)."""
    ua, ub = _union(a), _union(b)
    both = sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in ua for s2, e2 in ub)
    return both, sum(e - s for s, e in ua) + sum(e - s for s, e in ub) - both


def _consensus_of(others: list[Work], min_iou: float) -> list[tuple[str, float, float]]:
    merged = segment_consensus(
        [AnnotationInput(o.annotator, {}, [SegmentInput(*s) for s in o.segments]) for o in others],
        min_iou=min_iou,
    )
    return [(c.label, c.start_s, c.end_s) for c in merged if 2 * c.support > len(others)]


@pytest.mark.parametrize(
    ("seed", "n_items", "pool", "collar", "fraction", "min_iou"),
    [(3, 120, 5, 0.2, 0.2, 0.3), (4, 200, 8, 0.3, 0.0, 0.5), (5, 90, 4, 0.1, 0.5, 0.1)],
)
def test_segments_against_consensus_and_truth_match_sed_eval(
    seed, n_items, pool, collar, fraction, min_iou
):
    # given a generated project with segments by 1-5 annotators per item
    p = _generate(seed, n_items, pool)
    annotations, segments, truth = _columns(p)
    events = EventSettings(onset_collar_s=collar, offset_collar_s=collar,
                           offset_length_fraction=fraction)  # fmt: skip
    # when the report is built
    report = build_report(annotations, segments, GROUPS, EVENTS, truth=truth,
                          settings=ReportSettings(events=events, min_iou=min_iou))  # fmt: skip
    rows = {r["annotator_id"]: r for r in report["annotators"]}
    by_item = _by_item(p)
    # then each annotator's event F1 is sed_eval's, with the consensus of the others (merged by
    # consensus.py item by item) or the reviewed truth as reference, and the IoU a plain union's
    for who in sorted(rows):
        checked = {}
        for name in ("consensus", "truth"):
            ev = sed_eval.sound_event.EventBasedMetrics(
                event_label_list=list(EVENTS), t_collar=collar, percentage_of_length=fraction,
                event_matching_type="optimal",
            )  # fmt: skip
            n_ref = n_est = 0
            per_label = {label: [0.0, 0.0] for label in EVENTS}
            for item, mates in by_item.items():
                mine = next((a for a in mates if a.annotator == who), None)
                if mine is None:
                    continue
                others = [a for a in mates if a is not mine]
                if name == "consensus":
                    references = [_consensus_of(others, min_iou)] if len(others) >= 2 else []
                else:
                    references = [s for _, s in _truth_of(p, item, who, mates)]
                for reference in references:
                    ev.evaluate(_sed_events(reference, f"i{item}"),
                                _sed_events(mine.segments, f"i{item}"))  # fmt: skip
                    n_ref += len(reference)
                    n_est += len(mine.segments)
                    for label in EVENTS:
                        both, either = _overlap(
                            [(s, e) for lab, s, e in reference if lab == label],
                            [(s, e) for lab, s, e in mine.segments if lab == label],
                        )
                        per_label[label][0] += both
                        per_label[label][1] += either
            row = rows[who]
            ntp = round(ev.overall["Ntp"])
            assert row[f"segment_events_vs_{name}"] == n_ref + n_est
            expected = 2 * ntp / (n_ref + n_est) if n_ref + n_est else None
            assert row[f"segment_f1_vs_{name}"] == _approx(expected), (who, name)
            both = sum(v[0] for v in per_label.values())
            either = sum(v[1] for v in per_label.values())
            assert row[f"segment_iou_vs_{name}"] == _approx(both / either if either else None)
            for entry in (e for e in row["labels"] if e["kind"] == "segment"):
                label = entry["label"]
                cw = ev.class_wise[label]
                n = round(cw["Nref"]) + round(cw["Nsys"])
                assert entry[f"events_vs_{name}"] == n
                assert entry[f"f1_vs_{name}"] == _approx(2 * round(cw["Ntp"]) / n if n else None)
                b, e = per_label[label]
                assert entry[f"iou_vs_{name}"] == _approx(b / e if e else None)
            checked[name] = n_ref + n_est
        assert checked  # both references were looked at for this annotator


def test_generated_projects_exercise_the_tangled_consensus_path(monkeypatch):
    # the references above prove the fast path only if some runs of overlapping segments of
    # one label hold three or more segments: those go through segment_consensus itself
    calls = []
    original = versus.segment_consensus

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(versus, "segment_consensus", counting)
    annotations, segments, truth = _columns(_generate(4, 200, 8))
    build_report(annotations, segments, GROUPS, EVENTS, truth=truth)
    assert len(calls) >= 3

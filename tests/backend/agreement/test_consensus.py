from __future__ import annotations

import pytest

from backend.agreement.consensus import (
    AnnotationInput,
    SegmentInput,
    clip_vote,
    item_consensus,
    segment_consensus,
)

LABELS = ("street", "park", "home")


def _a(annotator_id: int, labels: dict | None = None, *segments: tuple[str, float, float]):
    return AnnotationInput(annotator_id, labels or {},
                           [SegmentInput(lab, s, e) for lab, s, e in segments])  # fmt: skip


def test_single_choice_majority_wins():
    vote = clip_vote("scene", "single", LABELS,
                     [_a(1, {"scene": ["park"]}), _a(2, {"scene": ["park"]}),
                      _a(3, {"scene": ["street"]})])  # fmt: skip
    assert vote.labels == ("park",)
    assert vote.votes == {"street": 1, "park": 2, "home": 0}
    assert not vote.tied


def test_single_choice_tie_is_flagged_not_broken():
    vote = clip_vote("scene", "single", LABELS,
                     [_a(1, {"scene": ["park"]}), _a(2, {"scene": ["street"]}), _a(3)])  # fmt: skip
    assert vote.labels == ()
    assert vote.tied
    assert vote.tied_labels == ("street", "park")
    assert vote.voters == 2


def test_multi_choice_needs_more_than_half_and_flags_exact_halves():
    people = [_a(1, {"tags": ["speech", "music"]}), _a(2, {"tags": ["speech"]}),
              _a(3, {"tags": ["music", "traffic"]}), _a(4, {})]  # fmt: skip
    vote = clip_vote("tags", "multi", ("speech", "music", "traffic"), people)
    # speech 2/4 and music 2/4 are ties; traffic 1/4 is absent
    assert vote.labels == ()
    assert vote.tied_labels == ("speech", "music")
    vote3 = clip_vote("tags", "multi", ("speech", "music", "traffic"), people[:3])
    assert vote3.labels == ("speech", "music")
    assert not vote3.tied


def test_unknown_labels_are_ignored():
    vote = clip_vote("scene", "single", LABELS,
                     [_a(1, {"scene": ["moon"]}), _a(2, {"scene": ["home"]})])  # fmt: skip
    assert vote.labels == ("home",)


def test_segments_matched_by_label_and_overlap_merge_with_support():
    people = [
        _a(1, None, ("dog", 1.0, 2.0), ("bird", 5.0, 6.0)),
        _a(2, None, ("dog", 1.2, 2.2), ("bird", 8.0, 9.0)),
        _a(3, None, ("dog", 0.9, 1.9), ("dog", 1.1, 1.8)),
    ]
    out = segment_consensus(people)
    dogs = [s for s in out if s.label == "dog"]
    # one dog event by all three (median span), and annotator 3's second dog stands alone
    assert [(d.support, d.annotator_ids) for d in dogs] == [(3, (1, 2, 3)), (1, (3,))]
    assert dogs[0].start_s == pytest.approx(1.0)
    assert dogs[0].end_s == pytest.approx(2.0)
    assert dogs[0].majority
    assert not dogs[1].majority
    birds = [s for s in out if s.label == "bird"]
    assert [(b.start_s, b.support) for b in birds] == [(5.0, 1), (8.0, 1)]


def test_segments_of_different_labels_never_merge_and_low_overlap_stays_apart():
    people = [_a(1, None, ("dog", 0.0, 10.0)), _a(2, None, ("bird", 0.0, 10.0)),
              _a(3, None, ("dog", 9.0, 12.0))]  # fmt: skip
    out = segment_consensus(people, min_iou=0.3)
    assert sorted((s.label, s.support) for s in out) == [
        ("bird", 1),
        ("dog", 1),
        ("dog", 1),
    ]


def test_item_consensus_collects_everything():
    out = item_consensus(7, [_a(1, {"scene": ["park"]}, ("dog", 1, 2)),
                             _a(2, {"scene": ["park"]}, ("dog", 1.1, 2.1))],
                         [("scene", "single", LABELS)], reviewed_truth_ids=[99])  # fmt: skip
    assert out.item_id == 7
    assert out.annotator_ids == (1, 2)
    assert out.clip[0].labels == ("park",)
    assert out.segments[0].support == 2
    assert out.reviewed_truth_ids == (99,)
    assert not out.tied

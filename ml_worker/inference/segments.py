"""Turning frame-level probabilities into time segments."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view


class Segment(NamedTuple):
    """A detected event: ``[start_s, end_s)`` seconds, the class index, and its score (the
    mean raw probability of the class over the segment's frames)."""

    start_s: float
    end_s: float
    class_index: int
    score: float


def median_filter(frame_probs: npt.NDArray[np.floating[Any]], width: int) -> npt.NDArray[Any]:
    """Running median over time of (frames, n_classes) with an odd ``width`` (edges repeat
    the first/last frame); same shape. ``width <= 1`` returns the input unchanged."""
    x = np.asarray(frame_probs, dtype=np.float64)
    if width <= 1 or x.shape[0] == 0:
        return x
    if width % 2 == 0:
        raise ValueError("median_filter_frames must be odd")
    half = width // 2
    padded = np.pad(x, ((half, half), (0, 0)), mode="edge")
    return np.median(sliding_window_view(padded, width, axis=0), axis=-1)


def _runs(active: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, stop) frame ranges where ``active`` (frames,) is True."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def decode_segments(
    frame_probs: npt.NDArray[np.floating[Any]],
    *,
    hop_s: float,
    threshold: float = 0.5,
    low_threshold: float | None = None,
    median_filter_frames: int = 1,
    min_duration_s: float = 0.0,
    min_gap_s: float = 0.0,
    offset_s: float = 0.0,
) -> list[Segment]:
    """Segments from ``frame_probs`` (frames, n_classes) float probabilities, frame ``i``
    covering ``[offset_s + i * hop_s, offset_s + (i + 1) * hop_s)``.

    Per class: the probabilities are median-filtered over ``median_filter_frames`` (odd;
    1 = off), then frames at or above ``threshold`` are active. With ``low_threshold``
    (hysteresis, <= threshold) a segment is a run of frames at or above ``low_threshold``
    that contains at least one frame at or above ``threshold``. Runs separated by less than
    ``min_gap_s`` are merged, then segments shorter than ``min_duration_s`` are dropped.
    Returns segments sorted by start time, then class; ``score`` is the mean unfiltered
    probability over the segment's frames.
    """
    probs = np.asarray(frame_probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"expected (frames, n_classes), got shape {probs.shape}")
    if hop_s <= 0:
        raise ValueError("hop_s must be positive")
    low = threshold if low_threshold is None else low_threshold
    if low > threshold:
        raise ValueError("low_threshold must not exceed threshold")
    smoothed = median_filter(probs, median_filter_frames)
    segments: list[Segment] = []
    for cls in range(probs.shape[1]):
        track = smoothed[:, cls]
        runs = [
            (start, stop)
            for start, stop in _runs(track >= low)
            if (track[start:stop] >= threshold).any()
        ]
        merged: list[tuple[int, int]] = []
        for start, stop in runs:
            if merged and (start - merged[-1][1]) * hop_s < min_gap_s - 1e-9:
                merged[-1] = (merged[-1][0], stop)
            else:
                merged.append((start, stop))
        for start, stop in merged:
            if (stop - start) * hop_s + 1e-9 < min_duration_s:
                continue
            segments.append(
                Segment(
                    start_s=offset_s + start * hop_s,
                    end_s=offset_s + stop * hop_s,
                    class_index=cls,
                    score=float(probs[start:stop, cls].mean()),
                )
            )
    segments.sort(key=lambda s: (s.start_s, s.class_index))
    return segments

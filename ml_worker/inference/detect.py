"""Sound event detection over recordings of any length: frame probabilities of a
frame-level model (``SegmentCRNN``) stitched over overlapping windows, then segments."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ml_worker.features import LogMel, count_windows, window_batch, window_geometry
from ml_worker.inference.predict import model_device
from ml_worker.inference.segments import Segment, decode_segments
from ml_worker.models import ClipModel, EarmarkModel


@dataclass(frozen=True)
class DecodeConfig:
    """How frame probabilities become segments (see ``decode_segments``), in seconds.

    ``threshold`` per class (one float for all), optional hysteresis ``low_threshold``,
    a running median over ``median_filter_s`` (rounded to an odd frame count), runs closer
    than ``min_gap_s`` merged, segments shorter than ``min_duration_s`` dropped.
    """

    threshold: float = 0.5
    low_threshold: float | None = None
    median_filter_s: float = 0.2
    min_duration_s: float = 0.1
    min_gap_s: float = 0.1

    def median_frames(self, hop_s: float) -> int:
        """``median_filter_s`` as an odd frame count (>= 1) at frame step ``hop_s``."""
        frames = max(1, round(self.median_filter_s / hop_s))
        return frames if frames % 2 else frames + 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DecodeConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def frame_probabilities_long(
    model: EarmarkModel,
    signal: npt.NDArray[np.floating[Any]],
    *,
    frontend: LogMel,
    window_s: float,
    hop_s: float,
    batch_size: int = 8,
) -> npt.NDArray[np.float32]:
    """Frame probabilities of a whole mono ``signal`` (samples,) float32 at the front-end's
    sample rate -> ``(1 + samples // hop_length, n_classes)`` float32, one row per log-mel
    hop (row ``i`` is centred on ``i * frontend.config.hop_s`` seconds).

    The signal is cut into windows of ``window_s`` every ``hop_s`` seconds (``hop_s`` is
    rounded to a whole number of log-mel hops so frames line up), each window's frame
    probabilities are computed (``batch_size`` windows at a time) and overlapping frames are
    averaged. Frames within a quarter window of a window's edge get a lower weight than central
    ones (a triangular weight, floor 0.05), since the model saw less context there. Memory:
    the output plus one batch of windows, so ``signal`` may be a ``np.memmap``.
    """
    if isinstance(model, ClipModel):
        raise TypeError("frame_probabilities_long needs a frame-level model")
    signal_1d = np.asarray(signal) if not isinstance(signal, np.memmap) else signal
    if signal_1d.ndim != 1:
        raise ValueError(f"expected a mono signal (samples,), got shape {signal_1d.shape}")
    config = frontend.config
    sample_rate_hz = config.sample_rate_hz
    hop_frames = max(1, round(hop_s / config.hop_s))
    window_samples, _ = window_geometry(
        sample_rate_hz=sample_rate_hz, window_s=window_s, hop_s=hop_s
    )
    hop_samples = hop_frames * config.hop_length
    n_total = config.n_frames(signal_1d.shape[0])
    window_frames = config.n_frames(window_samples)
    total = count_windows(
        signal_1d.shape[0], window_samples=window_samples, hop_samples=hop_samples
    )
    ramp = np.minimum(
        np.arange(window_frames) + 0.5, window_frames - np.arange(window_frames) - 0.5
    )
    weight = np.clip(ramp / max(window_frames / 4, 1.0), 0.05, 1.0).astype(np.float64)
    summed = np.zeros((n_total, model.n_classes), dtype=np.float64)
    weights = np.zeros(n_total, dtype=np.float64)
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        for first in range(0, total, batch_size):
            count = min(batch_size, total - first)
            cut = window_batch(
                signal_1d, first, count, window_samples=window_samples, hop_samples=hop_samples
            )
            with torch.inference_mode():
                logmel = frontend(torch.from_numpy(cut).to(device))
                probs = model.probabilities(model.logits(logmel)).float().cpu().numpy()
            for row in range(count):
                start = (first + row) * hop_frames
                stop = min(start + window_frames, n_total)
                if stop <= start:
                    continue
                summed[start:stop] += probs[row, : stop - start] * weight[: stop - start, None]
                weights[start:stop] += weight[: stop - start]
    finally:
        model.train(was_training)
    return (summed / np.maximum(weights, 1e-12)[:, None]).astype(np.float32)


def detect_segments(
    model: EarmarkModel,
    signal: npt.NDArray[np.floating[Any]],
    *,
    frontend: LogMel,
    window_s: float,
    hop_s: float,
    decode: DecodeConfig | None = None,
    batch_size: int = 8,
) -> list[Segment]:
    """Segments with a score each in a whole mono ``signal`` (samples,) float32:
    ``frame_probabilities_long`` then ``decode_segments`` with ``decode`` (thresholds,
    median filter, minimum duration and gap). Segment times are seconds from the start of
    the signal; ``class_index`` follows the model's label order."""
    decode = decode or DecodeConfig()
    probs = frame_probabilities_long(
        model, signal, frontend=frontend, window_s=window_s, hop_s=hop_s, batch_size=batch_size
    )
    return decode_frames(probs, hop_s=frontend.config.hop_s, decode=decode)


def decode_frames(
    frame_probs: npt.NDArray[np.floating[Any]], *, hop_s: float, decode: DecodeConfig
) -> list[Segment]:
    """``decode_segments`` driven by a ``DecodeConfig``. Rows of ``frame_probs``
    (frames, n_classes) are centred on ``i * hop_s``, so each frame covers
    ``[(i - 0.5) * hop_s, (i + 0.5) * hop_s)`` (the first segment start is clipped to 0)."""
    segments = decode_segments(
        frame_probs,
        hop_s=hop_s,
        threshold=decode.threshold,
        low_threshold=decode.low_threshold,
        median_filter_frames=decode.median_frames(hop_s),
        min_duration_s=decode.min_duration_s,
        min_gap_s=decode.min_gap_s,
        offset_s=-0.5 * hop_s,
    )
    return [s._replace(start_s=max(0.0, s.start_s)) for s in segments]

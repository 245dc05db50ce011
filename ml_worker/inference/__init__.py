"""Prediction, active-learning scores and segment decoding (no Django, no Celery)."""

from ml_worker.inference.detect import (
    DecodeConfig,
    decode_frames,
    detect_segments,
    frame_probabilities_long,
)
from ml_worker.inference.predict import (
    embed_clips,
    model_device,
    predict_clips,
    predict_frames,
    predict_long,
    window_probabilities,
)
from ml_worker.inference.segments import Segment, decode_segments, median_filter
from ml_worker.inference.uncertainty import (
    DIVERSE_DIMS,
    diverse_batch,
    entropy,
    k_center_greedy,
    least_confidence,
    margin,
    principal_components,
    representative_order,
    weighted_kmeans,
)

__all__ = [
    "DIVERSE_DIMS",
    "DecodeConfig",
    "Segment",
    "decode_frames",
    "decode_segments",
    "detect_segments",
    "diverse_batch",
    "embed_clips",
    "entropy",
    "frame_probabilities_long",
    "k_center_greedy",
    "least_confidence",
    "margin",
    "median_filter",
    "model_device",
    "predict_clips",
    "predict_frames",
    "predict_long",
    "principal_components",
    "representative_order",
    "weighted_kmeans",
    "window_probabilities",
]

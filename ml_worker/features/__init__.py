"""Audio decoding, log-mel features, windowing and the feature cache (no Django, no Celery)."""

from ml_worker.features.atomic import atomic_write
from ml_worker.features.audio import load_audio
from ml_worker.features.cache import FeatureCache, sha256_file
from ml_worker.features.config import LogMelConfig
from ml_worker.features.logmel import LogMel, extract_logmel
from ml_worker.features.windows import (
    count_windows,
    fit_length,
    window_batch,
    window_geometry,
    windows,
)

__all__ = [
    "FeatureCache",
    "LogMel",
    "LogMelConfig",
    "atomic_write",
    "count_windows",
    "extract_logmel",
    "fit_length",
    "load_audio",
    "sha256_file",
    "window_batch",
    "window_geometry",
    "windows",
]

"""Training clip classifiers and the baseline, choosing between them, checkpoints.

No Django, no Celery: callers pass arrays and callbacks and get plain results back.
"""

from ml_worker.training.augment import mixup, random_crop, spec_augment, time_shift
from ml_worker.training.baseline import train_baseline
from ml_worker.training.checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    CheckpointVersionError,
    dataset_fingerprint,
    load_checkpoint,
    needs_training,
    save_checkpoint,
)
from ml_worker.training.data import LabelledSet, labelled_set, split_indices
from ml_worker.training.event_metrics import Event, EventMetrics, event_metrics
from ml_worker.training.metrics import ClassificationMetrics, classification_metrics
from ml_worker.training.progress import (
    Cancelled,
    Progress,
    ProgressCallback,
    StopCheck,
    TrainConfig,
)
from ml_worker.training.result import EpochRecord, TrainResult
from ml_worker.training.segments import (
    Recording,
    SegmentExamples,
    SegmentTrainConfig,
    SegmentTrainResult,
    evaluate_segment_detector,
    frame_targets,
    segment_examples,
    split_recordings,
    train_segment_detector,
)
from ml_worker.training.select import choose_model
from ml_worker.training.trainer import train_clip_classifier

__all__ = [
    "FORMAT_VERSION",
    "Cancelled",
    "Checkpoint",
    "CheckpointError",
    "CheckpointVersionError",
    "ClassificationMetrics",
    "EpochRecord",
    "Event",
    "EventMetrics",
    "LabelledSet",
    "Progress",
    "ProgressCallback",
    "Recording",
    "SegmentExamples",
    "SegmentTrainConfig",
    "SegmentTrainResult",
    "StopCheck",
    "TrainConfig",
    "TrainResult",
    "choose_model",
    "classification_metrics",
    "dataset_fingerprint",
    "evaluate_segment_detector",
    "event_metrics",
    "frame_targets",
    "labelled_set",
    "load_checkpoint",
    "mixup",
    "needs_training",
    "random_crop",
    "save_checkpoint",
    "segment_examples",
    "spec_augment",
    "split_indices",
    "split_recordings",
    "time_shift",
    "train_baseline",
    "train_clip_classifier",
    "train_segment_detector",
]

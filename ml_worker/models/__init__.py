"""Models: ClipCNN, SegmentCRNN, the MFCC baseline and embedding heads (no Django/Celery)."""

from ml_worker.models.base import ClipModel, EarmarkModel
from ml_worker.models.baseline import MfccLogReg
from ml_worker.models.cnn import ClipCNN, SegmentCRNN
from ml_worker.models.head import EmbeddingHead
from ml_worker.models.registry import ARCHITECTURES, build_model

__all__ = [
    "ARCHITECTURES",
    "ClipCNN",
    "ClipModel",
    "EarmarkModel",
    "EmbeddingHead",
    "MfccLogReg",
    "SegmentCRNN",
    "build_model",
]

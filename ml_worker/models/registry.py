"""Rebuilding a model from its ``describe()`` output (what checkpoints store)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml_worker.models.base import EarmarkModel
from ml_worker.models.baseline import MfccLogReg
from ml_worker.models.cnn import ClipCNN, SegmentCRNN
from ml_worker.models.head import EmbeddingHead

ARCHITECTURES: dict[str, type[EarmarkModel]] = {
    cls.architecture: cls for cls in (ClipCNN, SegmentCRNN, MfccLogReg, EmbeddingHead)
}


def build_model(description: Mapping[str, Any]) -> EarmarkModel:
    """An untrained model from ``describe()`` output; ``ValueError`` for an unknown one."""
    name = description.get("architecture")
    cls = ARCHITECTURES.get(str(name))
    if cls is None:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}")
    return cls.from_description(dict(description))

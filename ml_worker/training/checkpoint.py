"""Versioned model checkpoints, written atomically, read without unpickling code.

A checkpoint is one ``torch.save`` file of plain values and tensors (loaded with
``weights_only=True``): the format marker and version, the model description and weights,
label names, the feature config, held-out metrics, the training config and provenance.
Bump ``FORMAT_VERSION`` whenever that layout changes; ``load_checkpoint`` refuses other
versions with ``CheckpointVersionError`` (retrain, or run a worker that reads that version).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ml_worker.features import LogMel, LogMelConfig, atomic_write
from ml_worker.models import EarmarkModel, build_model
from ml_worker.training.event_metrics import EventMetrics
from ml_worker.training.metrics import ClassificationMetrics
from ml_worker.training.progress import TrainConfig
from ml_worker.training.result import TrainResult
from ml_worker.training.segments import SegmentTrainConfig, SegmentTrainResult

FORMAT = "earmark.model"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """The file is not a readable Earmark model checkpoint."""


class CheckpointVersionError(CheckpointError):
    """The checkpoint was written in a format version this code does not read."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint. ``build_model`` rebuilds the trained model, ``build_frontend``
    the ``LogMel`` that makes its input from audio at ``feature_config.sample_rate_hz``.
    A segment detector has ``event_metrics`` (and ``metrics`` None); its ``train_config``
    is ``SegmentTrainConfig.to_json()`` (windows and decoding included)."""

    format_version: int
    model_description: dict[str, Any]
    model_state: dict[str, torch.Tensor]
    label_names: tuple[str, ...]
    multi_label: bool
    feature_config: LogMelConfig
    metrics: ClassificationMetrics | None
    train_config: dict[str, Any]
    train_time_s: float
    trained_on: str
    data_fingerprint: str | None
    created_at: str
    torch_version: str
    event_metrics: EventMetrics | None = None

    @property
    def architecture(self) -> str:
        return str(self.model_description["architecture"])

    def build_model(self, device: torch.device | str = "cpu") -> EarmarkModel:
        """The trained model in eval mode on ``device``."""
        model = build_model(self.model_description)
        model.load_state_dict(self.model_state)
        return model.to(device).eval()

    def build_frontend(self, device: torch.device | str = "cpu") -> LogMel:
        """The log-mel front-end the model was trained with, on ``device``."""
        return LogMel(self.feature_config).to(device)


def save_checkpoint(
    path: str | Path,
    result: TrainResult | SegmentTrainResult,
    *,
    feature_config: LogMelConfig,
    data_fingerprint: str | None = None,
    format_version: int = FORMAT_VERSION,
) -> None:
    """Write ``result`` to ``path`` atomically (temp file in the same folder, fsync,
    ``os.replace``): readers see the old file or the whole new one, and a failed save leaves
    no temporary file. Creates the folder. ``data_fingerprint`` (see ``dataset_fingerprint``)
    lets ``needs_training`` skip retraining on unchanged data. ``format_version`` is for
    tests and migrations; leave it at ``FORMAT_VERSION``.
    """
    n_mels = result.model_description.get("n_mels")  # embedding heads take no log-mel
    if n_mels is not None and int(n_mels) != feature_config.n_mels:
        raise ValueError("feature_config.n_mels does not match the model's n_mels")
    payload: dict[str, Any] = {
        "format": FORMAT,
        "format_version": int(format_version),
        "model": dict(result.model_description),
        "state_dict": {k: v.detach().cpu() for k, v in result.model_state.items()},
        "label_names": list(result.label_names),
        "multi_label": bool(result.multi_label),
        "feature_config": feature_config.to_json(),
        "metrics": None if result.metrics is None else result.metrics.to_json(),
        "metrics_kind": "events" if isinstance(result, SegmentTrainResult) else "classification",
        "train_config": result.config.to_json(),
        "train_time_s": float(result.train_time_s),
        "trained_on": result.device,
        "data_fingerprint": data_fingerprint,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch_version": str(torch.__version__),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: torch.save(payload, handle))


def load_checkpoint(path: str | Path, *, map_location: str = "cpu") -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``.

    Raises ``FileNotFoundError`` when missing, ``CheckpointVersionError`` for another format
    version, ``CheckpointError`` for anything else unreadable. Uses
    ``torch.load(weights_only=True)``: no code is unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an Earmark model checkpoint")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointVersionError(
            f"checkpoint {path} has format version {version}, this worker reads version "
            f"{FORMAT_VERSION} only: retrain the model or use a matching worker"
        )
    try:
        metrics = payload["metrics"]
        events = payload.get("metrics_kind") == "events"
        return Checkpoint(
            format_version=int(version),
            model_description=dict(payload["model"]),
            model_state=dict(payload["state_dict"]),
            label_names=tuple(str(name) for name in payload["label_names"]),
            multi_label=bool(payload["multi_label"]),
            feature_config=LogMelConfig.from_json(payload["feature_config"]),
            metrics=None if metrics is None or events else ClassificationMetrics.from_json(metrics),
            train_config=dict(payload["train_config"]),
            train_time_s=float(payload["train_time_s"]),
            trained_on=str(payload["trained_on"]),
            data_fingerprint=payload["data_fingerprint"],
            created_at=str(payload["created_at"]),
            torch_version=str(payload["torch_version"]),
            event_metrics=EventMetrics.from_json(metrics) if metrics and events else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is missing or has a bad field: {exc}") from exc


def dataset_fingerprint(
    item_keys: Sequence[str],
    labels: npt.NDArray[Any],
    label_names: Sequence[str],
    *,
    config: TrainConfig | SegmentTrainConfig | None = None,
) -> str:
    """Hex sha256 identifying a training set: the item keys (e.g. "audio id:annotation
    version"), their labels ((n,) or (n, n_classes)), the label names and the training config.
    Order-sensitive: pass items in a stable order."""
    digest = hashlib.sha256()
    header = {
        "items": list(item_keys),
        "label_names": list(label_names),
        "config": None if config is None else config.to_json(),
        "labels_shape": list(np.shape(labels)),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(labels, dtype=np.float64).tobytes())
    return digest.hexdigest()


def needs_training(
    path: str | Path, *, data_fingerprint: str, feature_config: LogMelConfig
) -> bool:
    """False only when ``path`` holds a readable current-version checkpoint trained on data
    with this fingerprint and with this feature config; True otherwise (missing, damaged,
    old format, new labels, other features)."""
    try:
        checkpoint = load_checkpoint(path)
    except (FileNotFoundError, CheckpointError):
        return True
    return (
        checkpoint.data_fingerprint != data_fingerprint
        or checkpoint.feature_config.key != feature_config.key
    )

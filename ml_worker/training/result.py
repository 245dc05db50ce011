"""What a training run returns."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from ml_worker.models import EarmarkModel, build_model
from ml_worker.training.metrics import ClassificationMetrics
from ml_worker.training.progress import Progress, ProgressCallback, TrainConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss, held-out loss and macro-F1 (None without a held-out
    split), the learning rate at its end and seconds since training started."""

    epoch: int
    train_loss: float
    val_loss: float | None
    val_metric: float | None
    lr: float
    elapsed_s: float


def report_epoch(report: ProgressCallback, model: str, epochs: int, record: EpochRecord) -> None:
    """Log an epoch and report it as ``Progress``, with the ETA if every remaining epoch runs."""
    logger.debug("%s epoch %d/%d: %s", model, record.epoch, epochs, record)
    report(
        Progress(
            phase="training",
            model=model,
            epoch=record.epoch,
            epochs=epochs,
            loss=record.train_loss,
            val_metric=record.val_metric,
            eta_s=record.elapsed_s / record.epoch * (epochs - record.epoch),
        )
    )


@dataclass(frozen=True)
class TrainResult:
    """A trained model and how well it did.

    ``model_state`` holds CPU tensors of the best epoch (highest held-out macro-F1, then the
    lowest held-out loss; the last epoch when nothing was held out). ``metrics`` are that epoch's
    held-out metrics (None without a held-out split); ``val_indices`` the held-out rows of
    the input arrays. ``train_time_s`` is wall-clock seconds; ``device`` where it trained.
    """

    model_description: dict[str, Any]
    model_state: dict[str, torch.Tensor]
    label_names: tuple[str, ...]
    multi_label: bool
    metrics: ClassificationMetrics | None
    history: tuple[EpochRecord, ...]
    best_epoch: int
    epochs_run: int
    train_time_s: float
    device: str
    n_train: int
    n_val: int
    val_indices: tuple[int, ...]
    config: TrainConfig
    # unlabelled items trained on with a spread label (embedding heads only)
    n_pseudo: int = 0

    @property
    def architecture(self) -> str:
        return str(self.model_description["architecture"])

    def build_model(self, device: torch.device | str = "cpu") -> EarmarkModel:
        """The trained model in eval mode on ``device``."""
        model = build_model(self.model_description)
        model.load_state_dict(self.model_state)
        return model.to(device).eval()

"""Training the ClipCNN clip classifier (mini-batch AdamW, augmentation, early stopping)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor

from ml_worker.models import ClipCNN, ClipModel
from ml_worker.training.augment import mixup, random_crop, spec_augment, time_shift
from ml_worker.training.data import LabelledSet, labelled_set, split_indices
from ml_worker.training.metrics import ClassificationMetrics, classification_metrics
from ml_worker.training.progress import (
    Cancelled,
    Progress,
    ProgressCallback,
    StopCheck,
    TrainConfig,
)
from ml_worker.training.result import EpochRecord, TrainResult, report_epoch

logger = logging.getLogger(__name__)


def train_clip_classifier(
    features: npt.NDArray[np.floating[Any]],
    labels: npt.NDArray[Any],
    *,
    label_names: Sequence[str],
    config: TrainConfig | None = None,
    multi_label: bool = False,
    device: torch.device | str = "cpu",
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> TrainResult:
    """Train a ``ClipCNN`` on log-mel clips and validate it on a held-out split.

    ``features``: (n, n_mels, frames) float32 log-mel (``LogMel`` output, all clips the same
    length). ``labels``: (n,) int class indices, or (n, n_classes) 0/1 when ``multi_label``.
    ``label_names``: n_classes names, in class-index order.

    Held-out rows: ``split_indices`` (stratified per class for single-label). Loss:
    cross-entropy with ``config.label_smoothing`` (single-label, soft targets so mixup
    applies), binary cross-entropy per class (multi-label). AdamW with a one-cycle learning
    rate schedule stepped per batch. The state of the epoch with the best held-out macro-F1
    is kept; training stops after ``early_stopping_patience`` epochs without improvement.

    Reproducible: the same inputs, config and seed give identical weights on CPU (with the
    same thread count); the global torch RNG state is left as it was.
    ``progress`` gets a ``Progress`` before training, after every epoch and at the end.
    ``should_stop`` is polled before every batch; when it returns True, ``Cancelled`` is
    raised and nothing is returned. Raises ``ValueError`` for malformed inputs.
    """
    config = config or TrainConfig()
    data = labelled_set(features, labels, label_names=label_names, multi_label=multi_label)
    train_rows, val_rows = split_indices(data, val_fraction=config.val_fraction, seed=config.seed)
    device = torch.device(device)
    with seeded(config.seed, device):
        model = ClipCNN(
            data.n_classes,
            n_mels=data.n_mels,
            multi_label=multi_label,
            channels=config.cnn_channels,
            dropout=config.dropout,
        )
        return fit_minibatch(
            model,
            data,
            train_rows,
            val_rows,
            config=config,
            device=device,
            progress=progress,
            should_stop=should_stop,
        )


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run the body with torch's global RNGs seeded, restoring their previous state after."""
    devices: list[int] = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def loss_fn(
    logits: Tensor,
    targets: Tensor,
    *,
    multi_label: bool,
    smoothing: float,
    weights: Tensor | None = None,
) -> Tensor:
    """Mean loss of logits (batch, n_classes) against float targets (batch, n_classes);
    with ``weights`` (batch,) the weighted mean of the rows' losses."""
    if weights is None:
        if multi_label:
            return F.binary_cross_entropy_with_logits(logits, targets)
        return F.cross_entropy(logits, targets, label_smoothing=smoothing)
    if multi_label:
        rows = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(dim=1)
    else:
        rows = F.cross_entropy(logits, targets, label_smoothing=smoothing, reduction="none")
    return (rows * weights).sum() / weights.sum()


@torch.no_grad()
def evaluate(
    model: ClipModel,
    data: LabelledSet,
    rows: npt.NDArray[np.int64],
    *,
    device: torch.device,
    batch_size: int,
) -> ClassificationMetrics:
    """Eval-mode metrics of ``model`` on ``rows`` of ``data`` (loss without smoothing)."""
    model.eval()
    probs: list[Tensor] = []
    total = 0.0
    for start in range(0, rows.size, batch_size):
        index = torch.from_numpy(rows[start : start + batch_size])
        logits = model.logits(data.features[index].to(device))
        targets = data.targets[index].to(device)
        loss = loss_fn(logits, targets, multi_label=data.multi_label, smoothing=0.0)
        total += float(loss) * index.numel()
        probs.append(model.probabilities(logits).float().cpu())
    return classification_metrics(
        torch.cat(probs).numpy(),
        data.raw_labels(rows),
        multi_label=data.multi_label,
        loss=total / max(rows.size, 1),
    )


def cpu_state(model: torch.nn.Module) -> dict[str, Tensor]:
    """A CPU copy of ``model.state_dict()``."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def fit_minibatch(
    model: ClipModel,
    data: LabelledSet,
    train_rows: npt.NDArray[np.int64],
    val_rows: npt.NDArray[np.int64],
    *,
    config: TrainConfig,
    device: torch.device,
    progress: ProgressCallback | None,
    should_stop: StopCheck | None,
) -> TrainResult:
    """The training loop of ``train_clip_classifier`` (call it inside ``seeded``)."""
    started = time.perf_counter()
    name = model.architecture
    report = progress or (lambda _p: None)
    report(Progress(phase="preparing", model=name, epoch=0, epochs=config.epochs))
    model.to(device)
    n_batches = max(1, math.ceil(train_rows.size / config.batch_size))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * n_batches, pct_start=0.3
    )
    shuffle = torch.Generator().manual_seed(config.seed)
    augment = torch.Generator().manual_seed(config.seed + 1)
    mix = np.random.default_rng(config.seed + 2)
    history: list[EpochRecord] = []
    best_state = cpu_state(model)
    best_metrics: ClassificationMetrics | None = None
    best_epoch = 0
    stale = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = train_rows[torch.randperm(train_rows.size, generator=shuffle).numpy()]
        epoch_loss = 0.0
        # array_split balances batch sizes (no trailing batch of one for BatchNorm).
        for batch_rows in np.array_split(order, n_batches):
            if should_stop is not None and should_stop():
                raise Cancelled(f"{name} training cancelled in epoch {epoch}")
            index = torch.from_numpy(batch_rows)
            x = data.features[index].to(device)
            y = data.targets[index].to(device)
            if config.crop_frames is not None:
                x = random_crop(x, frames=config.crop_frames, generator=augment)
            x = time_shift(x, max_frames=config.time_shift_max_frames, generator=augment)
            if config.spec_augment:
                x = spec_augment(
                    x,
                    generator=augment,
                    n_freq_masks=config.n_freq_masks,
                    freq_mask_bins=config.freq_mask_bins,
                    n_time_masks=config.n_time_masks,
                    time_mask_frames=config.time_mask_frames,
                )
            x, y = mixup(x, y, alpha=config.mixup_alpha, generator=mix)
            loss = loss_fn(
                model.logits(x), y, multi_label=data.multi_label, smoothing=config.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimizer.step()
            schedule.step()
            epoch_loss += loss.item() * batch_rows.size
        epoch_loss /= max(train_rows.size, 1)

        metrics = None
        if val_rows.size:
            metrics = evaluate(model, data, val_rows, device=device, batch_size=config.batch_size)
        improved = metrics is None or best_metrics is None or _better(metrics, best_metrics)
        if improved:
            best_state, best_metrics, best_epoch, stale = cpu_state(model), metrics, epoch, 0
        else:
            stale += 1
        elapsed = time.perf_counter() - started
        history.append(
            EpochRecord(
                epoch=epoch,
                train_loss=epoch_loss,
                val_loss=None if metrics is None else metrics.loss,
                val_metric=None if metrics is None else metrics.macro_f1,
                lr=float(optimizer.param_groups[0]["lr"]),
                elapsed_s=elapsed,
            )
        )
        report_epoch(report, name, config.epochs, history[-1])
        patience = config.early_stopping_patience
        if patience is not None and val_rows.size and stale >= patience:
            break

    model.load_state_dict(best_state)
    model.eval()
    result = TrainResult(
        model_description=model.describe(),
        model_state=best_state,
        label_names=data.label_names,
        multi_label=data.multi_label,
        metrics=best_metrics,
        history=tuple(history),
        best_epoch=best_epoch,
        epochs_run=len(history),
        train_time_s=time.perf_counter() - started,
        device=str(device),
        n_train=int(train_rows.size),
        n_val=int(val_rows.size),
        val_indices=tuple(int(i) for i in val_rows),
        config=config,
    )
    report(
        Progress(
            phase="done",
            model=name,
            epoch=result.epochs_run,
            epochs=config.epochs,
            loss=history[-1].train_loss,
            val_metric=None if best_metrics is None else best_metrics.macro_f1,
            eta_s=0.0,
        )
    )
    return result


def _better(new: ClassificationMetrics, best: ClassificationMetrics) -> bool:
    """Higher macro-F1 wins; on equal macro-F1 a lower held-out loss wins."""
    if new.macro_f1 != best.macro_f1:
        return new.macro_f1 > best.macro_f1
    return (new.loss or 0.0) < (best.loss or 0.0)

"""Training a small head on cached embeddings: seconds, not minutes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ml_worker.embeddings.spread import SpreadConfig, pseudo_labels
from ml_worker.models import EmbeddingHead
from ml_worker.training.data import labelled_set, split_indices
from ml_worker.training.metrics import ClassificationMetrics, classification_metrics
from ml_worker.training.progress import (
    Cancelled,
    Progress,
    ProgressCallback,
    StopCheck,
    TrainConfig,
)
from ml_worker.training.result import EpochRecord, TrainResult
from ml_worker.training.trainer import cpu_state, loss_fn, seeded


@dataclass(frozen=True)
class HeadConfig:
    """Head hyperparameters: ``hidden`` 0 = logistic regression, else an MLP with one hidden
    layer of that width; full-batch AdamW for at most ``steps`` steps (held-out macro-F1
    checked every ``eval_every`` steps, stop after ``patience`` checks without improvement),
    ``val_fraction`` held out (stratified), ``label_smoothing`` for single-label."""

    hidden: int = 0
    dropout: float = 0.2
    steps: int = 300
    lr: float = 1e-2
    weight_decay: float = 1e-3
    val_fraction: float = 0.2
    label_smoothing: float = 0.0
    eval_every: int = 10
    patience: int = 8
    seed: int = 0

    def train_config(self, n: int) -> TrainConfig:
        """The equivalent ``TrainConfig`` stored with the result (one epoch = one step)."""
        return TrainConfig(
            epochs=self.steps,
            batch_size=max(n, 1),
            lr=self.lr,
            weight_decay=self.weight_decay,
            seed=self.seed,
            val_fraction=self.val_fraction,
            mixup_alpha=0.0,
            spec_augment=False,
            label_smoothing=self.label_smoothing,
            early_stopping_patience=self.patience,
            dropout=self.dropout,
        )


def train_embedding_head(
    embeddings: npt.NDArray[np.floating[Any]],
    labels: npt.NDArray[Any],
    *,
    label_names: Sequence[str],
    multi_label: bool = False,
    config: HeadConfig | None = None,
    embedding: dict[str, Any] | None = None,
    unlabelled: npt.NDArray[np.floating[Any]] | None = None,
    spread: SpreadConfig | None = None,
    device: torch.device | str = "cpu",
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> TrainResult:
    """Fit an ``EmbeddingHead`` on pooled item embeddings.

    ``embeddings`` (n, dim) float32 (``embed_items`` output); ``labels`` (n,) class indices
    or (n, n_classes) 0/1 when ``multi_label``. The held-out rows are ``split_indices`` with
    ``config.val_fraction`` and ``config.seed`` (the same rows the CNN and the baseline use
    for the same labels, so ``choose_model`` can compare them). ``embedding``: the
    ``EmbeddingModelSpec.to_json()`` plus ``sha256`` stored in the model description.
    ``unlabelled`` (m, dim): embeddings of the project's unlabelled items; single-label heads
    also train on them with the labels the training rows spread to them
    (``ml_worker.embeddings.spread``, ``spread`` settings; the held-out rows take no part, so
    the held-out metrics stay honest). ``TrainResult.n_pseudo`` says how many were used.
    Returns a ``TrainResult`` (``history`` has one record per evaluation), reproducible for
    a seed on CPU; ``should_stop`` is polled every step (``Cancelled``).
    """
    config = config or HeadConfig()
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (n, dim), got {x.shape}")
    # labelled_set checks (n, n_mels, frames); a trailing axis of 1 reuses its validation.
    data = labelled_set(x[:, :, None], labels, label_names=label_names, multi_label=multi_label)
    train_rows, val_rows = split_indices(data, val_fraction=config.val_fraction, seed=config.seed)
    device = torch.device(device)
    started = time.perf_counter()
    report = progress or (lambda _p: None)
    name = EmbeddingHead.architecture
    report(Progress(phase="preparing", model=name, epoch=0, epochs=config.steps))
    features = torch.from_numpy(x).to(device)
    targets = data.targets.to(device)
    train_index = torch.from_numpy(train_rows).to(device)
    fit_x, fit_targets, fit_weights = features[train_index], targets[train_index], None
    if unlabelled is not None and not multi_label and len(unlabelled):
        others = np.asarray(unlabelled, dtype=np.float32)
        if others.ndim != 2 or others.shape[1] != x.shape[1]:
            raise ValueError(f"unlabelled embeddings must be (m, {x.shape[1]}), got {others.shape}")
        px, py, pw = pseudo_labels(
            x[train_rows],
            data.class_index[train_rows],
            others,
            data.n_classes,
            spread,
            seed=config.seed,
        )
        if len(px):
            fit_x = torch.cat([fit_x, torch.from_numpy(px).to(device)])
            fit_targets = torch.cat(
                [
                    fit_targets,
                    torch.eye(data.n_classes, device=device)[torch.from_numpy(py).to(device)],
                ]
            )
            fit_weights = torch.cat(
                [torch.ones(train_rows.size, device=device), torch.from_numpy(pw).to(device)]
            )
    n_pseudo = 0 if fit_weights is None else int(fit_weights.numel() - train_rows.size)
    with seeded(config.seed, device):
        model = EmbeddingHead(
            data.n_classes,
            dim=x.shape[1],
            multi_label=multi_label,
            hidden=config.hidden,
            dropout=config.dropout,
            embedding=embedding,
        ).to(device)
        model.set_standardisation(fit_x)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        history: list[EpochRecord] = []
        best_state = cpu_state(model)
        best_metrics: ClassificationMetrics | None = None
        best_step, stale = 0, 0
        for step in range(1, config.steps + 1):
            if should_stop is not None and should_stop():
                raise Cancelled(f"{name} training cancelled at step {step}")
            model.train()
            loss = loss_fn(
                model(fit_x),
                fit_targets,
                multi_label=multi_label,
                smoothing=config.label_smoothing,
                weights=fit_weights,
            )
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimizer.step()
            if step % config.eval_every and step != config.steps:
                continue
            metrics = _evaluate(model, features, data.raw_labels(val_rows), val_rows, multi_label)
            if metrics is None or best_metrics is None or _better(metrics, best_metrics):
                best_state, best_metrics, best_step, stale = cpu_state(model), metrics, step, 0
            else:
                stale += 1
            elapsed = time.perf_counter() - started
            history.append(
                EpochRecord(
                    epoch=step,
                    train_loss=loss.item(),
                    val_loss=None if metrics is None else metrics.loss,
                    val_metric=None if metrics is None else metrics.macro_f1,
                    lr=config.lr,
                    elapsed_s=elapsed,
                )
            )
            report(
                Progress(
                    phase="training",
                    model=name,
                    epoch=step,
                    epochs=config.steps,
                    loss=loss.item(),
                    val_metric=history[-1].val_metric,
                    eta_s=elapsed / step * (config.steps - step),
                )
            )
            if val_rows.size and stale >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    result = TrainResult(
        model_description=model.describe(),
        model_state=best_state,
        label_names=data.label_names,
        multi_label=multi_label,
        metrics=best_metrics,
        history=tuple(history),
        best_epoch=best_step,
        epochs_run=history[-1].epoch if history else 0,
        train_time_s=time.perf_counter() - started,
        device=str(device),
        n_train=int(train_rows.size),
        n_val=int(val_rows.size),
        n_pseudo=n_pseudo,
        val_indices=tuple(int(i) for i in val_rows),
        config=config.train_config(int(train_rows.size)),
    )
    report(
        Progress(
            phase="done",
            model=name,
            epoch=result.epochs_run,
            epochs=config.steps,
            loss=history[-1].train_loss if history else None,
            val_metric=None if best_metrics is None else best_metrics.macro_f1,
            eta_s=0.0,
        )
    )
    return result


@torch.no_grad()
def _evaluate(
    model: EmbeddingHead,
    features: torch.Tensor,
    truth: npt.NDArray[Any],
    rows: npt.NDArray[np.int64],
    multi_label: bool,
) -> ClassificationMetrics | None:
    if not rows.size:
        return None
    model.eval()
    logits = model(features[torch.from_numpy(rows).to(features.device)])
    targets = torch.as_tensor(
        truth if multi_label else np.eye(model.n_classes, dtype=np.float32)[truth],
        dtype=torch.float32,
        device=features.device,
    )
    loss = float(loss_fn(logits, targets, multi_label=multi_label, smoothing=0.0))
    probs = model.probabilities(logits).float().cpu().numpy()
    return classification_metrics(probs, truth, multi_label=multi_label, loss=loss)


def _better(new: ClassificationMetrics, best: ClassificationMetrics) -> bool:
    if new.macro_f1 != best.macro_f1:
        return new.macro_f1 > best.macro_f1
    return (new.loss or 0.0) < (best.loss or 0.0)


@torch.no_grad()
def predict_embeddings(
    model: EmbeddingHead, embeddings: npt.NDArray[np.floating[Any]], *, batch_size: int = 4096
) -> npt.NDArray[np.float32]:
    """Class probabilities ``(n, n_classes)`` float32 of pooled embeddings ``(n, dim)``
    (softmax, or sigmoids when multi-label), in eval mode on the model's device."""
    x = np.asarray(embeddings, dtype=np.float32)
    device = model.mean.device
    was_training = model.training
    model.eval()
    try:
        parts = [
            model.probabilities(model(torch.from_numpy(x[i : i + batch_size]).to(device)))
            .float()
            .cpu()
            .numpy()
            for i in range(0, x.shape[0], batch_size)
        ]
    finally:
        model.train(was_training)
    return np.concatenate(parts) if parts else np.zeros((0, model.n_classes), dtype=np.float32)

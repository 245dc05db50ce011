"""Training the MFCC-statistics logistic regression baseline (full-batch L-BFGS)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ml_worker.models import MfccLogReg
from ml_worker.training.data import labelled_set, split_indices
from ml_worker.training.progress import (
    Cancelled,
    Progress,
    ProgressCallback,
    StopCheck,
    TrainConfig,
)
from ml_worker.training.result import EpochRecord, TrainResult
from ml_worker.training.trainer import cpu_state, evaluate, loss_fn, seeded

# L-BFGS iterations between two cancellation checks / progress reports.
_ITERATIONS_PER_ROUND = 20


def train_baseline(
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
    """Train an ``MfccLogReg`` on the same inputs, and the same held-out rows, as
    ``train_clip_classifier`` with the same ``config``.

    ``features`` (n, n_mels, frames) float32 log-mel; ``labels`` (n,) int or (n, n_classes)
    0/1. The clip statistics (``MfccLogReg.statistics``, ``6 * config.baseline_n_mfcc`` per
    clip) are computed once and standardised with the training rows' mean/std (stored in
    the model). The linear layer is fitted full-batch by L-BFGS (strong Wolfe line search,
    at most ``config.baseline_max_iter`` iterations) on cross-entropy or per-class binary
    cross-entropy plus ``config.baseline_l2 * ||W||^2``. Deterministic; no augmentation.
    ``progress``/``should_stop`` as for ``train_clip_classifier`` (an "epoch" here is a round
    of 20 L-BFGS iterations; ``should_stop`` is polled between rounds).
    """
    config = config or TrainConfig()
    data = labelled_set(features, labels, label_names=label_names, multi_label=multi_label)
    train_rows, val_rows = split_indices(data, val_fraction=config.val_fraction, seed=config.seed)
    device = torch.device(device)
    rounds = max(1, -(-config.baseline_max_iter // _ITERATIONS_PER_ROUND))
    started = time.perf_counter()
    report = progress or (lambda _p: None)
    name = MfccLogReg.architecture
    report(Progress(phase="preparing", model=name, epoch=0, epochs=rounds))
    with seeded(config.seed, device):
        model = MfccLogReg(
            data.n_classes,
            n_mels=data.n_mels,
            multi_label=multi_label,
            n_mfcc=min(config.baseline_n_mfcc, data.n_mels),
        ).to(device)
        with torch.no_grad():
            stats = torch.cat(
                [
                    model.statistics(data.features[start : start + 256].to(device))
                    for start in range(0, len(data), 256)
                ]
            )
            train_index = torch.from_numpy(train_rows).to(device)
            train_stats = stats[train_index]
            model.feature_mean.copy_(train_stats.mean(dim=0))
            std = train_stats.std(dim=0, unbiased=False)
            model.feature_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))
            inputs = model.standardise(train_stats)
            targets = data.targets[torch.from_numpy(train_rows)].to(device)
            model.head.weight.zero_()
            model.head.bias.zero_()

        optimizer = torch.optim.LBFGS(
            model.head.parameters(),
            lr=1.0,
            max_iter=_ITERATIONS_PER_ROUND,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = loss_fn(model.head(inputs), targets, multi_label=multi_label, smoothing=0.0)
            loss = loss + config.baseline_l2 * model.head.weight.square().sum()
            torch.autograd.backward(loss)
            return loss

        history: list[EpochRecord] = []
        model.train()
        for round_index in range(1, rounds + 1):
            if should_stop is not None and should_stop():
                raise Cancelled(f"{name} training cancelled in round {round_index}")
            loss = float(optimizer.step(closure).detach())  # type: ignore[no-untyped-call]
            elapsed = time.perf_counter() - started
            history.append(
                EpochRecord(
                    epoch=round_index,
                    train_loss=loss,
                    val_loss=None,
                    val_metric=None,
                    lr=1.0,
                    elapsed_s=elapsed,
                )
            )
            report(
                Progress(
                    phase="training",
                    model=name,
                    epoch=round_index,
                    epochs=rounds,
                    loss=loss,
                    eta_s=elapsed / round_index * (rounds - round_index),
                )
            )
        metrics = None
        if val_rows.size:
            metrics = evaluate(model, data, val_rows, device=device, batch_size=256)
        model.eval()
    result = TrainResult(
        model_description=model.describe(),
        model_state=cpu_state(model),
        label_names=data.label_names,
        multi_label=multi_label,
        metrics=metrics,
        history=tuple(history),
        best_epoch=len(history),
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
            epoch=len(history),
            epochs=rounds,
            loss=history[-1].train_loss,
            val_metric=None if metrics is None else metrics.macro_f1,
            eta_s=0.0,
        )
    )
    return result

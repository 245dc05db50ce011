"""Choosing between the CNN and the baseline by their held-out scores."""

from __future__ import annotations

from ml_worker.training.result import TrainResult


def choose_model(
    cnn_result: TrainResult, baseline_result: TrainResult, *, min_gain: float = 0.0
) -> TrainResult:
    """The better validated of two results trained on the same held-out split.

    Rule: the CNN is chosen only when its held-out macro-F1 exceeds the baseline's by more
    than ``min_gain`` (default 0: any strict improvement); otherwise - ties included - the
    baseline is chosen, since it is smaller, faster to run over hours of audio and less
    prone to fit a small held-out split by chance. A result without held-out metrics loses
    to one with them. Raises ``ValueError`` when neither has metrics, or when they were
    validated on different rows (compare like with like: same data, ``val_fraction`` and
    seed).
    """
    cnn, base = cnn_result.metrics, baseline_result.metrics
    if cnn is None and base is None:
        raise ValueError("neither result has held-out metrics (val_fraction was 0?)")
    if cnn is None:
        return baseline_result
    if base is None:
        return cnn_result
    if cnn_result.val_indices != baseline_result.val_indices:
        raise ValueError("the results were validated on different held-out rows")
    if cnn.macro_f1 > base.macro_f1 + min_gain:
        return cnn_result
    return baseline_result

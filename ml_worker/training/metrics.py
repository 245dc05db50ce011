"""Held-out metrics for clip classifiers (numpy; no scikit-learn).

Conventions follow scikit-learn's defaults: a precision/recall/F1 whose denominator is 0 is
0; macro averages run over the classes that occur in the true labels or the predictions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class ClassificationMetrics:
    """Metrics on a held-out split (all lists indexed by class).

    Single-label: ``accuracy`` = fraction of argmax predictions that are right, ``micro_f1``
    equals it, ``confusion_matrix[true][pred]`` counts clips. Multi-label (threshold 0.5
    per class): ``accuracy`` is the exact-match (subset) accuracy, ``micro_f1`` pools every
    (clip, class) decision, ``confusion_matrix`` is None. ``macro_f1`` is the selection
    metric for early stopping and ``choose_model``. ``loss``: mean held-out loss (no
    augmentation, no label smoothing), when computed.
    """

    multi_label: bool
    n_samples: int
    accuracy: float
    macro_f1: float
    micro_f1: float
    per_class_precision: list[float]
    per_class_recall: list[float]
    per_class_f1: list[float]
    support: list[int]
    confusion_matrix: list[list[int]] | None = None
    loss: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClassificationMetrics:
        matrix = data.get("confusion_matrix")
        loss = data.get("loss")
        return cls(
            multi_label=bool(data["multi_label"]),
            n_samples=int(data["n_samples"]),
            accuracy=float(data["accuracy"]),
            macro_f1=float(data["macro_f1"]),
            micro_f1=float(data["micro_f1"]),
            per_class_precision=[float(v) for v in data["per_class_precision"]],
            per_class_recall=[float(v) for v in data["per_class_recall"]],
            per_class_f1=[float(v) for v in data["per_class_f1"]],
            support=[int(v) for v in data["support"]],
            confusion_matrix=None if matrix is None else [[int(v) for v in r] for r in matrix],
            loss=None if loss is None else float(loss),
        )


def _ratio(num: npt.NDArray[np.float64], den: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _from_counts(
    tp: npt.NDArray[np.float64], fp: npt.NDArray[np.float64], fn: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], float]:
    """Per-class precision, recall, F1 and the macro-F1 over classes seen in truth or preds."""
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    present = (tp + fp + fn) > 0
    macro = float(f1[present].mean()) if present.any() else 0.0
    return precision, recall, f1, macro


def classification_metrics(
    probabilities: npt.NDArray[np.floating[Any]],
    targets: npt.NDArray[Any],
    *,
    multi_label: bool,
    threshold: float = 0.5,
    loss: float | None = None,
) -> ClassificationMetrics:
    """Metrics of ``probabilities`` (n, n_classes) against ``targets``.

    Single-label: ``targets`` (n,) int class indices, prediction = argmax. Multi-label:
    ``targets`` (n, n_classes) 0/1, prediction = probability >= ``threshold``.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    n, n_classes = probs.shape
    if multi_label:
        truth = np.asarray(targets).reshape(n, n_classes) > 0.5
        pred = probs >= threshold
        tp = (truth & pred).sum(axis=0).astype(np.float64)
        fp = (~truth & pred).sum(axis=0).astype(np.float64)
        fn = (truth & ~pred).sum(axis=0).astype(np.float64)
        precision, recall, f1, macro = _from_counts(tp, fp, fn)
        micro_den = 2 * tp.sum() + fp.sum() + fn.sum()
        micro = float(2 * tp.sum() / micro_den) if micro_den > 0 else 0.0
        accuracy = float((truth == pred).all(axis=1).mean()) if n else 0.0
        support = truth.sum(axis=0).astype(int).tolist()
        matrix = None
    else:
        truth_idx = np.asarray(targets, dtype=np.int64).reshape(n)
        pred_idx = probs.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
        confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(confusion, (truth_idx, pred_idx), 1)
        tp = np.diag(confusion).astype(np.float64)
        fp = confusion.sum(axis=0) - tp
        fn = confusion.sum(axis=1) - tp
        precision, recall, f1, macro = _from_counts(tp, fp, fn)
        accuracy = float((truth_idx == pred_idx).mean()) if n else 0.0
        micro = accuracy
        support = confusion.sum(axis=1).astype(int).tolist()
        matrix = confusion.tolist()
    return ClassificationMetrics(
        multi_label=multi_label,
        n_samples=n,
        accuracy=accuracy,
        macro_f1=macro,
        micro_f1=micro,
        per_class_precision=precision.tolist(),
        per_class_recall=recall.tolist(),
        per_class_f1=f1.tolist(),
        support=support,
        confusion_matrix=matrix,
        loss=loss,
    )

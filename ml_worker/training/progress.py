"""Progress reports, cancellation and the training configuration."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

Phase = Literal["preparing", "training", "done"]


class Cancelled(Exception):
    """Raised by a training function when ``should_stop()`` returned True (between batches)."""


@dataclass(frozen=True)
class Progress:
    """One progress report.

    ``phase``: "preparing" (once, epoch 0), "training" (after each epoch, epochs 1, 2, ...),
    "done" (once, ``epoch`` = epochs actually run, early stopping may end before ``epochs``).
    ``loss``: mean training loss of the epoch (augmented batches); ``val_metric``: held-out
    macro-F1 after the epoch (None without a held-out split); ``eta_s``: seconds left
    if every remaining epoch runs, from the mean epoch time so far.
    """

    phase: Phase
    model: str
    epoch: int
    epochs: int
    loss: float | None = None
    val_metric: float | None = None
    eta_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[Progress], None]
StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of a training run (plain values; stored in checkpoints).

    Optimisation: AdamW (``lr`` is the peak of a one-cycle schedule stepped per batch,
    ``weight_decay`` decoupled), ``epochs`` at most, ``batch_size`` clips per step, early
    stopping after ``early_stopping_patience`` epochs without a better held-out macro-F1
    (None: never). ``val_fraction`` of the clips (per class, for single-label) is held out.
    Augmentation, training batches only: random circular time shift of up to
    ``time_shift_max_frames`` log-mel frames, a random crop of ``crop_frames`` consecutive
    frames per clip (None: whole clips; evaluation always sees whole clips), SpecAugment
    masks when ``spec_augment``, mixup when ``mixup_alpha > 0``. ``label_smoothing`` applies
    to single-label cross-entropy.
    ``cnn_channels``/``dropout`` shape the ClipCNN; ``baseline_*`` the MFCC baseline (L2 on
    the weights, L-BFGS iterations).
    """

    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-2
    seed: int = 0
    val_fraction: float = 0.2
    mixup_alpha: float = 0.2
    spec_augment: bool = True
    freq_mask_bins: int = 8
    time_mask_frames: int = 20
    n_freq_masks: int = 2
    n_time_masks: int = 2
    time_shift_max_frames: int = 10
    crop_frames: int | None = None
    label_smoothing: float = 0.05
    early_stopping_patience: int | None = 8
    cnn_channels: Sequence[int] = (32, 64, 128, 256)
    dropout: float = 0.3
    baseline_n_mfcc: int = 20
    baseline_l2: float = 1e-2
    baseline_max_iter: int = 200

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not 0 <= self.val_fraction < 1:
            raise ValueError("val_fraction must be in [0, 1)")
        if self.mixup_alpha < 0 or not 0 <= self.label_smoothing < 1:
            raise ValueError("mixup_alpha must be >= 0 and label_smoothing in [0, 1)")
        if self.crop_frames is not None and self.crop_frames < 1:
            raise ValueError("crop_frames must be >= 1 or None")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError("early_stopping_patience must be >= 1 or None")
        object.__setattr__(self, "cnn_channels", tuple(int(c) for c in self.cnn_channels))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cnn_channels"] = list(self.cnn_channels)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

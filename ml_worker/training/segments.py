"""Training the SegmentCRNN sound event detector from segment labels.

The steps, each a function the worker can call on its own:

1. ``Recording`` per labelled item: its mono signal and its ``Event`` list (start_s, end_s,
   label). ``split_recordings`` holds some out (whole recordings; a lone recording is cut
   in time).
2. ``segment_examples`` cuts the training recordings into overlapping windows and turns each
   into log-mel plus multi-hot frame targets (``frame_targets``).
3. ``train_segment_detector`` runs 1-2 and fits the model (AdamW, one-cycle, per-frame binary
   cross-entropy, SpecAugment), validating after each epoch by detecting segments on the
   held-out recordings (``evaluate_segment_detector``: event-based F1, onset collar 200 ms,
   offset collar max(200 ms, 20 %)). Progress callback and cancellation as in
   ``train_clip_classifier``; the result saves with ``save_checkpoint``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor

from ml_worker.features import LogMel, LogMelConfig, count_windows, window_batch, window_geometry
from ml_worker.inference.detect import DecodeConfig, decode_frames, frame_probabilities_long
from ml_worker.models import EarmarkModel, SegmentCRNN, build_model
from ml_worker.training.augment import spec_augment
from ml_worker.training.event_metrics import Event, EventMetrics, event_metrics
from ml_worker.training.progress import Cancelled, Progress, ProgressCallback, StopCheck
from ml_worker.training.result import EpochRecord, report_epoch
from ml_worker.training.trainer import cpu_state, seeded

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentTrainConfig:
    """Hyperparameters of a segment detector run (plain values; stored in checkpoints).

    Windows: ``window_s`` seconds every ``window_hop_s`` seconds, for training and for
    inference. Optimisation: AdamW, one-cycle peak ``lr``, at most ``epochs`` epochs of
    ``batch_size`` windows, early stopping after ``early_stopping_patience`` epochs without a
    better held-out event F1 (None: never). ``val_fraction`` of the recordings is held out.
    SpecAugment on training windows (frequency masks, and time masks when
    ``n_time_masks > 0``). Model: ``cnn_channels``, ``gru_hidden``, ``dropout``.
    ``decode``: how frame probabilities become segments (validation and inference).
    """

    window_s: float = 10.0
    window_hop_s: float = 5.0
    epochs: int = 40
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-2
    seed: int = 0
    val_fraction: float = 0.2
    spec_augment: bool = True
    n_freq_masks: int = 2
    freq_mask_bins: int = 8
    n_time_masks: int = 0
    time_mask_frames: int = 10
    early_stopping_patience: int | None = 10
    cnn_channels: Sequence[int] = (32, 64, 128)
    gru_hidden: int = 64
    dropout: float = 0.3
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.window_hop_s <= 0:
            raise ValueError("window_s and window_hop_s must be positive")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not 0 <= self.val_fraction < 1:
            raise ValueError("val_fraction must be in [0, 1)")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError("early_stopping_patience must be >= 1 or None")
        object.__setattr__(self, "cnn_channels", tuple(int(c) for c in self.cnn_channels))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cnn_channels"] = list(self.cnn_channels)
        data["decode"] = self.decode.to_json()
        data["kind"] = "segments"
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentTrainConfig:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("decode"), dict):
            values["decode"] = DecodeConfig.from_json(values["decode"])
        return cls(**values)


@dataclass(frozen=True)
class Recording:
    """One labelled recording: ``signal`` (samples,) float32 mono at the feature config's
    sample rate, and its events (seconds from the start; labels from ``label_names``;
    events may overlap). Every part of the signal not inside an event is a negative."""

    signal: npt.NDArray[np.float32]
    events: tuple[Event, ...]

    def duration_s(self, sample_rate_hz: int) -> float:
        return float(self.signal.shape[0]) / sample_rate_hz


@dataclass(frozen=True)
class SegmentExamples:
    """Training windows: ``features`` (n, n_mels, frames) float32, ``targets``
    (n, frames, n_classes) float32 0/1, ``recording_index`` (n,) int64 (which recording),
    ``start_s`` (n,) float64 (where the window starts in it)."""

    features: Tensor
    targets: Tensor
    recording_index: npt.NDArray[np.int64]
    start_s: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.features.shape[0])


@dataclass(frozen=True)
class SegmentTrainResult:
    """A trained detector and how well it did on the held-out recordings.

    ``metrics``: event-based metrics of the best epoch (None without held-out recordings:
    then the last epoch is kept). ``model_state``: CPU tensors. ``multi_label`` is True.
    """

    model_description: dict[str, Any]
    model_state: dict[str, Tensor]
    label_names: tuple[str, ...]
    multi_label: bool
    metrics: EventMetrics | None
    history: tuple[EpochRecord, ...]
    best_epoch: int
    epochs_run: int
    train_time_s: float
    device: str
    n_train_windows: int
    n_train_recordings: int
    n_val_recordings: int
    config: SegmentTrainConfig

    @property
    def architecture(self) -> str:
        return str(self.model_description["architecture"])

    def build_model(self, device: torch.device | str = "cpu") -> EarmarkModel:
        """The trained model in eval mode on ``device``."""
        model = build_model(self.model_description)
        model.load_state_dict(self.model_state)
        return model.to(device).eval()


def frame_targets(
    events: Sequence[Event],
    *,
    label_names: Sequence[str],
    n_frames: int,
    hop_s: float,
    offset_s: float = 0.0,
) -> npt.NDArray[np.float32]:
    """Multi-hot frame targets (n_frames, n_classes) float32: frame ``i`` (centred on
    ``offset_s + i * hop_s`` seconds, the log-mel convention) is 1 for every label with an
    event ``[start_s, end_s)`` around that centre. Unknown labels raise ``ValueError``."""
    index = {name: i for i, name in enumerate(label_names)}
    out = np.zeros((n_frames, len(index)), dtype=np.float32)
    centres = offset_s + np.arange(n_frames) * hop_s
    for event in events:
        if event.label not in index:
            raise ValueError(f"event label {event.label!r} is not in label_names")
        first = int(np.searchsorted(centres, event.start_s, side="left"))
        stop = int(np.searchsorted(centres, event.end_s, side="left"))
        out[first:stop, index[event.label]] = 1.0
    return out


def segment_examples(
    recordings: Sequence[Recording],
    *,
    label_names: Sequence[str],
    feature_config: LogMelConfig,
    window_s: float,
    window_hop_s: float,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
) -> SegmentExamples:
    """Cut every recording into windows of ``window_s`` every ``window_hop_s`` seconds (the
    last one zero-padded, see ``features.windows``), compute log-mel on ``device`` and the
    frame targets of each window. Returns CPU tensors."""
    frontend = LogMel(feature_config).to(device)
    rate = feature_config.sample_rate_hz
    window_samples, hop_samples = window_geometry(
        sample_rate_hz=rate, window_s=window_s, hop_s=window_hop_s
    )
    frames = feature_config.n_frames(window_samples)
    features: list[Tensor] = []
    targets: list[npt.NDArray[np.float32]] = []
    owners: list[int] = []
    starts: list[float] = []
    for index, recording in enumerate(recordings):
        signal = np.asarray(recording.signal, dtype=np.float32)
        total = count_windows(
            signal.shape[0], window_samples=window_samples, hop_samples=hop_samples
        )
        for first in range(0, total, batch_size):
            count = min(batch_size, total - first)
            cut = window_batch(
                signal, first, count, window_samples=window_samples, hop_samples=hop_samples
            )
            with torch.inference_mode():
                features.append(frontend(torch.from_numpy(cut).to(device)).cpu())
            for row in range(count):
                start_s = (first + row) * hop_samples / rate
                targets.append(
                    frame_targets(
                        recording.events,
                        label_names=label_names,
                        n_frames=frames,
                        hop_s=feature_config.hop_s,
                        offset_s=start_s,
                    )
                )
                owners.append(index)
                starts.append(start_s)
    if not features:
        raise ValueError("no recording has any audio")
    return SegmentExamples(
        features=torch.cat(features).contiguous(),
        targets=torch.from_numpy(np.stack(targets)),
        recording_index=np.array(owners, dtype=np.int64),
        start_s=np.array(starts, dtype=np.float64),
    )


def split_recordings(
    recordings: Sequence[Recording], *, val_fraction: float, seed: int, sample_rate_hz: int
) -> tuple[list[Recording], list[Recording]]:
    """(training, held-out) recordings.

    Two or more recordings: ``round(val_fraction * n)`` whole recordings (at least 1, at most
    n - 1) chosen at random with ``seed`` are held out, so no held-out window overlaps a
    training one. A single recording is cut at ``(1 - val_fraction)`` of its length, at a
    point outside any event when one lies within 10 % of the length; each part keeps the
    events (clipped) that fall in it, with times relative to the part. ``val_fraction == 0``
    holds nothing out.
    """
    items = list(recordings)
    if val_fraction <= 0 or not items:
        return items, []
    if len(items) >= 2:
        count = min(max(round(val_fraction * len(items)), 1), len(items) - 1)
        held = set(np.random.default_rng(seed).permutation(len(items))[:count].tolist())
        return (
            [r for i, r in enumerate(items) if i not in held],
            [r for i, r in enumerate(items) if i in held],
        )
    only = items[0]
    duration = only.duration_s(sample_rate_hz)
    cut_s = _quiet_cut(only.events, (1 - val_fraction) * duration, slack_s=0.1 * duration)
    cut = round(cut_s * sample_rate_hz)
    if cut <= 0 or cut >= only.signal.shape[0]:
        return items, []
    return [_part(only, 0, cut, sample_rate_hz)], [
        _part(only, cut, only.signal.shape[0], sample_rate_hz)
    ]


def _quiet_cut(events: Sequence[Event], wanted_s: float, *, slack_s: float) -> float:
    """The time nearest ``wanted_s`` (within ``slack_s``) that lies inside no event, else
    ``wanted_s``."""
    candidates = [wanted_s] + [e.end_s for e in events] + [e.start_s for e in events]
    candidates = [t for t in candidates if abs(t - wanted_s) <= slack_s]
    free = [t for t in candidates if not any(e.start_s < t < e.end_s for e in events)]
    return min(free, key=lambda t: abs(t - wanted_s)) if free else wanted_s


def _part(recording: Recording, start: int, stop: int, rate: int) -> Recording:
    start_s, stop_s = start / rate, stop / rate
    events = tuple(
        Event(max(e.start_s, start_s) - start_s, min(e.end_s, stop_s) - start_s, e.label)
        for e in recording.events
        if e.end_s > start_s and e.start_s < stop_s
    )
    return Recording(signal=recording.signal[start:stop], events=events)


def detected_events(
    model: EarmarkModel,
    recording_signal: npt.NDArray[np.float32],
    *,
    frontend: LogMel,
    label_names: Sequence[str],
    config: SegmentTrainConfig,
) -> list[Event]:
    """The events ``model`` detects in one signal, windows and decoding from ``config``."""
    probs = frame_probabilities_long(
        model,
        recording_signal,
        frontend=frontend,
        window_s=config.window_s,
        hop_s=config.window_hop_s,
    )
    return [
        Event(s.start_s, s.end_s, label_names[s.class_index])
        for s in decode_frames(probs, hop_s=frontend.config.hop_s, decode=config.decode)
    ]


def evaluate_segment_detector(
    model: EarmarkModel,
    recordings: Sequence[Recording],
    *,
    label_names: Sequence[str],
    frontend: LogMel,
    config: SegmentTrainConfig,
) -> EventMetrics:
    """Event-based metrics of ``model`` on whole ``recordings`` (detect, decode, match with
    onset collar 200 ms and offset collar max(200 ms, 20 % of the reference length))."""
    detected = [
        detected_events(model, r.signal, frontend=frontend, label_names=label_names, config=config)
        for r in recordings
    ]
    return event_metrics([list(r.events) for r in recordings], detected, label_names=label_names)


def train_segment_detector(
    recordings: Sequence[Recording],
    *,
    label_names: Sequence[str],
    feature_config: LogMelConfig,
    config: SegmentTrainConfig | None = None,
    device: torch.device | str = "cpu",
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> SegmentTrainResult:
    """Train a ``SegmentCRNN`` on labelled recordings and validate it on held-out ones.

    ``recordings``: signals at ``feature_config.sample_rate_hz`` with their events;
    ``label_names``: the classes in output order (every event label must be one). Held-out
    recordings: ``split_recordings``. Training windows: ``segment_examples``. Each epoch ends
    with event-based F1 on the held-out recordings; the epoch with the best F1 (then the
    lowest training loss) is kept. Reproducible on CPU for the same inputs and seed; the
    global torch RNG state is restored.

    ``progress`` receives ``Progress`` objects (``val_metric`` = held-out event F1);
    ``should_stop`` is polled before every batch and raises ``Cancelled`` when True.
    Raises ``ValueError`` for empty input or unknown labels.
    """
    config = config or SegmentTrainConfig()
    names = tuple(str(n) for n in label_names)
    if not names or len(set(names)) != len(names):
        raise ValueError("label_names must be non-empty and unique")
    if not recordings:
        raise ValueError("no recordings to train on")
    started = time.perf_counter()
    report = progress or (lambda _p: None)
    report(
        Progress(phase="preparing", model=SegmentCRNN.architecture, epoch=0, epochs=config.epochs)
    )
    device = torch.device(device)
    train_recs, val_recs = split_recordings(
        recordings,
        val_fraction=config.val_fraction,
        seed=config.seed,
        sample_rate_hz=feature_config.sample_rate_hz,
    )
    examples = segment_examples(
        train_recs,
        label_names=names,
        feature_config=feature_config,
        window_s=config.window_s,
        window_hop_s=config.window_hop_s,
        device=device,
    )
    frontend = LogMel(feature_config).to(device)
    with seeded(config.seed, device):
        model = SegmentCRNN(
            len(names),
            n_mels=feature_config.n_mels,
            channels=config.cnn_channels,
            gru_hidden=config.gru_hidden,
            dropout=config.dropout,
        ).to(device)
        return _fit(
            model,
            examples,
            val_recs,
            names=names,
            frontend=frontend,
            config=config,
            device=device,
            started=started,
            report=report,
            should_stop=should_stop,
            n_train_recordings=len(train_recs),
        )


def _fit(
    model: SegmentCRNN,
    examples: SegmentExamples,
    val_recs: Sequence[Recording],
    *,
    names: tuple[str, ...],
    frontend: LogMel,
    config: SegmentTrainConfig,
    device: torch.device,
    started: float,
    report: ProgressCallback,
    should_stop: StopCheck | None,
    n_train_recordings: int,
) -> SegmentTrainResult:
    n = len(examples)
    name = model.architecture
    n_batches = max(1, math.ceil(n / config.batch_size))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * n_batches, pct_start=0.3
    )
    shuffle = torch.Generator().manual_seed(config.seed)
    augment = torch.Generator().manual_seed(config.seed + 1)
    history: list[EpochRecord] = []
    best_state = cpu_state(model)
    best: tuple[float, float] | None = None
    best_metrics: EventMetrics | None = None
    best_epoch = 0
    stale = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=shuffle).numpy()
        epoch_loss = 0.0
        for rows in np.array_split(order, n_batches):
            if should_stop is not None and should_stop():
                raise Cancelled(f"{name} training cancelled in epoch {epoch}")
            index = torch.from_numpy(rows)
            x = examples.features[index].to(device)
            y = examples.targets[index].to(device)
            if config.spec_augment:
                x = spec_augment(
                    x,
                    generator=augment,
                    n_freq_masks=config.n_freq_masks,
                    freq_mask_bins=config.freq_mask_bins,
                    n_time_masks=config.n_time_masks,
                    time_mask_frames=config.time_mask_frames,
                )
            loss = F.binary_cross_entropy_with_logits(model.logits(x), y)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimizer.step()
            schedule.step()
            epoch_loss += loss.item() * rows.size
        epoch_loss /= max(n, 1)
        metrics = None
        if val_recs:
            metrics = evaluate_segment_detector(
                model, val_recs, label_names=names, frontend=frontend, config=config
            )
        score = (metrics.f1 if metrics is not None else 0.0, -epoch_loss)
        if metrics is None or best is None or score > best:
            best_state, best, best_metrics, best_epoch, stale = (
                cpu_state(model),
                score,
                metrics,
                epoch,
                0,
            )
        else:
            stale += 1
        elapsed = time.perf_counter() - started
        history.append(
            EpochRecord(
                epoch=epoch,
                train_loss=epoch_loss,
                val_loss=None,
                val_metric=None if metrics is None else metrics.f1,
                lr=float(optimizer.param_groups[0]["lr"]),
                elapsed_s=elapsed,
            )
        )
        report_epoch(report, name, config.epochs, history[-1])
        patience = config.early_stopping_patience
        if patience is not None and val_recs and stale >= patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    result = SegmentTrainResult(
        model_description=model.describe(),
        model_state=best_state,
        label_names=names,
        multi_label=True,
        metrics=best_metrics,
        history=tuple(history),
        best_epoch=best_epoch,
        epochs_run=len(history),
        train_time_s=time.perf_counter() - started,
        device=str(device),
        n_train_windows=n,
        n_train_recordings=n_train_recordings,
        n_val_recordings=len(val_recs),
        config=config,
    )
    report(
        Progress(
            phase="done",
            model=name,
            epoch=result.epochs_run,
            epochs=config.epochs,
            loss=history[-1].train_loss,
            val_metric=None if best_metrics is None else best_metrics.f1,
            eta_s=0.0,
        )
    )
    return result

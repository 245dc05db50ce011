"""Running trained models: clip probabilities, embeddings, frame probabilities, and whole
recordings of any length through fixed windows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch

from ml_worker.features import LogMel, count_windows, window_batch, window_geometry
from ml_worker.models import ClipModel, EarmarkModel

Pool = Literal["mean", "max"]


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU when it has neither)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _batched(
    model: EarmarkModel,
    features: npt.NDArray[np.floating[Any]],
    batch_size: int,
    *,
    embed: bool = False,
) -> npt.NDArray[np.float32]:
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"expected log-mel (n, n_mels, frames), got shape {x.shape}")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if embed and not isinstance(model, ClipModel):
        raise TypeError(f"{model.architecture} has no clip embedding")
    device = model_device(model)
    was_training = model.training
    model.eval()
    outputs: list[npt.NDArray[np.float32]] = []
    try:
        with torch.inference_mode():
            for start in range(0, x.shape[0], batch_size):
                batch = torch.from_numpy(x[start : start + batch_size]).to(device)
                if isinstance(model, ClipModel) and embed:
                    out = model.embed(batch)
                else:
                    out = model.probabilities(model.logits(batch))
                outputs.append(out.float().cpu().numpy())
    finally:
        model.train(was_training)
    if not outputs:
        return np.zeros((0, *_output_tail(model, x, embed)), dtype=np.float32)
    return np.concatenate(outputs).astype(np.float32, copy=False)


def _output_tail(model: EarmarkModel, x: npt.NDArray[np.float32], embed: bool) -> tuple[int, ...]:
    if embed:
        return (int(getattr(model, "embedding_dim", 0)),)
    if isinstance(model, ClipModel):
        return (model.n_classes,)
    return (x.shape[2], model.n_classes)


def predict_clips(
    model: ClipModel, features: npt.NDArray[np.floating[Any]], *, batch_size: int = 64
) -> npt.NDArray[np.float32]:
    """Class probabilities of clips: ``features`` (n, n_mels, frames) float32 log-mel ->
    (n, n_classes) float32 (softmax rows summing to 1, or independent sigmoids when the model
    is multi-label). Runs in eval mode on the model's device, ``batch_size`` clips at a time;
    the model's train/eval mode is restored afterwards."""
    return _batched(model, features, batch_size)


def embed_clips(
    model: ClipModel, features: npt.NDArray[np.floating[Any]], *, batch_size: int = 64
) -> npt.NDArray[np.float32]:
    """Clip embeddings (input of the model's head) for diversity sampling:
    ``features`` (n, n_mels, frames) -> (n, embedding_dim) float32."""
    return _batched(model, features, batch_size, embed=True)


def predict_frames(
    model: EarmarkModel, features: npt.NDArray[np.floating[Any]], *, batch_size: int = 16
) -> npt.NDArray[np.float32]:
    """Frame probabilities of a frame-level model (``SegmentCRNN``): ``features``
    (n, n_mels, frames) -> (n, frames, n_classes) float32, one row per log-mel hop; feed a
    row to ``decode_segments`` with ``hop_s = LogMelConfig.hop_s``."""
    if isinstance(model, ClipModel):
        raise TypeError("predict_frames needs a frame-level model; use predict_clips")
    return _batched(model, features, batch_size)


def window_probabilities(
    model: ClipModel,
    signal: npt.NDArray[np.floating[Any]],
    *,
    frontend: LogMel,
    sample_rate_hz: int,
    window_s: float,
    hop_s: float,
    batch_size: int = 32,
) -> Iterator[tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]]:
    """Stream clip probabilities over a long mono ``signal`` (samples,) float32.

    Yields ``(starts_s (b,) float64, probabilities (b, n_classes) float32)`` for batches of at
    most ``batch_size`` consecutive windows of ``window_s`` seconds every ``hop_s`` seconds
    (see ``features.windows``; the last window is zero-padded). Memory stays constant in the
    signal's length: each batch is cut, turned into log-mel by ``frontend`` (which must run
    at ``sample_rate_hz``) and classified before the next, so ``signal`` may be a
    ``np.memmap``. Model and front-end must be on the same device.
    """
    if frontend.config.sample_rate_hz != sample_rate_hz:
        raise ValueError(
            f"signal at {sample_rate_hz} Hz, front-end at {frontend.config.sample_rate_hz} Hz"
        )
    if signal.ndim != 1:
        raise ValueError(f"expected a mono signal (samples,), got shape {signal.shape}")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    window_samples, hop_samples = window_geometry(
        sample_rate_hz=sample_rate_hz, window_s=window_s, hop_s=hop_s
    )
    total = count_windows(signal.shape[0], window_samples=window_samples, hop_samples=hop_samples)
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        for first in range(0, total, batch_size):
            count = min(batch_size, total - first)
            cut = window_batch(
                signal, first, count, window_samples=window_samples, hop_samples=hop_samples
            )
            with torch.inference_mode():
                logmel = frontend(torch.from_numpy(cut).to(device))
                probs = model.probabilities(model.logits(logmel)).float().cpu().numpy()
            starts_s = (first + np.arange(count, dtype=np.float64)) * hop_samples / sample_rate_hz
            yield starts_s, probs
    finally:
        model.train(was_training)


def predict_long(
    model: ClipModel,
    signal: npt.NDArray[np.floating[Any]],
    *,
    frontend: LogMel,
    sample_rate_hz: int,
    window_s: float,
    hop_s: float,
    pool: Pool = "mean",
    batch_size: int = 32,
) -> npt.NDArray[np.float32]:
    """Clip probabilities of a whole recording: ``signal`` (samples,) float32 at
    ``sample_rate_hz`` -> (n_classes,) float32, pooling the window probabilities of
    ``window_probabilities`` by their ``"mean"`` (how much of the recording) or ``"max"``
    (anywhere in the recording) per class, with running sums so memory stays constant.
    An empty signal gives zeros.
    """
    if pool not in ("mean", "max"):
        raise ValueError(f"pool must be 'mean' or 'max', got {pool!r}")
    pooled = np.zeros(model.n_classes, dtype=np.float64)
    seen = 0
    for _starts, probs in window_probabilities(
        model,
        signal,
        frontend=frontend,
        sample_rate_hz=sample_rate_hz,
        window_s=window_s,
        hop_s=hop_s,
        batch_size=batch_size,
    ):
        if pool == "mean":
            pooled += probs.sum(axis=0, dtype=np.float64)
        else:
            pooled = np.maximum(pooled, probs.max(axis=0))
        seen += probs.shape[0]
    if pool == "mean" and seen:
        pooled /= seen
    return pooled.astype(np.float32)

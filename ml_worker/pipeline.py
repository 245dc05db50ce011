"""One training run from request to outcome: load audio, train, choose, predict, rank.

Django-free and Celery-free: ``run_training`` takes a ``TrainingRequest``, a ``Storage`` and a
progress callback, writes the checkpoint and the predictions into storage under the request's
output prefix and returns a ``TrainingOutcome``. The Celery task in ``ml_worker.tasks`` is a
thin shell around it.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import numpy.typing as npt
import soundfile as sf
import torch

from ml_worker.contracts import (
    QUEUE_ORDER_KIND,
    AudioRef,
    TrainingOutcome,
    TrainingProgress,
    TrainingRequest,
)
from ml_worker.embeddings import (
    EmbeddingModelError,
    EmbeddingModelSpec,
    HeadConfig,
    embed_items,
    embedding_cache,
    load_embedding_model,
    predict_embeddings,
    train_embedding_head,
)
from ml_worker.features import (
    FeatureCache,
    LogMel,
    LogMelConfig,
    extract_logmel,
    fit_length,
    load_audio,
)
from ml_worker.inference import (
    DIVERSE_DIMS,
    diverse_batch,
    embed_clips,
    entropy,
    least_confidence,
    margin,
    predict_clips,
    principal_components,
    representative_order,
)
from ml_worker.inference.detect import decode_frames, frame_probabilities_long
from ml_worker.models import ClipModel
from ml_worker.storage import Storage
from ml_worker.training import (
    Cancelled,
    Progress,
    TrainConfig,
    TrainResult,
    choose_model,
    save_checkpoint,
    train_baseline,
    train_clip_classifier,
)
from ml_worker.training.event_metrics import Event
from ml_worker.training.segments import Recording, SegmentTrainConfig, train_segment_detector

logger = logging.getLogger(__name__)

Report = Callable[[TrainingProgress], None]

DEFAULT_WINDOW_S = 5.0
# The diverse ranking clusters the DIVERSE_POOL_FACTOR x batch most uncertain items
# (Zhdanov 2019; measured on ESC-10 in bench/bench_ml_active.py).
DIVERSE_POOL_FACTOR = 10


class RunFailed(Exception):
    """A run that cannot go on; the message is shown to the user as the run's error."""


class StopPoll:
    """``should_stop`` for the trainers: checks the cancel marker at most every ``every_s``."""

    def __init__(self, storage: Storage, key: str, every_s: float = 1.0) -> None:
        self.storage, self.key, self.every_s = storage, key, every_s
        self._next = 0.0
        self.cancelled = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.cancelled and now >= self._next:
            self._next = now + self.every_s
            self.cancelled = self.storage.exists(self.key)
        return self.cancelled


@contextmanager
def audio_path(storage: Storage, ref: AudioRef) -> Iterator[Path]:
    if ref.path:
        yield Path(ref.path)
        return
    if ref.url:
        with download(ref.url) as path:
            yield path
        return
    with storage.local_copy(ref.key) as path:
        yield path


@contextmanager
def download(url: str, *, timeout_s: float = 300) -> Iterator[Path]:
    """Fetch a pre-signed URL into a temporary file named with the object's suffix."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"refusing to fetch a {parsed.scheme!r} URL")
    suffix = Path(urllib.parse.unquote(parsed.path)).suffix
    with tempfile.TemporaryDirectory(prefix="earmark-ml-") as folder:
        path = Path(folder) / f"audio{suffix}"
        with urllib.request.urlopen(url, timeout=timeout_s) as response, path.open("wb") as out:  # noqa: S310 - scheme checked above
            shutil.copyfileobj(response, out, 1024 * 1024)
        yield path


def item_windows(
    signal: npt.NDArray[np.float32], *, window_samples: int, count: int
) -> npt.NDArray[np.float32]:
    """Up to ``count`` windows spread evenly over the signal (one, padded, when it is short)."""
    if signal.shape[0] <= window_samples:
        return fit_length(signal, window_samples)[None, :]
    n = min(count, int(np.ceil(signal.shape[0] / window_samples)))
    starts = np.linspace(0, signal.shape[0] - window_samples, n).astype(np.int64)
    return np.stack([signal[s : s + window_samples] for s in starts])


def load_item(storage: Storage, ref: AudioRef, *, sample_rate_hz: int) -> npt.NDArray[np.float32]:
    try:
        with audio_path(storage, ref) as path:
            return load_audio(path, sample_rate_hz=sample_rate_hz)
    except (OSError, ValueError, RuntimeError, urllib.error.URLError) as exc:
        raise RunFailed(f"could not read the audio of item {ref.item_id}: {exc}") from exc


def _targets(request: TrainingRequest) -> npt.NDArray[Any]:
    index = {name: i for i, name in enumerate(request.label_names)}
    if request.multi_label:
        y = np.zeros((len(request.train), len(index)), dtype=np.float32)
        for row, item in enumerate(request.train):
            for label in item.labels:
                y[row, index[label]] = 1.0
        return y
    return np.array([index[item.labels[0]] for item in request.train], dtype=np.int64)


def training_progress(report: Report) -> Callable[[Progress], None]:
    """A trainer's progress callback that reports the epoch as a ``TrainingProgress``."""

    def on_progress(p: Progress) -> None:
        report(
            TrainingProgress(
                phase="training",
                model=p.model,
                epoch=p.epoch,
                epochs=p.epochs,
                loss=p.loss,
                eta_s=p.eta_s,
            )
        )

    return on_progress


def upload_checkpoint(storage: Storage, key: str, save: Callable[[Path], None]) -> None:
    """Save a checkpoint into a temporary file, then upload it to ``key`` (atomically)."""
    with tempfile.TemporaryDirectory(prefix="earmark-ckpt-") as folder:
        local = Path(folder) / Path(key).name
        save(local)
        storage.upload(key, local)


def check_request(request: TrainingRequest) -> None:
    names = set(request.label_names)
    if len(request.train) < 4:
        raise RunFailed(f"needs at least 4 labelled items, got {len(request.train)}")
    if request.task == "segments":
        for item in request.train:
            unknown = {label for _, _, label in item.segments} - names
            if unknown:
                raise RunFailed(f"item {item.audio.item_id} has unknown labels {sorted(unknown)}")
        if not any(item.segments for item in request.train):
            raise RunFailed("needs labelled segments to train a detector on")
        return
    for item in request.train:
        unknown = set(item.labels) - names
        if unknown:
            raise RunFailed(f"item {item.audio.item_id} has unknown labels {sorted(unknown)}")
        if not request.multi_label and len(item.labels) != 1:
            raise RunFailed(f"item {item.audio.item_id} needs exactly one label in {request.group}")
    if not request.multi_label:
        used = {item.labels[0] for item in request.train}
        if len(used) < 2:
            raise RunFailed(f"needs labelled items of at least 2 labels in {request.group!r}")


def run_training(
    request: TrainingRequest,
    storage: Storage,
    *,
    report: Report,
    device: torch.device | str = "cpu",
    cache_root: Path | None = None,
) -> TrainingOutcome:
    """Train, choose between the CNN and the baseline, predict and rank; never raises for a
    failed or cancelled run (the outcome says so), only for bugs.

    ``cache_root``: where features (log-mel windows, or a project model's embeddings) are
    cached per item, keyed by the audio's sha256 and the feature settings; None: no cache.
    """
    try:
        return _run(
            request,
            _Context(
                storage=storage,
                report=report,
                device=torch.device(device),
                stop=StopPoll(storage, request.cancel_key),
                caches=Caches(cache_root),
            ),
        )
    except Cancelled:
        return TrainingOutcome(run_id=request.run_id, attempt=request.attempt, state="cancelled")
    except RunFailed as exc:
        return TrainingOutcome(
            run_id=request.run_id, attempt=request.attempt, state="failed", error=str(exc)
        )


class Caches:
    """Per-item feature caches under one root (or none)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def features(self, config_key: str) -> FeatureCache | None:
        return None if self.root is None else FeatureCache(self.root / "features", config_key)

    def embeddings(self, model: Any) -> FeatureCache | None:
        return None if self.root is None else embedding_cache(str(self.root / "embeddings"), model)


@dataclass(frozen=True)
class _Context:
    """What every kind of run works with besides its request: where the audio and the results
    are, whom to tell its progress, the device, the cancel poll and the feature caches."""

    storage: Storage
    report: Report
    device: torch.device
    stop: StopPoll
    caches: Caches


def cached(
    cache: FeatureCache | None,
    ref: AudioRef,
    tag: str,
    compute: Callable[[], npt.NDArray[np.float32]],
) -> npt.NDArray[np.float32]:
    """``compute()`` through ``cache`` when the item's content hash is known."""
    if cache is None or not ref.sha256:
        return compute()
    return cache.get_or_compute(f"{ref.sha256}:{tag}", compute)


def _run(request: TrainingRequest, ctx: _Context) -> TrainingOutcome:
    if request.ranking == "representative":
        return _run_queue_order(request, ctx)
    check_request(request)
    if request.task == "segments":
        return _run_segments(request, ctx)
    if request.embedding is not None:
        return _run_embedding_head(request, ctx)
    settings = dict(request.settings)
    window_s = float(settings.pop("window_s", DEFAULT_WINDOW_S))
    feature_config = LogMelConfig()
    try:
        config = TrainConfig.from_json(settings)
    except (TypeError, ValueError) as exc:
        raise RunFailed(f"invalid training settings: {exc}") from exc
    rate = feature_config.sample_rate_hz
    window_samples = round(window_s * rate)
    frontend = LogMel(feature_config).to(ctx.device)

    total = len(request.train)
    cache = ctx.caches.features(feature_config.key)
    tag = f"train:{window_samples}"

    def train_features(ref: AudioRef) -> npt.NDArray[np.float32]:
        signal = load_item(ctx.storage, ref, sample_rate_hz=rate)
        clip = item_windows(signal, window_samples=window_samples, count=1)
        return np.asarray(extract_logmel(clip, config=feature_config, device=ctx.device)[0])

    rows: list[npt.NDArray[np.float32]] = []
    for done, item in enumerate(request.train, start=1):
        if ctx.stop():
            raise Cancelled
        rows.append(cached(cache, item.audio, tag, partial(train_features, item.audio)))
        if done % 25 == 0 or done == total:
            ctx.report(TrainingProgress(phase="loading", done=done, total=total))
    features = np.stack(rows)
    labels = _targets(request)

    on_progress = training_progress(ctx.report)
    common: dict[str, Any] = {
        "label_names": request.label_names,
        "config": config,
        "multi_label": request.multi_label,
        "device": ctx.device,
        "progress": on_progress,
        "should_stop": ctx.stop,
    }
    try:
        baseline = train_baseline(features, labels, **common)
        cnn = train_clip_classifier(features, labels, **common)
        chosen = choose_model(cnn, baseline)
    except ValueError as exc:
        raise RunFailed(f"training failed: {exc}") from exc

    checkpoint_key = f"{request.output_prefix}model.pt"
    upload_checkpoint(
        ctx.storage,
        checkpoint_key,
        lambda path: save_checkpoint(path, chosen, feature_config=feature_config),
    )

    model = chosen.build_model(ctx.device)
    assert isinstance(model, ClipModel)
    predicted = _predict(request, ctx, model, frontend, window_samples)
    predictions_key = _write_predictions(request, ctx.storage, predicted)
    return TrainingOutcome(
        run_id=request.run_id,
        attempt=request.attempt,
        state="succeeded",
        kind=chosen.architecture,
        checkpoint_key=checkpoint_key,
        metrics=_metrics_json(chosen, cnn, baseline),
        trained_on=_trained_on(request),
        training_time_s=round(cnn.train_time_s + baseline.train_time_s, 3),
        device=str(ctx.device),
        predictions_key=predictions_key,
        predicted=len(predicted),
    )


def stream_windows(
    path: Path, *, sample_rate_hz: int, window_samples: int, batch: int = 32
) -> Iterator[npt.NDArray[np.float32]]:
    """Consecutive windows of a recording, ``batch`` at a time, as (n, window_samples) mono
    float32 at ``sample_rate_hz``; memory stays bounded whatever the length. The last partial
    window is kept (zero-padded) only when it is the whole recording or at least half a window.
    Formats libsndfile cannot read are decoded whole first."""
    try:
        handle = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError):
        signal = load_audio(path, sample_rate_hz=sample_rate_hz)
        for start in range(0, max(1, signal.shape[0]), window_samples * batch):
            chunk = signal[start : start + window_samples * batch]
            yield _cut(chunk, window_samples, first=start == 0)
        return
    with handle:
        file_rate = int(handle.samplerate)
        block_frames = round(window_samples * batch * file_rate / sample_rate_hz)
        first = True
        while True:
            block = handle.read(frames=block_frames, dtype="float32", always_2d=True)
            if block.shape[0] == 0 and not first:
                return
            mono = np.ascontiguousarray(block.mean(axis=1), dtype=np.float32)
            if file_rate != sample_rate_hz and mono.size:
                mono = librosa.resample(mono, orig_sr=file_rate, target_sr=sample_rate_hz)
            windows = _cut(mono, window_samples, first=first)
            if windows.shape[0]:
                yield windows
            first = False
            if block.shape[0] < block_frames:
                return


def _cut(
    signal: npt.NDArray[np.float32], window_samples: int, *, first: bool
) -> npt.NDArray[np.float32]:
    full = signal.shape[0] // window_samples
    parts = [signal[: full * window_samples].reshape(full, window_samples)]
    rest = signal.shape[0] - full * window_samples
    if rest and (rest * 2 >= window_samples or (first and full == 0)):
        parts.append(fit_length(signal[full * window_samples :], window_samples)[None, :])
    return np.concatenate(parts).astype(np.float32, copy=False)


def _predict(
    request: TrainingRequest,
    ctx: _Context,
    model: ClipModel,
    frontend: LogMel,
    window_samples: int,
) -> list[dict[str, Any]]:
    """Every window of every item to predict, streamed: probabilities (and embeddings for the
    diverse ranking) are mean-pooled per item with running sums."""
    rate = frontend.config.sample_rate_hz
    device = next(model.parameters()).device
    total = len(request.predict)
    probs = np.zeros((total, len(request.label_names)), dtype=np.float32)
    embeddings: list[npt.NDArray[np.float32]] = []
    for row, ref in enumerate(request.predict):
        if ctx.stop():
            raise Cancelled
        prob_sum = np.zeros(len(request.label_names), dtype=np.float64)
        emb_sum: npt.NDArray[np.float64] | None = None
        seen = 0
        try:
            with audio_path(ctx.storage, ref) as path:
                for wins in stream_windows(
                    path, sample_rate_hz=rate, window_samples=window_samples
                ):
                    with torch.inference_mode():
                        feats = frontend(torch.from_numpy(wins).to(device)).cpu().numpy()
                    prob_sum += predict_clips(model, feats).sum(axis=0, dtype=np.float64)
                    if request.ranking == "diverse":
                        e = embed_clips(model, feats).sum(axis=0, dtype=np.float64)
                        emb_sum = e if emb_sum is None else emb_sum + e
                    seen += wins.shape[0]
        except (OSError, ValueError, RuntimeError, sf.LibsndfileError) as exc:
            raise RunFailed(f"could not read the audio of item {ref.item_id}: {exc}") from exc
        # Mean over windows: the share of the recording where each label is heard.
        probs[row] = prob_sum / max(seen, 1)
        if request.ranking == "diverse" and emb_sum is not None:
            embeddings.append((emb_sum / max(seen, 1)).astype(np.float32))
        if (row + 1) % 50 == 0 or row + 1 == total:
            ctx.report(TrainingProgress(phase="predicting", done=row + 1, total=total))
    rows = _clip_rows(request, probs, embeddings)
    ctx.report(TrainingProgress(phase="ranking", done=total, total=total))
    return rows


def _clip_rows(
    request: TrainingRequest,
    probs: npt.NDArray[np.float32],
    embeddings: list[npt.NDArray[np.float32]],
) -> list[dict[str, Any]]:
    """One prediction row per item to predict: clip scores, uncertainty and queue rank."""
    scores = _uncertainty(request, probs)
    ranks = _rank(request.ranking, _batch(request), scores, embeddings)
    return [
        {
            "item_id": ref.item_id,
            "clip_scores": {
                request.group: {
                    name: round(float(p), 6)
                    for name, p in zip(request.label_names, probs[row], strict=True)
                }
            },
            "uncertainty": round(float(scores[row]), 6),
            "rank": None if ranks is None else int(ranks[row]),
        }
        for row, ref in enumerate(request.predict)
    ]


def _batch(request: TrainingRequest) -> int:
    return int(request.settings.get("batch_size_al", 10))


def _write_predictions(
    request: TrainingRequest, storage: Storage, rows: list[dict[str, Any]]
) -> str:
    key = f"{request.output_prefix}predictions.jsonl"
    storage.write_bytes(key, _jsonl(rows))
    return key


def _uncertainty(request: TrainingRequest, probs: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
    if probs.shape[0] == 0:
        return np.zeros(0)
    measure = {"least_confidence": least_confidence, "margin": margin, "entropy": entropy}[
        request.uncertainty
    ]
    return measure(probs, multi_label=request.multi_label)


def _rank(
    ranking: str,
    batch: int,
    scores: npt.NDArray[Any],
    embeddings: list[npt.NDArray[np.float32]],
) -> npt.NDArray[np.int64] | None:
    """Rank 1 = ask first. "uncertainty": most uncertain first. "diverse": batch after batch,
    ``diverse_batch`` on the model's embeddings projected once on the ``DIVERSE_DIMS``
    leading principal components of the head of the queue (``batch`` items, one per cluster
    of the ``DIVERSE_POOL_FACTOR * batch`` most uncertain left), each batch most uncertain
    first, for the first ``DIVERSE_POOL_FACTOR`` batches; the rest by uncertainty."""
    n = scores.shape[0]
    if ranking == "none" or n == 0:
        return None
    order = list(np.lexsort((np.arange(n), -scores)))  # uncertainty desc, then input order
    if ranking == "diverse" and embeddings:
        # Only the head of the queue is diversified: the model retrains long before people
        # reach the tail, and clustering all of a large project would cost more than training.
        head = order[: (DIVERSE_POOL_FACTOR + 1) * DIVERSE_POOL_FACTOR * batch]
        # Projected once: the first batch is exactly diverse_batch on the head (what
        # bench/bench_ml_active.py measures), the next ones reuse the same projection.
        matrix = principal_components(np.stack([embeddings[i] for i in head]), DIVERSE_DIMS)
        left = np.arange(len(head))
        spread: list[int] = []
        for _ in range(DIVERSE_POOL_FACTOR):
            if left.size == 0:
                break
            picks = diverse_batch(
                matrix[left],
                scores[np.array(head)[left]],
                batch,
                pool_factor=DIVERSE_POOL_FACTOR,
                dims=None,
            )
            spread += [head[left[p]] for p in picks]
            left = np.delete(left, picks)
        chosen = set(spread)
        order = spread + [i for i in order if i not in chosen]
    return _ranks_of(order)


def _ranks_of(order: list[int]) -> npt.NDArray[np.int64]:
    """Each row's rank (1 = ask first) from the rows in the order to ask them."""
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[np.array(order, dtype=np.int64)] = np.arange(1, len(order) + 1)
    return ranks


def _metrics_json(chosen: TrainResult, cnn: TrainResult, baseline: TrainResult) -> dict[str, Any]:
    def summary(result: TrainResult) -> dict[str, Any] | None:
        return None if result.metrics is None else result.metrics.to_json()

    return {
        "chosen": chosen.architecture,
        "held_out": summary(chosen),
        "candidates": {cnn.architecture: summary(cnn), baseline.architecture: summary(baseline)},
        "n_train": chosen.n_train,
        "n_val": chosen.n_val,
        "epochs_run": chosen.epochs_run,
    }


def _trained_on(request: TrainingRequest) -> dict[str, Any]:
    counts: dict[str, int] = dict.fromkeys(request.label_names, 0)
    annotation_ids: list[int] = []
    for item in request.train:
        for label in item.labels:
            counts[label] += 1
        annotation_ids.extend(item.annotation_ids)
    return {
        "group": request.group,
        "items": len(request.train),
        "counts": counts,
        "annotation_ids": sorted(annotation_ids),
    }


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    for row in rows:
        buffer.write(json.dumps(row, separators=(",", ":")))
        buffer.write("\n")
    return buffer.getvalue().encode()


def _run_segments(request: TrainingRequest, ctx: _Context) -> TrainingOutcome:
    """Train a SegmentCRNN on the labelled items' events, detect events in every unfinished
    item, and rank those by how unsure the detector is frame by frame."""
    feature_config = LogMelConfig()
    rate = feature_config.sample_rate_hz
    settings = dict(request.settings)
    try:
        window_s = float(settings.pop("window_s", 10.0))
        config = SegmentTrainConfig.from_json(
            {**settings, "window_s": window_s, "window_hop_s": window_s / 2}
        )
    except (TypeError, ValueError) as exc:
        raise RunFailed(f"invalid training settings: {exc}") from exc
    recordings = []
    total = len(request.train)
    for done, item in enumerate(request.train, start=1):
        if ctx.stop():
            raise Cancelled
        signal = load_item(ctx.storage, item.audio, sample_rate_hz=rate)
        events = tuple(Event(a, b, label) for a, b, label in item.segments)
        recordings.append(Recording(signal=signal, events=events))
        if done % 25 == 0 or done == total:
            ctx.report(TrainingProgress(phase="loading", done=done, total=total))

    on_progress = training_progress(ctx.report)
    try:
        result = train_segment_detector(
            recordings,
            label_names=request.label_names,
            feature_config=feature_config,
            config=config,
            device=ctx.device,
            progress=on_progress,
            should_stop=ctx.stop,
        )
    except ValueError as exc:
        raise RunFailed(f"training failed: {exc}") from exc
    checkpoint_key = f"{request.output_prefix}model.pt"
    upload_checkpoint(
        ctx.storage,
        checkpoint_key,
        lambda path: save_checkpoint(path, result, feature_config=feature_config),
    )
    model = result.build_model(ctx.device)
    frontend = LogMel(feature_config).to(ctx.device)
    rows: list[dict[str, Any]] = []
    scores = np.zeros(len(request.predict))
    for row, ref in enumerate(request.predict):
        if ctx.stop():
            raise Cancelled
        signal = load_item(ctx.storage, ref, sample_rate_hz=rate)
        probs = frame_probabilities_long(
            model, signal, frontend=frontend, window_s=config.window_s, hop_s=config.window_hop_s
        )
        found = decode_frames(probs, hop_s=feature_config.hop_s, decode=config.decode)
        # How unsure the detector is: per frame and label 1 - |2p - 1|, averaged.
        scores[row] = float(np.mean(1.0 - np.abs(2.0 * probs - 1.0))) if probs.size else 0.0
        rows.append(
            {
                "item_id": ref.item_id,
                "clip_scores": {},
                "segments": [
                    {
                        "start_s": round(float(seg.start_s), 3),
                        "end_s": round(float(seg.end_s), 3),
                        "label": request.label_names[seg.class_index],
                        "score": round(float(seg.score), 4),
                    }
                    for seg in found
                ],
                "uncertainty": round(float(scores[row]), 6),
            }
        )
        if (row + 1) % 50 == 0 or row + 1 == len(request.predict):
            ctx.report(
                TrainingProgress(phase="predicting", done=row + 1, total=len(request.predict))
            )
    # The detector has no clip embedding: a diverse queue falls back to uncertainty order.
    ranking = "uncertainty" if request.ranking == "diverse" else request.ranking
    ranks = _rank(ranking, _batch(request), scores, [])
    for index, entry in enumerate(rows):
        entry["rank"] = None if ranks is None else int(ranks[index])
    predictions_key = _write_predictions(request, ctx.storage, rows)
    counts: dict[str, int] = dict.fromkeys(request.label_names, 0)
    for item in request.train:
        for _, _, label in item.segments:
            counts[label] += 1
    return TrainingOutcome(
        run_id=request.run_id,
        attempt=request.attempt,
        state="succeeded",
        kind=result.architecture,
        checkpoint_key=checkpoint_key,
        metrics={
            "chosen": result.architecture,
            "held_out": None if result.metrics is None else result.metrics.to_json(),
            "n_train_recordings": result.n_train_recordings,
            "n_val_recordings": result.n_val_recordings,
            "epochs_run": result.epochs_run,
        },
        trained_on={
            "task": "segments",
            "items": len(request.train),
            "counts": counts,
            "annotation_ids": sorted(a for item in request.train for a in item.annotation_ids),
        },
        training_time_s=round(result.train_time_s, 3),
        device=str(ctx.device),
        predictions_key=predictions_key,
        predicted=len(rows),
    )


class _ProjectEmbedder:
    """The project's own embedding model, loaded once, embedding items through the cache."""

    def __init__(self, request: TrainingRequest, ctx: _Context) -> None:
        assert request.embedding is not None
        self.settings = request.embedding
        self.key = str(self.settings.get("key", ""))
        try:
            with ctx.storage.local_copy(self.key) as path:
                spec = EmbeddingModelSpec(
                    path=str(path),
                    sample_rate_hz=int(self.settings["sample_rate_hz"]),
                    window_s=float(self.settings["window_s"]),
                )
                self.model = load_embedding_model(spec, device=ctx.device)
        except (OSError, KeyError, ValueError, EmbeddingModelError) as exc:
            raise RunFailed(f"the embedding model {self.key!r} cannot be used: {exc}") from exc
        self.rate = spec.sample_rate_hz
        self.ctx = ctx
        self.cache = ctx.caches.embeddings(self.model)

    def describe(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.model.sha256, "dim": self.model.dim}

    def __call__(self, refs: list[AudioRef], phase: str) -> npt.NDArray[np.float32]:
        rows: list[npt.NDArray[np.float32]] = []
        for done, ref in enumerate(refs, start=1):
            if self.ctx.stop():
                raise Cancelled
            load = partial(load_item, self.ctx.storage, ref, sample_rate_hz=self.rate)
            try:
                if ref.sha256 and self.cache is not None:
                    rows.append(embed_items(self.model, [(ref.sha256, load)], cache=self.cache)[0])
                else:
                    rows.append(embed_items(self.model, [(f"item-{ref.item_id}", load)])[0])
            except EmbeddingModelError as exc:
                raise RunFailed(f"the embedding model failed on item {ref.item_id}: {exc}") from exc
            if done % 50 == 0 or done == len(refs):
                self.ctx.report(TrainingProgress(phase=phase, done=done, total=len(refs)))
        return np.stack(rows) if rows else np.zeros((0, self.model.dim), dtype=np.float32)


def _run_queue_order(request: TrainingRequest, ctx: _Context) -> TrainingOutcome:
    """A cold start: no labels, no training. The project's embedding model embeds every item
    to predict, and they are ranked so that the first ones represent the whole collection
    (``representative_order`` with ``settings["clusters"]`` groups)."""
    if request.embedding is None:
        raise RunFailed("ordering the queue needs the project's embedding model")
    if not request.predict:
        raise RunFailed("there are no unfinished items to order")
    try:
        clusters = int(request.settings.get("clusters", _batch(request)))
        seed = int(request.settings.get("seed", 0))
    except (TypeError, ValueError) as exc:
        raise RunFailed(f"invalid ordering settings: {exc}") from exc
    if clusters < 1:
        raise RunFailed(f"clusters must be at least 1, got {clusters}")
    started = time.perf_counter()
    embed = _ProjectEmbedder(request, ctx)
    x = embed(list(request.predict), "embedding")
    ctx.report(TrainingProgress(phase="ranking", done=0, total=len(request.predict)))
    ranks = _ranks_of(representative_order(x, clusters, seed=seed))
    rows = [
        {"item_id": ref.item_id, "rank": int(ranks[row])} for row, ref in enumerate(request.predict)
    ]
    ctx.report(TrainingProgress(phase="ranking", done=len(rows), total=len(rows)))
    return TrainingOutcome(
        run_id=request.run_id,
        attempt=request.attempt,
        state="succeeded",
        kind=QUEUE_ORDER_KIND,
        metrics={"embedding_model": embed.describe(), "clusters": min(clusters, len(rows))},
        training_time_s=round(time.perf_counter() - started, 3),
        device=str(ctx.device),
        predictions_key=_write_predictions(request, ctx.storage, rows),
        predicted=len(rows),
    )


def _run_embedding_head(request: TrainingRequest, ctx: _Context) -> TrainingOutcome:
    """The project's own embedding model embeds every item once; only a small head is trained
    on the pooled embeddings, which also drive the diverse ranking."""
    embed = _ProjectEmbedder(request, ctx)

    train_x = embed([item.audio for item in request.train], "embedding")
    labels = _targets(request)
    # the unlabelled items are embedded before training: the head also learns from them
    predict_x = embed(list(request.predict), "embedding")
    semi_supervised = bool(request.settings.get("semi_supervised", True))

    on_progress = training_progress(ctx.report)
    try:
        result = train_embedding_head(
            train_x,
            labels,
            label_names=request.label_names,
            multi_label=request.multi_label,
            config=HeadConfig(seed=int(request.settings.get("seed", 0))),
            embedding={"key": embed.key, "sha256": embed.model.sha256, **embed.settings},
            unlabelled=predict_x if semi_supervised else None,
            device=ctx.device,
            progress=on_progress,
            should_stop=ctx.stop,
        )
    except ValueError as exc:
        raise RunFailed(f"training failed: {exc}") from exc
    checkpoint_key = f"{request.output_prefix}head.pt"
    upload_checkpoint(
        ctx.storage,
        checkpoint_key,
        lambda path: torch.save(
            {"model": result.model_description, "state_dict": result.model_state}, path
        ),
    )
    head = result.build_model(ctx.device)
    probs = (
        predict_embeddings(head, predict_x)  # type: ignore[arg-type]
        if len(request.predict)
        else np.zeros((0, len(request.label_names)), dtype=np.float32)
    )
    rows = _clip_rows(request, probs, list(predict_x))
    predictions_key = _write_predictions(request, ctx.storage, rows)
    return TrainingOutcome(
        run_id=request.run_id,
        attempt=request.attempt,
        state="succeeded",
        kind=result.architecture,
        checkpoint_key=checkpoint_key,
        metrics={
            "chosen": result.architecture,
            "held_out": None if result.metrics is None else result.metrics.to_json(),
            "embedding_model": embed.describe(),
            "n_train": result.n_train,
            "n_val": result.n_val,
            "n_pseudo": result.n_pseudo,
            "epochs_run": result.epochs_run,
        },
        trained_on=_trained_on(request),
        training_time_s=round(result.train_time_s, 3),
        device=str(ctx.device),
        predictions_key=predictions_key,
        predicted=len(rows),
    )

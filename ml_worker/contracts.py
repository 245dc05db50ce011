"""What crosses the boundary between the backend and the ML worker.

Frozen dataclasses of plain values and the names of tasks and queues. The backend imports
nothing else from ``ml_worker``; this module imports nothing outside the standard library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

QUEUE_ML = "ml"
# The backend's own worker; the ML worker sends its reports there.
QUEUE_DEFAULT = "default"
# Every ML task name starts with this; both Celery apps route it to QUEUE_ML.
TASK_PREFIX = "earmark.ml."
TASK_PING = f"{TASK_PREFIX}ping"


@dataclass(frozen=True)
class WorkerInfo:
    """What an ML worker runs on, as reported by ``TASK_PING``."""

    device: str  # "cuda:0" or "cpu"
    torch_version: str
    cpu_threads: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerInfo:
        return cls(
            device=str(data["device"]),
            torch_version=str(data["torch_version"]),
            cpu_threads=int(data["cpu_threads"]),
        )


# --- Training and prediction -------------------------------------------------------------
#
# The backend writes a TrainingRequest as JSON into storage and sends TASK_TRAIN with
# (run_id, attempt, request_key): messages stay small whatever the project size, and audio is
# named by storage key, never carried. The worker reports with tasks that the backend's default
# worker runs: TASK_TRAINING_PROGRESS (run_id, attempt, progress) while it works and
# TASK_TRAINING_FINISHED (run_id, attempt, outcome_key) once, after writing a TrainingOutcome
# (and the predictions it made, as JSON Lines) into storage under the request's output prefix.
# A run is cancelled by writing ``cancel_key`` into storage; the worker polls it.

TASK_TRAIN = f"{TASK_PREFIX}train"
TASK_TRAINING_PROGRESS = "earmark.predictions.training_progress"
TASK_TRAINING_FINISHED = "earmark.predictions.training_finished"

UNCERTAINTY_MEASURES = ("least_confidence", "margin", "entropy")
TASKS = ("clip", "segments")
RANKINGS = ("none", "uncertainty", "diverse", "representative")
# A "representative" request orders a project's queue before it has any model (a cold start):
# ``train`` is empty, ``embedding`` names the project's embedding model, and the worker only
# embeds the ``predict`` items and ranks them (``ml_worker.inference.representative_order``,
# ``settings["clusters"]`` groups); its outcome has kind QUEUE_ORDER_KIND, no checkpoint, and
# prediction rows of ``{"item_id", "rank"}`` only.
QUEUE_ORDER_KIND = "queue_order"


@dataclass(frozen=True)
class AudioRef:
    """Where the worker reads one item's audio: a key in Earmark's storage, or for items
    registered in place an absolute ``path`` (server folder) or a pre-signed ``url`` (S3)."""

    item_id: int
    key: str = ""
    path: str = ""
    # The audio's content hash when known: the worker's feature cache is keyed by it, so
    # changed audio never reads old features.
    sha256: str = ""
    # For items read in place from an S3-compatible bucket: a pre-signed, expiring GET URL
    # (the worker never holds the bucket's credentials).
    url: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "key": self.key,
            "path": self.path,
            "sha256": self.sha256,
            "url": self.url,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AudioRef:
        return cls(
            item_id=int(data["item_id"]),
            key=str(data.get("key", "")),
            path=str(data.get("path", "")),
            sha256=str(data.get("sha256") or ""),
            url=str(data.get("url") or ""),
        )


@dataclass(frozen=True)
class TrainingItem:
    """A labelled item: ``labels`` are names from ``TrainingRequest.label_names`` (one for a
    single-choice group, any number for a multi-choice group)."""

    audio: AudioRef
    labels: tuple[str, ...]
    annotation_ids: tuple[int, ...] = ()
    # For the "segments" task: (start_s, end_s, label) of every labelled event in the item.
    segments: tuple[tuple[float, float, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "audio": self.audio.to_json(),
            "labels": list(self.labels),
            "annotation_ids": list(self.annotation_ids),
            "segments": [list(s) for s in self.segments],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingItem:
        return cls(
            audio=AudioRef.from_json(data["audio"]),
            labels=tuple(str(x) for x in data["labels"]),
            annotation_ids=tuple(int(x) for x in data.get("annotation_ids", ())),
            segments=tuple(
                (float(a), float(b), str(label)) for a, b, label in data.get("segments", ())
            ),
        )


@dataclass(frozen=True)
class TrainingRequest:
    """Everything one training run needs, as plain values.

    ``group``: the clip label group the classifier learns (``multi_label`` for a multi-choice
    group). ``predict``: the unfinished items to predict after training. ``ranking``: how to
    order them for the labelling queue ("none", "uncertainty", "diverse" = uncertainty with
    diversity on the model's embeddings, using ``uncertainty`` as the measure; or
    "representative": no training, see ``RANKINGS``).
    ``settings``: training hyperparameters (``TrainConfig`` fields plus ``window_s``).
    ``task``: "clip" (a clip classifier for ``group``) or "segments" (a sound event detector
    for the segment labels ``label_names``, from each item's ``segments``).
    """

    run_id: int
    attempt: int
    project_id: int
    group: str
    label_names: tuple[str, ...]
    multi_label: bool
    train: tuple[TrainingItem, ...]
    predict: tuple[AudioRef, ...]
    ranking: str
    uncertainty: str
    settings: dict[str, Any]
    output_prefix: str
    cancel_key: str
    task: str = "clip"
    # Bring your own embedding model (clip task): {"key": storage key of a TorchScript or
    # ONNX file, "sample_rate_hz", "window_s"}; only a small head is then trained.
    embedding: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "embedding": None if self.embedding is None else dict(self.embedding),
            "run_id": self.run_id,
            "attempt": self.attempt,
            "project_id": self.project_id,
            "group": self.group,
            "label_names": list(self.label_names),
            "multi_label": self.multi_label,
            "train": [t.to_json() for t in self.train],
            "predict": [p.to_json() for p in self.predict],
            "ranking": self.ranking,
            "uncertainty": self.uncertainty,
            "settings": dict(self.settings),
            "output_prefix": self.output_prefix,
            "cancel_key": self.cancel_key,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingRequest:
        ranking = str(data.get("ranking", "none"))
        uncertainty = str(data.get("uncertainty", "least_confidence"))
        if ranking not in RANKINGS:
            raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
        if uncertainty not in UNCERTAINTY_MEASURES:
            raise ValueError(
                f"uncertainty must be one of {UNCERTAINTY_MEASURES}, got {uncertainty!r}"
            )
        task = str(data.get("task", "clip"))
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        embedding = data.get("embedding")
        return cls(
            task=task,
            embedding=None if embedding is None else dict(embedding),
            run_id=int(data["run_id"]),
            attempt=int(data["attempt"]),
            project_id=int(data["project_id"]),
            group=str(data["group"]),
            label_names=tuple(str(x) for x in data["label_names"]),
            multi_label=bool(data["multi_label"]),
            train=tuple(TrainingItem.from_json(t) for t in data["train"]),
            predict=tuple(AudioRef.from_json(p) for p in data["predict"]),
            ranking=ranking,
            uncertainty=uncertainty,
            settings=dict(data.get("settings", {})),
            output_prefix=str(data["output_prefix"]),
            cancel_key=str(data["cancel_key"]),
        )


@dataclass(frozen=True)
class TrainingProgress:
    """A progress report: phase is "loading", "features", "training", "predicting" or "ranking"."""

    phase: str
    epoch: int = 0
    epochs: int = 0
    loss: float | None = None
    eta_s: float | None = None
    done: int = 0
    total: int = 0
    model: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingProgress:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class TrainingOutcome:
    """How a run ended. On success: the chosen model (``kind``, ``checkpoint_key``, held-out
    ``metrics``, ``trained_on`` counts), and ``predictions_key``: JSON Lines, one object per
    predicted item ``{"item_id", "clip_scores": {group: {label: p}}, "uncertainty", "rank"}``
    (rank 1 = ask first; null when the request asked for no ranking)."""

    run_id: int
    attempt: int
    state: str  # "succeeded", "failed" or "cancelled"
    error: str = ""
    kind: str = ""
    checkpoint_key: str = ""
    metrics: dict[str, Any] | None = None
    trained_on: dict[str, Any] | None = None
    training_time_s: float = 0.0
    device: str = ""
    predictions_key: str = ""
    predicted: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingOutcome:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

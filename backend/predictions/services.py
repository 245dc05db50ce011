"""Training runs, model versions and predictions: every write of the ML loop.

The flow: ``training_start`` creates a queued run and asks for ``TASK_TRAINING_DISPATCH`` after
commit; ``training_dispatch`` writes a ``TrainingRequest`` into storage and sends the ML worker
``TASK_TRAIN``; the worker reports through ``training_progress`` and ``training_finish`` (tasks
named in ``ml_worker.contracts``), which store the model version, the predictions and the new
queue order. ``training_reap`` resends or fails runs whose worker went silent.

A queue order run (``queue_order_start``, purpose ORDER) takes the same path with a
"representative" request: no labels, no model; the worker embeds the unfinished items with the
project's embedding model and ranks them so the first ones asked cover the collection (a cold
start before the first model). Its outcome carries ranks only, so it makes no model version.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from celery import current_app
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from backend.audio.models import AudioItem
from backend.common.exceptions import Conflict, ValidationFailed
from backend.common.queue import enqueue_on_commit
from backend.predictions.models import ModelVersion, Prediction, TrainingRun
from backend.predictions.selectors import (
    RANKED_POLICIES,
    LabelledItem,
    items_to_predict,
    segment_label_count,
    segment_training_items,
    submitted_count,
    training_items,
    training_label_count,
    training_run_active,
)
from backend.projects.models import Project
from backend.projects.schema import LabelSchema
from backend.projects.training import TrainingSettings, embedding_models_prefix
from backend.users.models import User
from ml_worker.contracts import (
    QUEUE_ORDER_KIND,
    TASK_TRAIN,
    TrainingItem,
    TrainingOutcome,
    TrainingProgress,
    TrainingRequest,
)

logger = logging.getLogger(__name__)

TASK_TRAINING_DISPATCH = "earmark.predictions.dispatch"
TASK_TRAINING_REAP = "earmark.predictions.reap"

# A running run whose worker has not reported for this long is resent (once) or failed.
STALE_AFTER_S = 600
MAX_ATTEMPTS = 2
# Fewest labelled items a run starts with.
MIN_ITEMS = 4
PREDICTION_BATCH = 1000

ACTIVE = [TrainingRun.State.QUEUED, TrainingRun.State.RUNNING]


def run_name(run: TrainingRun) -> str:
    """How messages name a run: "training run" or "queue order run"."""
    return "queue order run" if run.purpose == TrainingRun.Purpose.ORDER else "training run"


def run_prefix(run: TrainingRun) -> str:
    return f"projects/{run.project_id}/training/run-{run.pk}/attempt-{run.attempt}/"


def _settings(project: Project) -> tuple[TrainingSettings, LabelSchema]:
    schema = LabelSchema.parse(project.label_schema)
    settings = TrainingSettings.parse(
        project.training_settings, schema=schema, project_id=project.pk
    )
    return settings, schema


def _segment_items(project: Project, schema: LabelSchema) -> list[LabelledItem]:
    return segment_training_items(project=project, labels=schema.segment_label_names)


def _check_trainable(project: Project) -> None:
    settings, schema = _settings(project)
    # Counting stops once there is enough: this runs on the request, not in the worker.
    if settings.target_task(schema) == "segments":
        count, with_events = segment_label_count(
            project=project, labels=schema.segment_label_names, enough=MIN_ITEMS
        )
        if count < MIN_ITEMS or with_events == 0:
            raise ValidationFailed(
                f"not enough labels to train a detector yet: {count} labelled items, "
                f"{with_events} with segments; needs at least {MIN_ITEMS} items and segments",
                fields={"labels": [f"needs at least {MIN_ITEMS} items with labelled segments"]},
            )
        return
    group = settings.target_group(schema)
    if group is None:
        raise ValidationFailed(
            "the label schema has no clip label group to train a classifier on",
            fields={"label_schema.clip_groups": ["add a clip label group"]},
        )
    count, labels = training_label_count(project=project, group=group, enough=MIN_ITEMS)
    if count < MIN_ITEMS or (group.choice == "single" and len(labels) < 2):
        raise ValidationFailed(
            f"not enough labels to train on yet: {count} labelled items in {group.name!r} "
            f"using {len(labels)} labels; needs at least {MIN_ITEMS} items and 2 labels",
            fields={"labels": [f"needs at least {MIN_ITEMS} labelled items of 2 labels"]},
        )


@transaction.atomic
def training_start(
    *, project: Project, user: User | None, trigger: str = TrainingRun.Trigger.MANUAL
) -> TrainingRun:
    """Queue a training run. Conflict when one is already queued or running."""
    _check_trainable(project)
    run = TrainingRun(
        project=project,
        requested_by=user,
        trigger=trigger,
        submitted_at_request=submitted_count(project=project),
        progress={"phase": "queued"},
    )
    return _queue(run)


def _queue(run: TrainingRun) -> TrainingRun:
    """Save a new run in the project's one active slot and dispatch it after commit."""
    active = training_run_active(project=run.project)
    if active is not None:
        raise Conflict(f"{run_name(active)} {active.pk} is already {active.state} for this project")
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError as exc:  # another request won the race for the one active slot
        raise Conflict("a run is already queued or running for this project") from exc
    enqueue_on_commit(TASK_TRAINING_DISPATCH, run.pk)
    return run


def _check_orderable(project: Project) -> None:
    """Why a project's queue cannot be ordered by its embeddings, as ``ValidationFailed``."""
    if project.queue_policy not in RANKED_POLICIES:
        raise ValidationFailed(
            f"the '{project.queue_policy}' queue does not follow ranks; set queue_policy to "
            "'uncertainty' or 'diverse' to order it by embeddings",
            fields={"queue_policy": ["the sequential and random queues do not follow ranks"]},
        )
    settings, schema = _settings(project)
    if settings.embedding_model is None:
        raise ValidationFailed(
            "the project has no embedding model to order its queue by; upload one first",
            fields={"training_settings.embedding_model": ["upload one first"]},
        )
    if settings.target_task(schema) == "segments":
        raise ValidationFailed(
            "only clip projects can order their queue by embeddings, not a segments project",
            fields={"training_settings.task": ["ordering by embeddings needs the clip task"]},
        )


@transaction.atomic
def queue_order_start(*, project: Project, user: User | None) -> TrainingRun:
    """Queue a run that orders the unfinished items by the project's embedding model, so the
    first items to label are representative of the collection (a cold start: no labels, no
    model). It takes the project's one active run slot: Conflict while any run is active."""
    _check_orderable(project)
    run = TrainingRun(
        project=project,
        requested_by=user,
        purpose=TrainingRun.Purpose.ORDER,
        submitted_at_request=submitted_count(project=project),
        progress={"phase": "queued"},
    )
    return _queue(run)


def training_dispatch(*, run_id: int) -> None:
    """Write the run's request into storage and hand it to the ML worker."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().select_related("project").get(pk=run_id)
        if run.state != TrainingRun.State.QUEUED:
            return
        if run.purpose == TrainingRun.Purpose.ORDER:
            request = _order_request(run)
        else:
            request = _training_request(run)
        if request is None:
            return
        key = f"{run_prefix(run)}request.json"
        _write(key, json.dumps(request.to_json()).encode())
        run.progress = {"phase": "waiting for the ML worker"}
        run.save(update_fields=["progress", "updated_at"])
    send_to_ml_worker(run.pk, run.attempt, key)


def _training_request(run: TrainingRun) -> TrainingRequest | None:
    """The request of a training run; None after failing the run for want of labels."""
    project = run.project
    settings, schema = _settings(project)
    task = settings.target_task(schema)
    group = settings.target_group(schema)
    if task == "segments":
        items = _segment_items(project, schema)
        label_names = tuple(label.name for label in schema.segment_labels)
    else:
        items = training_items(project=project, group=group) if group else []
        label_names = group.labels if group else ()
    if len(items) < MIN_ITEMS or not label_names:
        _end(run, TrainingRun.State.FAILED, "not enough labelled items to train on")
        return None
    return TrainingRequest(
        task=task,
        run_id=run.pk,
        attempt=run.attempt,
        project_id=project.pk,
        group=group.name if group and task == "clip" else "",
        label_names=label_names,
        multi_label=task == "segments" or (group is not None and group.choice == "multi"),
        train=tuple(
            TrainingItem(
                audio=i.ref,
                labels=i.labels,
                annotation_ids=i.annotation_ids,
                segments=i.segments,
            )
            for i in items
        ),
        predict=tuple(items_to_predict(project=project)),
        ranking=_ranking(project),
        uncertainty=settings.uncertainty,
        settings={
            "epochs": settings.epochs,
            "seed": settings.seed,
            "window_s": settings.window_s,
            "batch_size_al": settings.batch_size_al,
            "semi_supervised": settings.semi_supervised,
        },
        output_prefix=run_prefix(run),
        cancel_key=f"{run_prefix(run)}cancel",
        embedding=settings.embedding_model if task == "clip" else None,
    )


def _order_request(run: TrainingRun) -> TrainingRequest | None:
    """The "representative" request of a queue order run; None after failing the run when
    there is nothing to order (or the embedding model was removed since it was queued)."""
    project = run.project
    settings, _ = _settings(project)
    if settings.embedding_model is None:
        _end(run, TrainingRun.State.FAILED, "the project no longer has an embedding model")
        return None
    predict = tuple(items_to_predict(project=project))
    if not predict:
        _end(run, TrainingRun.State.FAILED, "no unfinished items to order")
        return None
    return TrainingRequest(
        task="clip",
        run_id=run.pk,
        attempt=run.attempt,
        project_id=project.pk,
        group="",
        label_names=(),
        multi_label=False,
        train=(),
        predict=predict,
        ranking="representative",
        uncertainty=settings.uncertainty,
        settings={
            "seed": settings.seed,
            "batch_size_al": settings.batch_size_al,
            # The labels asked before the first automatic training: one per cluster.
            "clusters": max(settings.batch_size_al, settings.auto_train_after),
        },
        output_prefix=run_prefix(run),
        cancel_key=f"{run_prefix(run)}cancel",
        embedding=settings.embedding_model,
    )


def send_to_ml_worker(run_id: int, attempt: int, request_key: str) -> None:
    """Hand a written request to the ML worker (queue "ml", routed by the task's name)."""
    current_app.send_task(TASK_TRAIN, args=[run_id, attempt, request_key])


def _ranking(project: Project) -> str:
    return {
        Project.QueuePolicy.UNCERTAINTY: "uncertainty",
        Project.QueuePolicy.DIVERSE: "diverse",
    }.get(Project.QueuePolicy(project.queue_policy), "none")


def _write(key: str, data: bytes) -> None:
    if default_storage.exists(key):
        default_storage.delete(key)
    saved = default_storage.save(key, ContentFile(data))
    if saved != key:  # pragma: no cover - storage renamed it: refuse rather than lose track
        raise RuntimeError(f"storage saved {key!r} as {saved!r}")


def _current(run_id: int, attempt: int) -> TrainingRun | None:
    """The run, locked, if this report belongs to its live attempt; else None (ignored)."""
    run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.state not in ACTIVE or run.attempt != attempt:
        logger.info("ignoring a report for run %s attempt %s", run_id, attempt)
        return None
    return run


@transaction.atomic
def training_progress(*, run_id: int, attempt: int, progress: dict[str, Any]) -> None:
    run = _current(run_id, attempt)
    if run is None:
        return
    now = timezone.now()
    run.progress = TrainingProgress.from_json(progress).to_json()
    run.heartbeat_at = now
    fields = ["progress", "heartbeat_at", "updated_at"]
    if run.state == TrainingRun.State.QUEUED:
        run.state = TrainingRun.State.RUNNING
        run.started_at = run.started_at or now
        fields += ["state", "started_at"]
    run.save(update_fields=fields)


def _end(run: TrainingRun, state: str, error: str = "") -> None:
    run.state = state
    run.error = error
    run.finished_at = timezone.now()
    run.progress = {**run.progress, "phase": state}
    run.save(update_fields=["state", "error", "finished_at", "progress", "updated_at"])


@transaction.atomic
def training_finish(*, run_id: int, attempt: int, outcome_key: str) -> TrainingRun | None:
    """Store what a run produced: the model version, its predictions, the new queue order
    (a queue order run: only the queue order)."""
    run = _current(run_id, attempt)
    if run is None:
        return None
    try:
        with default_storage.open(outcome_key, "rb") as handle:
            outcome = TrainingOutcome.from_json(json.loads(handle.read()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _end(run, TrainingRun.State.FAILED, f"the worker's outcome could not be read: {exc}")
        return run
    if outcome.state != TrainingRun.State.SUCCEEDED:
        state = (
            TrainingRun.State.CANCELLED
            if outcome.state == "cancelled"
            else TrainingRun.State.FAILED
        )
        _end(run, state, outcome.error)
        return run
    if run.purpose == TrainingRun.Purpose.ORDER:
        return _finish_order(run, outcome)
    Project.objects.select_for_update().filter(pk=run.project_id).first()
    latest = ModelVersion.objects.filter(project_id=run.project_id).aggregate(v=Max("version"))
    version = ModelVersion.objects.create(
        project_id=run.project_id,
        version=(latest["v"] or 0) + 1,
        kind=outcome.kind,
        checkpoint_key=outcome.checkpoint_key,
        trained_on=outcome.trained_on or {},
        metrics=outcome.metrics or {},
        training_time_s=outcome.training_time_s,
        device=outcome.device,
    )
    stored = _store_predictions(version, outcome.predictions_key)
    run.model_version = version
    run.metrics = {**(outcome.metrics or {}), "predicted": stored}
    run.save(update_fields=["model_version", "metrics", "updated_at"])
    _end(run, TrainingRun.State.SUCCEEDED)
    return run


def _read_jsonl(key: str) -> Iterator[dict[str, Any]]:
    with default_storage.open(key, "rb") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _finish_order(run: TrainingRun, outcome: TrainingOutcome) -> TrainingRun:
    """A queue order run succeeded: apply its ranks; no model version, no predictions."""
    if outcome.kind != QUEUE_ORDER_KIND:
        _end(
            run,
            TrainingRun.State.FAILED,
            f"the worker answered a queue order run with a {outcome.kind!r} outcome",
        )
        return run
    ordered = 0
    for rows in _project_batches(run.project_id, outcome.predictions_key):
        ordered += _write_ranks(rows)
    run.metrics = {**(outcome.metrics or {}), "ordered": ordered}
    run.save(update_fields=["metrics", "updated_at"])
    _end(run, TrainingRun.State.SUCCEEDED)
    return run


def _project_batches(project_id: int, key: str) -> Iterator[list[dict[str, Any]]]:
    """The rows of a JSON Lines file in batches of ``PREDICTION_BATCH``, without rows naming
    items that are not in the project (nothing when ``key`` is empty)."""
    if not key:
        return
    project_items = AudioItem.objects.filter(project_id=project_id)

    def known(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = set(
            project_items.filter(pk__in=[r["item_id"] for r in batch]).values_list("pk", flat=True)
        )
        return [r for r in batch if r["item_id"] in ids]

    batch: list[dict[str, Any]] = []
    for row in _read_jsonl(key):
        batch.append(row)
        if len(batch) >= PREDICTION_BATCH:
            yield known(batch)
            batch = []
    if batch:
        yield known(batch)


def _write_ranks(rows: list[dict[str, Any]]) -> int:
    """Write each ranked row's queue position (rank 1 = asked first). Returns rows ranked."""
    ranked = [
        AudioItem(pk=r["item_id"], queue_rank=float(r["rank"]))
        for r in rows
        if r.get("rank") is not None
    ]
    if ranked:
        AudioItem.objects.bulk_update(ranked, ["queue_rank"])
    return len(ranked)


def _store_predictions(version: ModelVersion, key: str) -> int:
    """Bulk-insert the predictions and write each ranked item's queue position."""
    stored = 0
    for rows in _project_batches(version.project_id, key):
        Prediction.objects.bulk_create(
            [
                Prediction(
                    item_id=r["item_id"],
                    model_version=version,
                    clip_scores=r.get("clip_scores") or {},
                    segments=r.get("segments") or [],
                    uncertainty=r.get("uncertainty"),
                )
                for r in rows
            ]
        )
        _write_ranks(rows)
        stored += len(rows)
    return stored


@transaction.atomic
def training_cancel(*, run: TrainingRun) -> TrainingRun:
    """Cancel a queued or running run at once; a running worker sees the marker and stops."""
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if run.state not in ACTIVE:
        raise Conflict(f"training run {run.pk} is already {run.state}")
    _write(f"{run_prefix(run)}cancel", b"cancelled")
    _end(run, TrainingRun.State.CANCELLED, "cancelled on request")
    return run


def training_reap(*, stale_after_s: float = STALE_AFTER_S) -> int:
    """Resend (once) or fail runs whose worker stopped reporting. Returns runs touched."""
    cutoff = timezone.now() - timedelta(seconds=stale_after_s)
    touched = 0
    stale = TrainingRun.objects.filter(
        state=TrainingRun.State.RUNNING, heartbeat_at__lt=cutoff
    ).values_list("pk", flat=True)
    for run_id in list(stale):
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().get(pk=run_id)
            if run.state != TrainingRun.State.RUNNING or (
                run.heartbeat_at and run.heartbeat_at >= cutoff
            ):
                continue
            touched += 1
            if run.attempt >= MAX_ATTEMPTS:
                _end(
                    run,
                    TrainingRun.State.FAILED,
                    f"the ML worker stopped reporting (attempt {run.attempt} of {MAX_ATTEMPTS})",
                )
                continue
            run.attempt += 1
            run.state = TrainingRun.State.QUEUED
            run.heartbeat_at = None
            run.progress = {"phase": "queued", "retry_of_attempt": run.attempt - 1}
            run.save(update_fields=["attempt", "state", "heartbeat_at", "progress", "updated_at"])
            enqueue_on_commit(TASK_TRAINING_DISPATCH, run.pk)
    return touched


def training_maybe_start(*, project_id: int) -> TrainingRun | None:
    """Start a run when enough new annotations arrived (``auto_train_after``); debounced:
    nothing while a run is active, and counts only submissions since the last run began."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    settings, _ = _settings(project)
    if settings.auto_train_after <= 0 or training_run_active(project=project) is not None:
        return None
    # Counted from the last training run: a queue order run learns from no labels.
    last = (
        TrainingRun.objects.filter(project=project, purpose=TrainingRun.Purpose.TRAIN)
        .order_by("-id")
        .first()
    )
    since = last.submitted_at_request if last else 0
    if submitted_count(project=project) - since < settings.auto_train_after:
        return None
    try:
        return training_start(project=project, user=None, trigger=TrainingRun.Trigger.AUTO)
    except (ValidationFailed, Conflict) as exc:
        logger.info("auto-training of project %s not started: %s", project_id, exc)
        return None


MODEL_SUFFIXES = (".pt", ".pth", ".onnx")
MAX_MODEL_BYTES = 512 * 1024**2


@transaction.atomic
def embedding_model_set(
    *, project: Project, name: str, data: Any, size: int, sample_rate_hz: int, window_s: float
) -> dict[str, Any]:
    """Store a TorchScript or ONNX embedding model and make the project train heads on it.

    The backend cannot run the model (no torch here); the ML worker checks it when a run
    loads it and fails the run with the reason if it is unusable.
    """
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if suffix not in MODEL_SUFFIXES:
        raise ValidationFailed(
            f"{name!r} is not a TorchScript (.pt, .pth) or ONNX (.onnx) file",
            fields={"file": [f"must end in one of {list(MODEL_SUFFIXES)}"]},
        )
    if size > MAX_MODEL_BYTES or size == 0:
        raise ValidationFailed(
            f"the model file must be 1 byte to {MAX_MODEL_BYTES // 1024**2} MB, got {size} bytes",
            fields={"file": ["empty or too large"]},
        )
    digest = hashlib.sha256()
    for chunk in data.chunks():
        digest.update(chunk)
    key = f"{embedding_models_prefix(project.pk)}{digest.hexdigest()[:20]}{suffix}"
    model = {"key": key, "sample_rate_hz": sample_rate_hz, "window_s": window_s}
    settings = {**project.training_settings, "embedding_model": model}
    TrainingSettings.parse(
        settings, schema=LabelSchema.parse(project.label_schema), project_id=project.pk
    )
    data.seek(0)
    if not default_storage.exists(key):
        default_storage.save(key, data)
    project.training_settings = settings
    project.save(update_fields=["training_settings", "updated_at"])
    return model


@transaction.atomic
def embedding_model_clear(*, project: Project) -> None:
    """Go back to the built-in models (the uploaded files stay until the project is deleted)."""
    settings = {k: v for k, v in project.training_settings.items() if k != "embedding_model"}
    project.training_settings = settings
    project.save(update_fields=["training_settings", "updated_at"])

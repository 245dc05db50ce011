"""The active-learning loop through the real broker and real worker processes.

Labels are submitted -> a run starts by itself -> the ML worker trains and predicts -> the
predictions are stored -> the labelling queue follows the model's uncertainty. And a worker
killed mid-run: the reaper sends the run again and it still ends.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.conf import settings

from backend.annotations.selectors import next_item_for_user
from backend.annotations.services import annotation_start, annotation_submit
from backend.audio.models import AudioItem
from backend.predictions.models import Prediction, TrainingRun
from backend.predictions.services import training_reap, training_start
from backend.projects.models import Membership, Project
from tests.factories import AudioItemFactory, MembershipFactory, ProjectFactory, UserFactory
from tests.worker import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RATE = 16000
SCHEMA = {"clip_groups": [{"name": "pitch", "choice": "single", "labels": ["low", "high"]}]}


def _audio(key: str, *, freqs: tuple[float, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(round(1.5 * RATE)) / RATE
    signal_ = sum(0.3 * np.sin(2 * np.pi * f * t) for f in freqs)
    signal_ = signal_ + 0.02 * rng.standard_normal(t.size)
    path = Path(settings.MEDIA_ROOT) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(signal_, dtype=np.float32), RATE, subtype="PCM_16")


def _project(**training: object) -> tuple[Project, list[AudioItem]]:
    project = ProjectFactory(
        label_schema=SCHEMA,
        queue_policy=Project.QueuePolicy.UNCERTAINTY,
        training_settings={"epochs": 3, "window_s": 1.0, **training},
    )
    items = []
    # 8 clear tones to label, then 3 clear unlabelled ones and 3 ambiguous ones (both tones)
    kinds = ["low", "high"] * 4 + ["low", "high", "low"] + ["both"] * 3
    for n, kind in enumerate(kinds):
        item = AudioItemFactory(project=project, storage_key=f"ml-loop/{project.pk}/{n}.wav")
        freqs = {"low": (300.0,), "high": (2500.0,), "both": (300.0, 2500.0)}[kind]
        _audio(item.storage_key, freqs=freqs, seed=n)
        items.append(item)
    return project, items


def _label(project: Project, items: list[AudioItem]) -> None:
    labeller = UserFactory()
    MembershipFactory(project=project, user=labeller, role=Membership.Role.ANNOTATOR)
    for n, item in enumerate(items):
        annotation, _ = annotation_start(
            item=item, annotator=labeller, clip_labels={"pitch": ["low" if n % 2 == 0 else "high"]}
        )
        annotation_submit(annotation_id=annotation.pk, user=labeller, version=annotation.version)


def _queue_order(project: Project, people: int) -> list[int]:
    """The items people asking one after another are given (each holds theirs)."""
    order = []
    for _ in range(people):
        user = UserFactory()
        MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
        item = next_item_for_user(project=project, user=user)
        assert item is not None
        annotation_start(item=item, annotator=user)
        order.append(item.pk)
    return order


def _wait_for(run_filter: dict, *, timeout_s: float, workers: list[WorkerProcess]) -> TrainingRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = TrainingRun.objects.filter(**run_filter).first()
        if run is not None:
            return run
        time.sleep(0.3)
    logs = "\n".join(w.log()[-2500:] for w in workers)
    states = list(TrainingRun.objects.values_list("id", "state", "attempt", "progress", "error"))
    raise AssertionError(f"no run matching {run_filter} after {timeout_s} s: {states}\n{logs}")


def test_submitted_labels_train_a_model_whose_predictions_reorder_the_queue(
    default_worker, ml_worker, not_eager
):
    project, items = _project(auto_train_after=8)
    unlabelled = items[8:]
    # when an annotator submits the eighth label, a run starts by itself and succeeds
    _label(project, items[:8])
    run = _wait_for(
        {"project": project, "state__in": ["succeeded", "failed"]},
        timeout_s=240,
        workers=[default_worker, ml_worker],
    )
    assert run.state == "succeeded", run.error
    assert run.trigger == "auto"
    assert run.model_version is not None
    assert "earmark.ml.train[" in ml_worker.log()
    # then every unfinished item has a prediction from the new model
    predictions = {p.item_id: p for p in Prediction.objects.filter(model_version=run.model_version)}
    assert set(predictions) == {i.pk for i in unlabelled}
    # and each item's queue rank is its place by uncertainty (before any model all ranks are
    # 0 and the queue is in upload order)
    by_uncertainty = sorted(unlabelled, key=lambda i: (-(predictions[i.pk].uncertainty or 0), i.pk))
    ranks = dict(AudioItem.objects.filter(pk__in=predictions).values_list("pk", "queue_rank"))
    assert [ranks[i.pk] for i in by_uncertainty] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    # so people are now given first what the model is least sure of
    order = _queue_order(project, len(unlabelled))
    assert order == [i.pk for i in by_uncertainty]


def _kill_tree(pid: int) -> None:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        _kill_tree(int(child))
    os.kill(pid, signal.SIGKILL)


def test_a_worker_killed_mid_run_is_reaped_and_the_run_still_ends(
    default_worker, ml_worker, not_eager
):
    # given a long run in progress on the ML worker
    project, items = _project(epochs=400)
    _label(project, items[:8])
    run = training_start(project=project, user=None)
    _wait_for({"pk": run.pk, "state": "running"}, timeout_s=120, workers=[ml_worker])
    # when the worker dies mid-run (no goodbye, no report)
    assert ml_worker.proc is not None
    _kill_tree(ml_worker.proc.pid)
    ml_worker.proc.wait()
    time.sleep(3)
    # then the reaper finds it silent and sends it again, as attempt 2
    project.training_settings = {**project.training_settings, "epochs": 2}
    project.save()
    assert training_reap(stale_after_s=2) == 1
    run.refresh_from_db()
    assert (run.state, run.attempt) == ("queued", 2)
    # and a new worker finishes it
    ml_worker.start()
    done = _wait_for(
        {"pk": run.pk, "state__in": ["succeeded", "failed"]},
        timeout_s=240,
        workers=[default_worker, ml_worker],
    )
    assert done.state == "succeeded", done.error
    assert done.attempt == 2

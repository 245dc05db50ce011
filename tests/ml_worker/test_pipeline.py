"""The worker's training pipeline end to end on generated audio in a local storage folder."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ml_worker.contracts import (
    AudioRef,
    TrainingItem,
    TrainingOutcome,
    TrainingProgress,
    TrainingRequest,
)
from ml_worker.pipeline import run_training
from ml_worker.storage import LocalStorage

RATE = 16000


def _write(root: Path, key: str, *, kind: str, seed: int, duration_s: float = 1.5) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration_s * RATE)) / RATE
    if kind == "low":
        signal = 0.4 * np.sin(2 * np.pi * 300 * (1 + 0.03 * rng.standard_normal()) * t)
    else:
        signal = 0.4 * np.sin(2 * np.pi * 2500 * (1 + 0.03 * rng.standard_normal()) * t)
    signal = signal + 0.02 * rng.standard_normal(t.size)
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, signal.astype(np.float32), RATE, subtype="PCM_16")


def _request(
    root: Path, *, n_train: int = 12, n_predict: int = 6, **over: object
) -> TrainingRequest:
    train = []
    for i in range(n_train):
        kind = "low" if i % 2 == 0 else "high"
        _write(root, f"a/train{i}.wav", kind=kind, seed=i)
        train.append(
            TrainingItem(
                audio=AudioRef(item_id=i + 1, key=f"a/train{i}.wav"),
                labels=(kind,),
                annotation_ids=(100 + i,),
            )
        )
    predict = []
    for j in range(n_predict):
        _write(root, f"a/new{j}.wav", kind="low" if j % 2 else "high", seed=50 + j)
        predict.append(AudioRef(item_id=1000 + j, key=f"a/new{j}.wav"))
    fields: dict[str, object] = {
        "run_id": 7,
        "attempt": 1,
        "project_id": 3,
        "group": "pitch",
        "label_names": ("low", "high"),
        "multi_label": False,
        "train": tuple(train),
        "predict": tuple(predict),
        "ranking": "diverse",
        "uncertainty": "margin",
        "settings": {"epochs": 3, "window_s": 1.0, "batch_size_al": 2},
        "output_prefix": "runs/7/",
        "cancel_key": "runs/7/cancel",
    }
    fields.update(over)
    return TrainingRequest(**fields)  # type: ignore[arg-type]


def test_a_run_trains_predicts_and_ranks_every_unfinished_item(tmp_path):
    storage = LocalStorage(tmp_path)
    request = _request(tmp_path)
    # the request survives its JSON trip, as it does through storage
    request = TrainingRequest.from_json(json.loads(json.dumps(request.to_json())))
    reports: list[TrainingProgress] = []
    outcome = run_training(request, storage, report=reports.append)
    assert outcome.state == "succeeded", outcome.error
    assert outcome.kind in {"ClipCNN", "MfccLogReg"}
    assert outcome.metrics is not None
    assert outcome.metrics["held_out"]["accuracy"] >= 0.5
    assert outcome.trained_on == {
        "group": "pitch",
        "items": 12,
        "counts": {"low": 6, "high": 6},
        "annotation_ids": list(range(100, 112)),
    }
    assert storage.exists(outcome.checkpoint_key)
    rows = [json.loads(line) for line in storage.read_bytes(outcome.predictions_key).splitlines()]
    assert [r["item_id"] for r in rows] == list(range(1000, 1006))
    assert sorted(r["rank"] for r in rows) == list(range(1, 7))
    for row in rows:
        scores = row["clip_scores"]["pitch"]
        assert set(scores) == {"low", "high"}
        assert abs(sum(scores.values()) - 1) < 1e-3
        assert 0 <= row["uncertainty"] <= 1
    # the tones are easy: the model gets the unseen items right
    right = sum(
        max(r["clip_scores"]["pitch"], key=r["clip_scores"]["pitch"].get)
        == ("low" if (r["item_id"] - 1000) % 2 else "high")
        for r in rows
    )
    assert right >= 5
    phases = [r.phase for r in reports]
    assert phases[0] == "loading"
    assert "training" in phases
    assert phases[-1] == "ranking"


def test_uncertainty_ranking_puts_the_least_certain_first(tmp_path):
    storage = LocalStorage(tmp_path)
    outcome = run_training(
        _request(tmp_path, ranking="uncertainty"), storage, report=lambda _: None
    )
    rows = [json.loads(line) for line in storage.read_bytes(outcome.predictions_key).splitlines()]
    by_rank = sorted(rows, key=lambda r: r["rank"])
    assert [r["uncertainty"] for r in by_rank] == sorted(
        (r["uncertainty"] for r in rows), reverse=True
    )


def test_a_cancel_marker_stops_the_run(tmp_path):
    storage = LocalStorage(tmp_path)
    request = _request(tmp_path)
    storage.write_bytes(request.cancel_key, b"x")
    outcome = run_training(request, storage, report=lambda _: None)
    assert outcome == TrainingOutcome(run_id=7, attempt=1, state="cancelled")


def test_missing_audio_fails_the_run_naming_the_item(tmp_path):
    storage = LocalStorage(tmp_path)
    request = _request(tmp_path)
    (tmp_path / "a/train3.wav").unlink()
    outcome = run_training(request, storage, report=lambda _: None)
    assert outcome.state == "failed"
    assert "item 4" in outcome.error


def test_one_label_only_fails_with_a_readable_error(tmp_path):
    storage = LocalStorage(tmp_path)
    request = _request(tmp_path)
    same = tuple(
        TrainingItem(audio=t.audio, labels=("low",), annotation_ids=t.annotation_ids)
        for t in request.train
    )
    outcome = run_training(
        TrainingRequest(**{**request.__dict__, "train": same}), storage, report=lambda _: None
    )
    assert outcome.state == "failed"
    assert "at least 2 labels" in outcome.error


def test_bad_settings_fail_the_run(tmp_path):
    storage = LocalStorage(tmp_path)
    request = _request(tmp_path, settings={"epochs": 0})
    outcome = run_training(request, storage, report=lambda _: None)
    assert outcome.state == "failed"
    assert "epochs" in outcome.error


def _events_audio(root: Path, key: str, events: list[tuple[float, float]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    duration_s = 4.0
    t = np.arange(round(duration_s * RATE)) / RATE
    signal = 0.01 * rng.standard_normal(t.size)
    for start, end in events:
        span = (t >= start) & (t < end)
        signal[span] += 0.4 * np.sin(2 * np.pi * 2000 * t[span])
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, signal.astype(np.float32), RATE, subtype="PCM_16")


def test_a_segments_run_trains_a_detector_and_predicts_segments_with_scores(tmp_path):
    storage = LocalStorage(tmp_path)
    train = []
    for i in range(8):
        start = 0.5 + (i % 3)
        events = [(start, start + 1.0)]
        _events_audio(tmp_path, f"s/train{i}.wav", events, seed=i)
        train.append(
            TrainingItem(
                audio=AudioRef(item_id=i + 1, key=f"s/train{i}.wav"),
                labels=(),
                annotation_ids=(i,),
                segments=tuple((a, b, "beep") for a, b in events),
            )
        )
    _events_audio(tmp_path, "s/new.wav", [(1.5, 2.5)], seed=99)
    request = TrainingRequest(
        task="segments",
        run_id=9,
        attempt=1,
        project_id=3,
        group="",
        label_names=("beep",),
        multi_label=True,
        train=tuple(train),
        predict=(AudioRef(item_id=500, key="s/new.wav"),),
        ranking="diverse",
        uncertainty="least_confidence",
        settings={"epochs": 20, "window_s": 2.0, "lr": 1e-2, "batch_size": 8},
        output_prefix="runs/9/",
        cancel_key="runs/9/cancel",
    )
    request = TrainingRequest.from_json(json.loads(json.dumps(request.to_json())))
    outcome = run_training(request, storage, report=lambda _: None)
    assert outcome.state == "succeeded", outcome.error
    assert outcome.kind == "SegmentCRNN"
    assert outcome.trained_on is not None
    assert outcome.trained_on["counts"] == {"beep": 8}
    (row,) = [json.loads(line) for line in storage.read_bytes(outcome.predictions_key).splitlines()]
    assert row["rank"] == 1
    assert 0 <= row["uncertainty"] <= 1
    found = [s for s in row["segments"] if s["label"] == "beep"]
    assert found, row
    best = max(found, key=lambda s: min(s["end_s"], 2.5) - max(s["start_s"], 1.5))
    assert abs(best["start_s"] - 1.5) < 0.3
    assert abs(best["end_s"] - 2.5) < 0.3
    assert 0 < best["score"] <= 1


@pytest.mark.parametrize("semi_supervised", [True, False])
def test_a_project_embedding_model_trains_only_a_head_and_ranks_with_its_embeddings(
    tmp_path, semi_supervised
):
    import torch

    from tests.ml_worker.test_embeddings import BandEnergy

    storage = LocalStorage(tmp_path)
    model_path = tmp_path / "projects/3/embedding-models/band.pt"
    model_path.parent.mkdir(parents=True)
    torch.jit.script(BandEnergy()).save(str(model_path))
    request = _request(
        tmp_path,
        embedding={
            "key": "projects/3/embedding-models/band.pt",
            "sample_rate_hz": 8000,
            "window_s": 0.5,
        },
        settings={"window_s": 1.0, "batch_size_al": 2, "semi_supervised": semi_supervised},
    )
    request = TrainingRequest.from_json(json.loads(json.dumps(request.to_json())))
    outcome = run_training(request, storage, report=lambda _: None)
    assert outcome.state == "succeeded", outcome.error
    assert outcome.kind == "EmbeddingHead"
    assert outcome.metrics is not None
    assert outcome.metrics["embedding_model"]["dim"] == 8
    # the six unfinished items were trained on with their spread labels, unless turned off
    assert outcome.metrics["n_pseudo"] == (6 if semi_supervised else 0)
    rows = [json.loads(line) for line in storage.read_bytes(outcome.predictions_key).splitlines()]
    assert sorted(r["rank"] for r in rows) == list(range(1, 7))
    right = sum(
        max(r["clip_scores"]["pitch"], key=r["clip_scores"]["pitch"].get)
        == ("low" if (r["item_id"] - 1000) % 2 else "high")
        for r in rows
    )
    assert right == 6


def test_an_unusable_embedding_model_fails_the_run_naming_it(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.write_bytes("projects/3/embedding-models/junk.pt", b"not a model")
    request = _request(
        tmp_path,
        embedding={
            "key": "projects/3/embedding-models/junk.pt",
            "sample_rate_hz": 8000,
            "window_s": 0.5,
        },
    )
    outcome = run_training(request, storage, report=lambda _: None)
    assert outcome.state == "failed"
    assert "junk.pt" in outcome.error


def test_features_are_cached_by_content_and_settings(tmp_path):
    storage = LocalStorage(tmp_path / "store")
    base = _request(tmp_path / "store", ranking="none")

    def with_hashes(request: TrainingRequest, salt: str) -> TrainingRequest:
        def ref(a: AudioRef) -> AudioRef:
            return AudioRef(item_id=a.item_id, key=a.key, sha256=f"{salt}{a.item_id:060d}")

        train = tuple(
            TrainingItem(audio=ref(t.audio), labels=t.labels, annotation_ids=t.annotation_ids)
            for t in request.train
        )
        return TrainingRequest(
            **{
                **request.__dict__,
                "train": train,
                "predict": tuple(ref(p) for p in request.predict),
            }
        )

    cache_root = tmp_path / "cache"
    first = run_training(
        with_hashes(base, "a"), storage, report=lambda _: None, cache_root=cache_root
    )
    assert first.state == "succeeded"
    entries = sorted(cache_root.rglob("*.npy"))
    assert len(entries) == 12  # one per training item (predictions stream every window)
    # the same audio again: read from the cache (the training files need not even exist)
    for path in (tmp_path / "store" / "a").glob("train*.wav"):
        path.unlink()
    again = run_training(
        with_hashes(base, "a"), storage, report=lambda _: None, cache_root=cache_root
    )
    assert again.state == "succeeded", again.error
    # changed audio (another hash) or another window length is not served from the cache
    changed = run_training(
        with_hashes(base, "b"), storage, report=lambda _: None, cache_root=cache_root
    )
    assert changed.state == "failed"
    assert "could not read the audio" in changed.error
    longer = with_hashes(base, "a")
    longer = TrainingRequest(
        **{**longer.__dict__, "settings": {**longer.settings, "window_s": 1.5}}
    )
    assert (
        run_training(longer, storage, report=lambda _: None, cache_root=cache_root).state
        == "failed"
    )


def test_stream_windows_covers_a_long_recording_in_bounded_batches(tmp_path):
    from ml_worker.pipeline import stream_windows

    path = tmp_path / "long.flac"
    rate_in = 44100
    seconds = 61.6  # 61 whole 1-second windows and a 0.6 s tail (kept: at least half a window)
    t = np.arange(round(seconds * rate_in)) / rate_in
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], axis=1)
    sf.write(path, (0.3 * stereo).astype(np.float32), rate_in, subtype="PCM_16")
    batches = list(stream_windows(path, sample_rate_hz=RATE, window_samples=RATE, batch=16))
    assert [b.shape for b in batches] == [(16, RATE)] * 3 + [(14, RATE)]
    assert all(b.dtype == np.float32 for b in batches)
    # the tail window is padded with silence after its 0.6 s
    tail = batches[-1][-1]
    assert np.abs(tail[: int(0.5 * RATE)]).max() > 0.1
    assert np.abs(tail[int(0.65 * RATE) :]).max() == 0
    # a recording shorter than a window is one padded window
    short = tmp_path / "short.wav"
    sf.write(short, np.full(RATE // 4, 0.2, dtype=np.float32), RATE)
    (only,) = list(stream_windows(short, sample_rate_hz=RATE, window_samples=RATE))
    assert only.shape == (1, RATE)


def test_items_behind_urls_are_downloaded_for_the_run(tmp_path):
    import functools
    import http.server
    import threading

    storage = LocalStorage(tmp_path)
    request = _request(tmp_path, n_predict=2)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        predict = tuple(AudioRef(item_id=p.item_id, url=base + p.key) for p in request.predict)
        outcome = run_training(
            TrainingRequest(**{**request.__dict__, "predict": predict}),
            storage,
            report=lambda _: None,
        )
        assert outcome.state == "succeeded", outcome.error
        assert outcome.predicted == 2
        missing = (AudioRef(item_id=77, url=base + "a/none.wav"),)
        failed = run_training(
            TrainingRequest(**{**request.__dict__, "predict": missing}),
            storage,
            report=lambda _: None,
        )
        assert failed.state == "failed"
        assert "item 77" in failed.error
    finally:
        server.shutdown()


def _order_request(root: Path, **over: object) -> TrainingRequest:
    """A cold-start request: no labels, 8 unfinished items uploaded as 4 high tones then 4
    low ones, the project's embedding model, 2 clusters."""
    import torch

    from tests.ml_worker.test_embeddings import BandEnergy

    model_path = root / "projects/3/embedding-models/band.pt"
    model_path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(BandEnergy()).save(str(model_path))
    fields: dict[str, object] = {
        "train": (),
        "ranking": "representative",
        "label_names": (),
        "group": "",
        "settings": {"seed": 0, "batch_size_al": 2, "clusters": 2},
        "embedding": {
            "key": "projects/3/embedding-models/band.pt",
            "sample_rate_hz": 8000,
            "window_s": 0.5,
        },
    }
    fields.update(over)
    request = _request(root, n_train=0, n_predict=8, **fields)
    if "predict" not in over:
        high_first = sorted(request.predict, key=lambda ref: (ref.item_id - 1000) % 2)
        request = replace(request, predict=tuple(high_first))
    return TrainingRequest.from_json(json.loads(json.dumps(request.to_json())))


def test_an_order_run_ranks_every_item_from_embeddings_alone_one_of_each_kind_first(tmp_path):
    storage = LocalStorage(tmp_path)
    reports: list[TrainingProgress] = []
    outcome = run_training(_order_request(tmp_path), storage, report=reports.append)
    assert outcome.state == "succeeded", outcome.error
    assert outcome.kind == "queue_order"
    assert outcome.checkpoint_key == ""
    assert outcome.metrics is not None
    assert outcome.metrics["clusters"] == 2
    assert outcome.metrics["embedding_model"]["dim"] == 8
    rows = [json.loads(line) for line in storage.read_bytes(outcome.predictions_key).splitlines()]
    assert [sorted(r) for r in rows] == [["item_id", "rank"]] * 8  # ranks only, no scores
    assert sorted(r["rank"] for r in rows) == list(range(1, 9))
    by_rank = sorted(rows, key=lambda r: r["rank"])
    kinds = ["low" if (r["item_id"] - 1000) % 2 else "high" for r in by_rank]
    assert sorted(kinds[:2]) == ["high", "low"]  # upload order gives two high ones
    assert reports[0].phase == "embedding"
    assert reports[-1].phase == "ranking"


def test_an_order_run_without_an_embedding_model_or_items_fails_saying_so(tmp_path):
    storage = LocalStorage(tmp_path)
    outcome = run_training(_order_request(tmp_path, embedding=None), storage, report=print)
    assert outcome.state == "failed"
    assert "embedding model" in outcome.error
    outcome = run_training(_order_request(tmp_path, predict=()), storage, report=print)
    assert outcome.state == "failed"
    assert "no unfinished items" in outcome.error


def test_an_order_run_can_be_cancelled(tmp_path):
    storage = LocalStorage(tmp_path)
    request = _order_request(tmp_path)
    storage.write_bytes(request.cancel_key, b"cancelled")
    assert run_training(request, storage, report=print).state == "cancelled"

"""Benchmark: sound event detection on long soundscapes generated from ESC-10 events.

    nice -n 10 .venv/bin/python -m bench.bench_ml_segments

Training soundscapes use event and background clips of folds 1-4, test soundscapes those of
fold 5 (no clip is heard in both). ``train_segment_detector`` (SegmentCRNN, held-out
recordings for early stopping) then ``detect_segments`` on each test soundscape; event-based
F1 with onset collar 200 ms and offset collar max(200 ms, 20 % of the event's length). Writes
``bench/out/ml_segments.json``. Needs ``../shared/data/esc10_16k``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.harness import machine, machine_lines, table, write_json
from bench.ml_data import OUT_DIR, SAMPLE_RATE_HZ, load_esc10, print_progress, set_threads
from bench.soundscapes import EVENT_CLASSES, clip_pools, soundscape
from ml_worker.features import LogMel, LogMelConfig
from ml_worker.inference import DecodeConfig, detect_segments
from ml_worker.training import (
    Event,
    Recording,
    SegmentTrainConfig,
    event_metrics,
    train_segment_detector,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=30, help="training soundscapes")
    parser.add_argument("--test", type=int, default=10, help="test soundscapes")
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=str(OUT_DIR / "ml_segments.json"))
    args = parser.parse_args()
    set_threads(args.threads)
    info = machine()
    data = load_esc10()
    rng = np.random.default_rng(0)
    train_pool = clip_pools(data, {1, 2, 3, 4})
    test_pool = clip_pools(data, {5})
    train = [
        soundscape(*train_pool, duration_s=args.duration_s, rng=rng) for _ in range(args.train)
    ]
    test = [soundscape(*test_pool, duration_s=args.duration_s, rng=rng) for _ in range(args.test)]
    feature_config = LogMelConfig(hop_length=640, n_mels=64)
    config = SegmentTrainConfig(
        window_s=10.0,
        window_hop_s=5.0,
        epochs=args.epochs,
        batch_size=16,
        lr=3e-3,
        val_fraction=0.15,
        early_stopping_patience=8,
        cnn_channels=(16, 32, 64),
        gru_hidden=64,
        dropout=0.3,
        decode=DecodeConfig(
            threshold=0.5,
            low_threshold=0.3,
            median_filter_s=0.28,
            min_duration_s=0.1,
            min_gap_s=0.2,
        ),
    )
    result = train_segment_detector(
        [Recording(signal=s.signal, events=s.events) for s in train],
        label_names=EVENT_CLASSES,
        feature_config=feature_config,
        config=config,
        progress=print_progress("SegmentCRNN"),
    )
    model = result.build_model()
    frontend = LogMel(feature_config)
    started = time.perf_counter()
    detected = [
        [
            Event(s.start_s, s.end_s, EVENT_CLASSES[s.class_index])
            for s in detect_segments(
                model,
                scape.signal,
                frontend=frontend,
                window_s=config.window_s,
                hop_s=config.window_hop_s,
                decode=config.decode,
            )
        ]
        for scape in test
    ]
    detect_s = time.perf_counter() - started
    metrics = event_metrics([list(s.events) for s in test], detected, label_names=EVENT_CLASSES)
    audio_s = sum(s.signal.size for s in test) / SAMPLE_RATE_HZ
    report = {
        "benchmark": "esc10_soundscape_sed",
        "machine": info,
        "train_soundscapes": args.train,
        "test_soundscapes": args.test,
        "duration_s": args.duration_s,
        "train_events": sum(len(s.events) for s in train),
        "feature_config": feature_config.to_json(),
        "train_config": config.to_json(),
        "train_time_s": result.train_time_s,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "held_out_f1": None if result.metrics is None else result.metrics.f1,
        "test": metrics.to_json(),
        "detect_time_s": detect_s,
        "detect_x_realtime": audio_s / detect_s,
    }
    rows = [
        [name, n, f"{100 * f1:.1f} %", f"{100 * p:.1f} %", f"{100 * r:.1f} %"]
        for name, n, f1, p, r in zip(
            EVENT_CLASSES,
            metrics.support,
            metrics.per_label_f1,
            metrics.per_label_precision,
            metrics.per_label_recall,
            strict=True,
        )
    ]
    rows.append(
        [
            "**overall (micro)**",
            metrics.n_reference,
            f"**{100 * metrics.f1:.1f} %**",
            f"{100 * metrics.precision:.1f} %",
            f"{100 * metrics.recall:.1f} %",
        ]
    )
    print(table(["label", "events", "F1", "precision", "recall"], rows))
    print(
        f"\nmacro F1 {100 * metrics.macro_f1:.1f} %; training {result.train_time_s:.0f} s "
        f"({result.epochs_run} epochs, best {result.best_epoch}); detection "
        f"{audio_s / detect_s:.0f}x realtime"
    )
    print("\n".join(machine_lines(info)))
    write_json(Path(args.json), report)


if __name__ == "__main__":
    main()

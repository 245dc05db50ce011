"""Benchmark: Free Spoken Digit Dataset, official split (recordings 0-4 of each speaker and
digit are the test set), built-in ClipCNN trained from scratch on CPU.

    nice -n 10 .venv/bin/python -m bench.bench_ml_fsdd

Recordings are centred in 1 s (cropped or zero-padded). FSDD was recorded at 8 kHz, so the
log-mel stops at 4 kHz. Prints markdown and writes ``bench/out/ml_fsdd.json``. Target: test
accuracy >= 97 % (a random forest on MFCC statistics scores 97.3 %). Needs
``../shared/data/fsdd_16k`` (skips without it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.harness import machine, machine_lines, table, write_json
from bench.ml_data import OUT_DIR, load_fsdd, print_progress, set_threads
from ml_worker.features import LogMelConfig, extract_logmel
from ml_worker.inference import predict_clips
from ml_worker.models import ClipModel
from ml_worker.training import TrainConfig, train_baseline, train_clip_classifier

TARGET = 0.97


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--channels", default="16,32,64,128")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=str(OUT_DIR / "ml_fsdd.json"))
    args = parser.parse_args()
    set_threads(args.threads)
    info = machine()
    data = load_fsdd()
    feature_config = LogMelConfig(n_mels=40, fmax_hz=4000.0, hop_length=320)
    features = extract_logmel(data.signals, config=feature_config)
    train, test = data.groups == 0, data.groups == 1
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=64,
        lr=3e-3,
        val_fraction=0.0,
        early_stopping_patience=None,
        mixup_alpha=0.0,
        time_shift_max_frames=4,
        time_mask_frames=6,
        freq_mask_bins=5,
        cnn_channels=tuple(int(c) for c in args.channels.split(",")),
        dropout=0.2,
    )
    rows = []
    report: dict[str, object] = {
        "benchmark": "fsdd_test_split",
        "machine": info,
        "feature_config": feature_config.to_json(),
        "train_config": config.to_json(),
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "target": TARGET,
    }
    for name, trainer in (("MFCC baseline", train_baseline), ("ClipCNN", train_clip_classifier)):
        started = time.perf_counter()
        result = trainer(
            features[train],
            data.labels[train],
            label_names=data.class_names,
            config=config,
            progress=print_progress(name),
        )
        model = result.build_model()
        assert isinstance(model, ClipModel)
        accuracy = float(
            (predict_clips(model, features[test]).argmax(axis=1) == data.labels[test]).mean()
        )
        elapsed = time.perf_counter() - started
        report[name] = {"accuracy": accuracy, "train_time_s": result.train_time_s}
        rows.append([name, f"{100 * accuracy:.1f} %", f"{elapsed:.0f}"])
        print(f"{name}: test accuracy {accuracy:.4f}", flush=True)
    print(table(["model", "test accuracy", "training time (s)"], rows))
    accuracy = report["ClipCNN"]["accuracy"]  # type: ignore[index]
    report["met"] = accuracy >= TARGET
    print(f"\ntarget >= {100 * TARGET:.0f} %: {'met' if report['met'] else 'NOT met'}")
    print("\n".join(machine_lines(info)))
    write_json(Path(args.json), report)


if __name__ == "__main__":
    main()

"""Benchmark: ESC-10 on the official 5 folds, the built-in ClipCNN trained from scratch on CPU.

    nice -n 10 .venv/bin/python -m bench.bench_ml_esc10
    nice -n 10 .venv/bin/python -m bench.bench_ml_esc10 --folds 1 --epochs 20   # quick look

For each fold: train on the other four folds (no held-out split, a fixed number of epochs,
``train_clip_classifier``), test on the fold with whole 5 s clips. Prints markdown and writes
``bench/out/ml_esc10.json``. Targets: mean accuracy >= 85 % (published: CNN 80.2 %, random
forest 72.7 %, humans 95.7 %). Needs ``../shared/data/esc10_16k`` (skips without it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import machine, machine_lines, table, write_json
from bench.ml_data import OUT_DIR, load_esc10, print_progress, set_threads
from ml_worker.features import LogMelConfig, extract_logmel
from ml_worker.inference import predict_clips
from ml_worker.models import ClipModel
from ml_worker.training import TrainConfig, train_clip_classifier

TARGET = 0.85


def esc10_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        val_fraction=0.0,
        mixup_alpha=args.mixup,
        crop_frames=args.crop_frames,
        time_shift_max_frames=args.shift_frames,
        freq_mask_bins=args.freq_mask_bins,
        time_mask_frames=args.time_mask_frames,
        early_stopping_patience=None,
        cnn_channels=tuple(int(c) for c in args.channels.split(",")),
        dropout=args.dropout,
        seed=args.seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", default="1,2,3,4,5")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--mixup", type=float, default=0.2)
    parser.add_argument("--hop-length", type=int, default=640)
    parser.add_argument("--n-mels", type=int, default=64)
    parser.add_argument("--crop-frames", type=int, default=80)
    parser.add_argument("--shift-frames", type=int, default=0)
    parser.add_argument("--freq-mask-bins", type=int, default=8)
    parser.add_argument("--time-mask-frames", type=int, default=10)
    parser.add_argument("--channels", default="32,64,128,256")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=str(OUT_DIR / "ml_esc10.json"))
    args = parser.parse_args()
    set_threads(args.threads)
    info = machine()
    data = load_esc10()
    feature_config = LogMelConfig(hop_length=args.hop_length, n_mels=args.n_mels)
    started = time.perf_counter()
    features = extract_logmel(data.signals, config=feature_config)
    feature_s = time.perf_counter() - started
    config = esc10_config(args)
    folds: list[dict[str, Any]] = []
    for fold in (int(f) for f in args.folds.split(",")):
        train = data.groups != fold
        result = train_clip_classifier(
            features[train],
            data.labels[train],
            label_names=data.class_names,
            config=config,
            progress=print_progress(f"fold {fold}"),
        )
        model = result.build_model()
        assert isinstance(model, ClipModel)
        probs = predict_clips(model, features[~train])
        accuracy = float((probs.argmax(axis=1) == data.labels[~train]).mean())
        folds.append(
            {
                "fold": fold,
                "accuracy": accuracy,
                "train_time_s": result.train_time_s,
                "epochs": result.epochs_run,
                "final_train_loss": result.history[-1].train_loss,
            }
        )
        print(f"fold {fold}: accuracy {accuracy:.3f}, {result.train_time_s:.0f} s", flush=True)
        # Partial results survive an interrupted run.
        write_json(Path(args.json + ".partial"), {"config": config.to_json(), "folds": folds})
    mean = float(np.mean([f["accuracy"] for f in folds]))
    report = {
        "benchmark": "esc10_5fold_cnn",
        "machine": info,
        "feature_config": feature_config.to_json(),
        "train_config": config.to_json(),
        "n_parameters": model.n_parameters,
        "feature_time_s": feature_s,
        "folds": folds,
        "mean_accuracy": mean,
        "target": TARGET,
        "met": mean >= TARGET,
    }
    print(
        table(
            ["fold", "accuracy", "training time (s)"],
            [[f["fold"], f"{100 * f['accuracy']:.1f} %", f"{f['train_time_s']:.0f}"] for f in folds]
            + [
                [
                    "mean",
                    f"**{100 * mean:.1f} %**",
                    f"{np.mean([f['train_time_s'] for f in folds]):.0f}",
                ]
            ],
        )
    )
    print(f"\ntarget >= {100 * TARGET:.0f} %: {'met' if mean >= TARGET else 'NOT met'}")
    print("\n".join(machine_lines(info)))
    write_json(Path(args.json), report)


if __name__ == "__main__":
    main()

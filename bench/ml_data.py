"""Shared data loading for the ML benchmarks: ESC-10 and FSDD from ``../shared/data``.

Waveforms are decoded once and kept in ``bench/out/cache/*.npz`` (16 kHz float32), so a
second benchmark run starts in a second. ``require_data`` exits with a message (status 0)
when the data folder is absent: the benchmarks need it, the project does not.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from bench.harness import DATA_ROOT, REPO_ROOT
from ml_worker.features import fit_length, load_audio
from ml_worker.training import Progress, ProgressCallback

OUT_DIR = REPO_ROOT / "bench" / "out"
CACHE_DIR = OUT_DIR / "cache"
SAMPLE_RATE_HZ = 16000
ESC10_ROOT = DATA_ROOT / "esc10_16k"
FSDD_ROOT = DATA_ROOT / "fsdd_16k"
ESC10_CLASSES = (
    "dog",
    "rooster",
    "rain",
    "sea_waves",
    "crackling_fire",
    "crying_baby",
    "sneezing",
    "clock_tick",
    "helicopter",
    "chainsaw",
)


def require_data(*roots: Path) -> None:
    """Exit cleanly (status 0, message on stderr) when a data folder is missing."""
    for root in roots:
        if not (root / "metadata.csv").is_file():
            print(f"skipped: {root} is not there (see ../shared/data/README.md)", file=sys.stderr)
            raise SystemExit(0)


def set_threads(n: int = 2) -> None:
    """Torch intra-op threads (the dev machine has 2 cores shared with others)."""
    torch.set_num_threads(n)


def print_progress(prefix: str) -> ProgressCallback:
    """A progress callback printing one line per epoch to stderr."""

    def report(progress: Progress) -> None:
        metric = "" if progress.val_metric is None else f" held-out {progress.val_metric:.3f}"
        print(
            f"  {prefix} epoch {progress.epoch}/{progress.epochs} loss {progress.loss or 0:.4f}"
            f"{metric}",
            file=sys.stderr,
            flush=True,
        )

    return report


@dataclass(frozen=True)
class Dataset:
    """``signals`` (n, samples) float32 at 16 kHz, ``labels`` (n,) int, ``groups`` (n,) int
    (ESC-10: fold 1-5; FSDD: 1 = test split, 0 = train), file names and class names."""

    signals: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    groups: npt.NDArray[np.int64]
    filenames: tuple[str, ...]
    class_names: tuple[str, ...]


def _rows(root: Path) -> list[dict[str, str]]:
    with (root / "metadata.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _cached(name: str) -> Path:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return CACHE_DIR / f"{name}.npz"


def _save(path: Path, data: Dataset) -> None:
    np.savez(
        path,
        signals=data.signals,
        labels=data.labels,
        groups=data.groups,
        filenames=np.array(data.filenames),
        class_names=np.array(data.class_names),
    )


def _load(path: Path) -> Dataset:
    with np.load(path, allow_pickle=False) as z:
        return Dataset(
            signals=z["signals"].astype(np.float32, copy=False),
            labels=z["labels"].astype(np.int64),
            groups=z["groups"].astype(np.int64),
            filenames=tuple(str(s) for s in z["filenames"]),
            class_names=tuple(str(s) for s in z["class_names"]),
        )


def load_esc10() -> Dataset:
    """ESC-10: 400 clips of 80 000 samples, labels 0-9 (``esc10_target``), folds 1-5."""
    require_data(ESC10_ROOT)
    path = _cached("esc10")
    if path.is_file():
        return _load(path)
    rows = sorted(_rows(ESC10_ROOT), key=lambda r: r["filename"])
    signals = np.stack(
        [
            fit_length(
                load_audio(ESC10_ROOT / "audio" / r["filename"], sample_rate_hz=SAMPLE_RATE_HZ),
                5 * SAMPLE_RATE_HZ,
            )
            for r in rows
        ]
    )
    names = {int(r["esc10_target"]): r["category"] for r in rows}
    data = Dataset(
        signals=signals,
        labels=np.array([int(r["esc10_target"]) for r in rows], dtype=np.int64),
        groups=np.array([int(r["fold"]) for r in rows], dtype=np.int64),
        filenames=tuple(r["filename"] for r in rows),
        class_names=tuple(names[i] for i in range(len(names))),
    )
    _save(path, data)
    return data


def load_fsdd(length_s: float = 1.0) -> Dataset:
    """FSDD: 3000 recordings cropped/zero-padded (centred) to ``length_s``; labels = digit;
    groups 1 for the official test split (index 0-4), else 0."""
    require_data(FSDD_ROOT)
    n_samples = round(length_s * SAMPLE_RATE_HZ)
    path = _cached(f"fsdd_{n_samples}")
    if path.is_file():
        return _load(path)
    rows = sorted(_rows(FSDD_ROOT), key=lambda r: r["filename"])
    signals = np.zeros((len(rows), n_samples), dtype=np.float32)
    for i, r in enumerate(rows):
        audio = load_audio(FSDD_ROOT / "audio" / r["filename"], sample_rate_hz=SAMPLE_RATE_HZ)
        if audio.shape[0] >= n_samples:
            start = (audio.shape[0] - n_samples) // 2
            signals[i] = audio[start : start + n_samples]
        else:
            start = (n_samples - audio.shape[0]) // 2
            signals[i, start : start + audio.shape[0]] = audio
    data = Dataset(
        signals=signals,
        labels=np.array([int(r["digit"]) for r in rows], dtype=np.int64),
        groups=np.array([1 if int(r["index"]) <= 4 else 0 for r in rows], dtype=np.int64),
        filenames=tuple(r["filename"] for r in rows),
        class_names=tuple(str(d) for d in range(10)),
    )
    _save(path, data)
    return data

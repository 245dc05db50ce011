"""Clip embeddings learned without labels: spherical k-means codebooks of log-mel patches.

Coates & Ng's single-layer feature learning, as Salamon & Bello (2015) applied it to urban
sounds: short log-mel patches (``patch_frames`` frames x all mel bands) are normalised per patch,
ZCA-whitened, and clustered on the unit sphere into ``size`` centroids. A clip is encoded by the
rectified cosine similarity of each of its patches to every centroid, pooled over time by mean
and by max: ``2 * size`` numbers per codebook; ``fit_codebooks`` fits one per patch length
(``DEFAULT_SCALES``: 160 ms and 640 ms) and puts their embeddings side by side. Fitting needs
only audio (the unlabelled pool of a project), so the embedding exists before the first label;
on ESC-10 a logistic regression on it (plus clip statistics) does better than the CNN trained
from scratch (docs/benchmarks.md).

``Codebook.module()`` and ``CodebookSet.module()`` give the same encoder as a torch module
from waveform windows, which ``torch.jit.trace`` saves as TorchScript for windows of one
length: a project's own embedding model (``EmbeddingModelSpec``).
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from ml_worker.features.atomic import atomic_write
from ml_worker.features.audio import load_audio
from ml_worker.features.config import LogMelConfig
from ml_worker.features.logmel import LogMel, extract_logmel
from ml_worker.features.windows import windows

Array = npt.NDArray[np.float32]

# Added to each patch's standard deviation before dividing (Coates & Ng's "10" for pixels):
# near-silent patches are not blown up to full contrast.
PATCH_STD_FLOOR = 0.5
# Added to the covariance eigenvalues before whitening.
ZCA_EPSILON = 0.1


def patches(logmel: npt.NDArray[np.floating], frames: int, stride: int) -> Array:
    """(n_mels, T) -> (n_patches, n_mels * frames), each patch normalised to zero mean and
    (about) unit variance. A clip shorter than ``frames`` gives one zero-padded patch."""
    x = np.asarray(logmel, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected a log-mel (n_mels, frames), got shape {x.shape}")
    if x.shape[1] < frames:
        x = np.pad(x, ((0, 0), (0, frames - x.shape[1])), mode="edge")
    starts = np.arange(0, x.shape[1] - frames + 1, stride)
    view = np.lib.stride_tricks.sliding_window_view(x, frames, axis=1)[:, starts, :]
    out = np.ascontiguousarray(view.transpose(1, 0, 2).reshape(len(starts), -1))
    out -= out.mean(axis=1, keepdims=True)
    out /= out.std(axis=1, keepdims=True) + PATCH_STD_FLOOR
    return out


def _unit(x: npt.NDArray[np.floating]) -> Array:
    return np.asarray(x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-8), dtype=np.float32)


@dataclass(frozen=True)
class Codebook:
    """A fitted codebook: encode log-mels with ``encode`` (numpy) or ``module`` (torch)."""

    patch_frames: int
    mean: Array  # (dim,)
    whitening: Array  # (dim, dim)
    centroids: Array  # (size, dim), unit rows
    encode_stride: int = 2

    @property
    def size(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def embedding_dim(self) -> int:
        return 2 * self.size

    def encode(self, logmel: npt.NDArray[np.floating]) -> Array:
        """(n_mels, T) -> (2 * size,): mean then max over time of max(0, cos(patch, centroid))."""
        raw = patches(logmel, self.patch_frames, self.encode_stride)
        z = _unit((raw - self.mean) @ self.whitening)
        act = np.maximum(z @ self.centroids.T, 0.0)
        return np.concatenate([act.mean(axis=0), act.max(axis=0)]).astype(np.float32)

    def encode_batch(self, logmels: Sequence[npt.NDArray[np.floating]]) -> Array:
        return (
            np.stack([self.encode(m) for m in logmels])
            if len(logmels)
            else np.zeros((0, self.embedding_dim), np.float32)
        )

    def module(self, config: LogMelConfig) -> CodebookEncoder:
        """The encoder from waveforms ``(batch, samples)`` -> ``(batch, 2 * size)``; ``config``
        must be the log-mel settings the codebook was fitted on."""
        return CodebookEncoder([self], config)


def fit_codebook(
    logmels: Sequence[npt.NDArray[np.floating]],
    *,
    size: int = 256,
    patch_frames: int = 8,
    stride: int = 4,
    max_patches: int = 40_000,
    iterations: int = 10,
    seed: int = 0,
) -> Codebook:
    """Learn a codebook from log-mels ``(n_mels, T)`` of unlabelled audio (same n_mels each).

    Patches every ``stride`` frames, at most ``max_patches`` of them drawn at random, ZCA
    whitening, then ``iterations`` rounds of spherical k-means from ``size`` random patches.
    Deterministic for a seed."""
    if not logmels:
        raise ValueError("fit_codebook needs at least one log-mel")
    if size < 1 or patch_frames < 1 or stride < 1 or iterations < 1:
        raise ValueError("size, patch_frames, stride and iterations must be positive")
    rng = np.random.default_rng(seed)
    sample = np.concatenate([patches(m, patch_frames, stride) for m in logmels])
    if sample.shape[0] > max_patches:
        sample = sample[np.sort(rng.choice(sample.shape[0], max_patches, replace=False))]
    if sample.shape[0] < size:
        raise ValueError(f"{sample.shape[0]} patches cannot make a codebook of {size}")
    mean = sample.mean(axis=0)
    centred = sample - mean
    eigenvalues, vectors = np.linalg.eigh(centred.T @ centred / max(sample.shape[0] - 1, 1))
    whitening = (vectors / np.sqrt(np.maximum(eigenvalues, 0.0) + ZCA_EPSILON)) @ vectors.T
    z = _unit((centred @ whitening).astype(np.float32))
    centroids = z[rng.choice(z.shape[0], size, replace=False)].copy()
    for _ in range(iterations):
        assign = (z @ centroids.T).argmax(axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, z)
        empty = np.flatnonzero(~np.bincount(assign, minlength=size).astype(bool))
        sums[empty] = z[rng.choice(z.shape[0], empty.size, replace=False)]
        centroids = _unit(sums)
    return Codebook(
        patch_frames=patch_frames,
        mean=mean.astype(np.float32),
        whitening=whitening.astype(np.float32),
        centroids=centroids.astype(np.float32),
    )


@dataclass(frozen=True)
class CodebookSet:
    """Codebooks of several patch lengths (short: timbre; long: rhythm, onsets), their
    embeddings side by side."""

    books: tuple[Codebook, ...]

    @property
    def embedding_dim(self) -> int:
        return sum(book.embedding_dim for book in self.books)

    def encode(self, logmel: npt.NDArray[np.floating]) -> Array:
        return np.concatenate([book.encode(logmel) for book in self.books])

    def encode_batch(self, logmels: Sequence[npt.NDArray[np.floating]]) -> Array:
        if not len(logmels):
            return np.zeros((0, self.embedding_dim), np.float32)
        return np.stack([self.encode(m) for m in logmels])

    def module(self, config: LogMelConfig) -> CodebookEncoder:
        return CodebookEncoder(self.books, config)


# Patch lengths in frames (20 ms each at the default hop): 160 ms and 640 ms.
DEFAULT_SCALES = (8, 32)


def fit_codebooks(
    logmels: Sequence[npt.NDArray[np.floating]],
    *,
    scales: Sequence[int] = DEFAULT_SCALES,
    size: int = 256,
    seed: int = 0,
    **options: int,
) -> CodebookSet:
    """One codebook per patch length in ``scales`` (``fit_codebook``'s ``options`` apply to
    each)."""
    if not scales:
        raise ValueError("scales must name at least one patch length")
    return CodebookSet(
        tuple(
            fit_codebook(logmels, size=size, patch_frames=frames, seed=seed + i, **options)
            for i, frames in enumerate(scales)
        )
    )


class CodebookHead(nn.Module):
    """Log-mels ``(batch, n_mels, frames)`` -> one codebook's embeddings ``(batch, 2 * size)``."""

    mean: Tensor
    whitening: Tensor
    centroids: Tensor

    def __init__(self, codebook: Codebook) -> None:
        super().__init__()
        self.frames = codebook.patch_frames
        self.stride = codebook.encode_stride
        self.register_buffer("mean", torch.from_numpy(codebook.mean.copy()))
        self.register_buffer("whitening", torch.from_numpy(codebook.whitening.copy()))
        self.register_buffer("centroids", torch.from_numpy(codebook.centroids.copy()))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[2] < self.frames:
            pad = x[:, :, -1:].expand(-1, -1, self.frames - x.shape[2])
            x = torch.cat([x, pad], dim=2)
        p = x.unfold(2, self.frames, self.stride)  # (batch, mels, n, frames)
        p = p.permute(0, 2, 1, 3).reshape(x.shape[0], p.shape[2], -1)  # (batch, n, dim)
        p = p - p.mean(dim=2, keepdim=True)
        p = p / (p.std(dim=2, keepdim=True, unbiased=False) + PATCH_STD_FLOOR)
        z = (p - self.mean) @ self.whitening
        z = z / (z.norm(dim=2, keepdim=True) + 1e-8)
        act = torch.relu(z @ self.centroids.T)
        return torch.cat([act.mean(dim=1), act.amax(dim=1)], dim=1)


class CodebookEncoder(nn.Module):
    """Waveforms ``(batch, samples)`` -> codebook embeddings, one log-mel for all codebooks;
    the same numbers as ``encode`` on ``extract_logmel`` of each waveform (to float rounding).
    ``torch.jit.trace(encoder, windows).save(path)`` makes a project embedding model for
    windows of that length (any batch size)."""

    def __init__(self, codebooks: Sequence[Codebook], config: LogMelConfig) -> None:
        super().__init__()
        self.logmel = LogMel(config)
        self.heads = nn.ModuleList(CodebookHead(book) for book in codebooks)

    def forward(self, waveforms: Tensor) -> Tensor:
        x = self.logmel(waveforms)  # (batch, mels, T)
        return torch.cat([head(x) for head in self.heads], dim=1)


# The log-mel a codebook is fitted on by default (fewer bands than the CNN's: smaller patches).
CODEBOOK_LOGMEL = LogMelConfig(n_mels=40)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aiff", ".aif")


def fit_from_files(
    paths: Sequence[str | Path],
    *,
    window_s: float,
    size: int = 256,
    scales: Sequence[int] = DEFAULT_SCALES,
    config: LogMelConfig = CODEBOOK_LOGMEL,
    max_windows: int = 20_000,
    seed: int = 0,
) -> tuple[CodebookSet, CodebookEncoder]:
    """Fit codebooks on the ``window_s`` windows of audio files (at most ``max_windows``,
    spread evenly) and return them with their waveform encoder."""
    found = [Path(p) for p in paths]
    if not found:
        raise ValueError("no audio files given")
    rate = config.sample_rate_hz
    cut = [
        windows(
            load_audio(p, sample_rate_hz=rate),
            sample_rate_hz=rate,
            window_s=window_s,
            hop_s=window_s,
        )
        for p in found
    ]
    stacked = np.concatenate(cut)
    if stacked.shape[0] > max_windows:
        stacked = stacked[np.linspace(0, stacked.shape[0] - 1, max_windows).astype(int)]
    logmels: list[npt.NDArray[np.float32]] = []
    for start in range(0, stacked.shape[0], 256):
        logmels += list(extract_logmel(stacked[start : start + 256], config=config))
    books = fit_codebooks(logmels, scales=scales, size=size, seed=seed)
    return books, books.module(config)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ml_worker.features.codebook --window-s 5 --out codebook.pt AUDIO_OR_DIR...``:
    learn an embedding model from unlabelled audio and save it as TorchScript, ready for
    ``POST /api/projects/{id}/embedding-model/`` (``sample_rate_hz`` 16000, the same
    ``window_s``)."""
    parser = argparse.ArgumentParser(
        description=main.__doc__.split("\n")[0] if main.__doc__ else ""
    )
    parser.add_argument("audio", nargs="+", help="audio files or folders (searched recursively)")
    parser.add_argument("--out", required=True, help="TorchScript file to write (.pt)")
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=256, help="centroids per codebook")
    parser.add_argument(
        "--scales",
        type=lambda text: tuple(int(v) for v in text.split(",")),
        default=DEFAULT_SCALES,
        help="patch lengths in frames, one codebook each (default 8,32; embedding = 2 x size x n)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths: list[Path] = []
    for name in args.audio:
        root = Path(name)
        if root.is_dir():
            paths += sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        elif root.is_file():
            paths.append(root)
        else:
            parser.error(f"{name}: no such file or folder")
    if not paths:
        parser.error("no audio files found (suffixes: " + ", ".join(AUDIO_SUFFIXES) + ")")
    try:
        book, encoder = fit_from_files(
            paths, window_s=args.window_s, size=args.size, scales=args.scales, seed=args.seed
        )
    except ValueError as exc:
        parser.error(str(exc))
    example = torch.zeros(2, round(args.window_s * encoder.logmel.config.sample_rate_hz))
    with torch.no_grad(), warnings.catch_warnings():
        # The padding branch is fixed for the window length traced, which is the only one
        # the worker feeds (EmbeddingModelSpec.window_samples).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(encoder, example)  # type: ignore[no-untyped-call]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda fh: torch.jit.save(traced, fh))
    print(
        f"wrote {out}: {len(paths)} files, embeddings of {book.embedding_dim} numbers per "
        f"{args.window_s:g} s window at {encoder.logmel.config.sample_rate_hz} Hz"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: decode-only vs decode + waveform peaks (+ spectrogram overview) on a long file.

    .venv/bin/python -m bench.bench_peaks --duration-s 10800 --repeat 2
    .venv/bin/python -m bench.bench_peaks --format mp3 --duration-s 1800

The goal it checks: the worker's whole pass (decode, peaks and the spectrogram overview, in
one decode as `item_process` runs it) costs at most 1.5x the time of decoding alone.
Prints markdown.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from backend.audio.decoding import AudioInfo, iter_blocks, probe, tee_blocks
from backend.audio.peaks import PeaksPyramid, compute_peaks, write_dat
from backend.audio.spectrogram import OverviewBuilder

_GENERATE_CHUNK_S = 10.0
_TARGET_RATIO = 1.5


def signal_chunks(
    *, duration_s: float, sample_rate_hz: int, channels: int, seed: int = 0
) -> Iterator[npt.NDArray[np.float32]]:
    """Noise plus a few slowly beating tones, as float32 (frames, channels) 10 s chunks."""
    rng = np.random.default_rng(seed)
    total_frames = round(duration_s * sample_rate_hz)
    chunk_frames = round(_GENERATE_CHUNK_S * sample_rate_hz)
    tone_hz = np.array([110.0, 440.0, 1760.0])
    for start in range(0, total_frames, chunk_frames):
        frames = min(chunk_frames, total_frames - start)
        t_s = (start + np.arange(frames)) / sample_rate_hz
        # Amplitude drifts over minutes so the waveform is not a flat band.
        envelope = 0.5 + 0.4 * np.sin(2 * np.pi * t_s / 97.0)
        tones = np.sin(2 * np.pi * np.outer(t_s, tone_hz)).sum(axis=1) / len(tone_hz)
        mono = 0.6 * envelope * tones
        noise = 0.05 * rng.standard_normal((frames, channels))
        yield (mono[:, np.newaxis] + noise).astype(np.float32)


def generate(
    path: Path, *, fmt: str, duration_s: float, sample_rate_hz: int, channels: int
) -> None:
    """Write the benchmark signal chunk by chunk; memory stays at one 10 s chunk."""
    chunks = signal_chunks(duration_s=duration_s, sample_rate_hz=sample_rate_hz, channels=channels)
    if fmt == "flac":
        with sf.SoundFile(
            path, "w", samplerate=sample_rate_hz, channels=channels, format="FLAC"
        ) as out:
            for chunk in chunks:
                out.write(chunk)
        return
    command = [
        *("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "f32le"),
        *("-ar", str(sample_rate_hz), "-ac", str(channels), "-i", "pipe:0"),
        *("-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3", str(path)),
    ]
    # Piped straight into the encoder: a 3-hour float32 WAV would need 3.8 GB of disk.
    encoder = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert encoder.stdin is not None
    for chunk in chunks:
        encoder.stdin.write(chunk.astype("<f4").tobytes())
    encoder.stdin.close()
    if encoder.wait() != 0:
        raise RuntimeError("ffmpeg failed to encode the benchmark MP3")


def decode_only(path: Path, info: AudioInfo) -> int:
    """Iterate the decoded blocks and do nothing with them; returns frames."""
    return sum(len(block) for block in iter_blocks(path, info=info))


def decode_and_peaks(path: Path, info: AudioInfo) -> PeaksPyramid:
    """Decode and compute the whole peaks pyramid."""
    return compute_peaks(
        iter_blocks(path, info=info),
        sample_rate_hz=info.sample_rate_hz,
        channels=info.channels,
    )


def decode_peaks_and_overview(path: Path, info: AudioInfo) -> PeaksPyramid:
    """What the worker does: one decode pass feeding the peaks and the spectrogram overview."""
    overview = OverviewBuilder(sample_rate_hz=info.sample_rate_hz)
    pyramid = compute_peaks(
        tee_blocks(iter_blocks(path, info=info), overview.feed),
        sample_rate_hz=info.sample_rate_hz,
        channels=info.channels,
    )
    overview.finish()
    return pyramid


def best_of(repeat: int, runs: list[Callable[[], object]]) -> list[float]:
    """Best wall time in seconds of each callable, alternating them to share any drift."""
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for index, run in enumerate(runs):
            started = time.perf_counter()
            run()
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def report(
    *,
    info: AudioInfo,
    path: Path,
    decode_s: float,
    peaks_s: float,
    overview_s: float,
    pyramid: PeaksPyramid,
) -> str:
    """The markdown tables: timings, then .dat size per level."""
    ratio = overview_s / decode_s
    verdict = "ok" if ratio <= _TARGET_RATIO else f"over the {_TARGET_RATIO}x goal"
    lines = [
        f"{info.format.upper()} {info.duration_s / 3600:.2f} h, {info.sample_rate_hz} Hz, "
        f"{info.channels} ch, {path.stat().st_size / 1e6:.0f} MB",
        "",
        "| measurement | seconds | x realtime | / decode only |",
        "|---|---:|---:|---:|",
        f"| decode only | {decode_s:.2f} | {info.duration_s / decode_s:.0f} | 1.00 |",
        f"| decode + peaks | {peaks_s:.2f} | {info.duration_s / peaks_s:.0f} | "
        f"{peaks_s / decode_s:.2f} |",
        f"| decode + peaks + spectrogram overview | {overview_s:.2f} | "
        f"{info.duration_s / overview_s:.0f} | {ratio:.2f} ({verdict}) |",
        "",
        "| samples/bin | bins | .dat bytes |",
        "|---:|---:|---:|",
    ]
    for samples_per_bin in sorted(pyramid.levels):
        size_bytes = write_dat(pyramid, samples_per_bin, io.BytesIO())
        bins = len(pyramid.levels[samples_per_bin])
        lines.append(f"| {samples_per_bin} | {bins} | {size_bytes:,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration-s", type=float, default=10800.0)
    parser.add_argument("--sample-rate-hz", type=int, default=44100)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--format", choices=("flac", "mp3"), default="flac")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, help="directory to keep the generated file in (reused if present)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp_dir:
        out_dir = args.out or Path(tmp_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        name = f"bench-{args.duration_s:.0f}s-{args.sample_rate_hz}hz-{args.channels}ch"
        path = out_dir / f"{name}.{args.format}"
        if not path.exists():
            started = time.perf_counter()
            generate(
                path,
                fmt=args.format,
                duration_s=args.duration_s,
                sample_rate_hz=args.sample_rate_hz,
                channels=args.channels,
            )
            print(f"generated {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        info = probe(path)
        # An untimed pass first, so neither measurement pays for a cold page cache.
        pyramid = decode_and_peaks(path, info)
        decode_s, peaks_s, overview_s = best_of(
            args.repeat,
            [
                lambda: decode_only(path, info),
                lambda: decode_and_peaks(path, info),
                lambda: decode_peaks_and_overview(path, info),
            ],
        )
        print(
            report(
                info=info,
                path=path,
                decode_s=decode_s,
                peaks_s=peaks_s,
                overview_s=overview_s,
                pyramid=pyramid,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: spectrogram tiles of long recordings, cold (rendered) and warm (cached read).

    .venv/bin/python -m bench.bench_tiles --out /tmp/benchdata
    .venv/bin/python -m bench.bench_tiles --duration-s 600 --mp3-duration-s 300 --samples 10

For a generated 3-hour 44.1 kHz stereo FLAC and a 1-hour MP3 (bench_peaks's signal), it runs
the worker's decode pass (peaks + spectrogram overview, stored as `item_process` stores
them), then times `services.spectrogram_tile` in-process at: the level that shows the whole
file in about 1200 px, 2 px/s (both from the overview), 16 and 128 px/s (computed from a
seeked audio window) at random positions, and n_fft 2048 at the whole-file level (computed
from the whole file: the worst case). Cold = the cached PNG deleted first; warm = the same
tile again, read from storage. Storage, database and settings are private to the run (a
temporary EARMARK_VAR_DIR; no row is written). Prints markdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_peaks import generate

_TARGET_WIDTH_PX = 1200


@dataclass(frozen=True)
class Case:
    label: str
    px_per_s: float
    n_fft: int
    samples: int


@dataclass(frozen=True)
class Timing:
    label: str
    source: str
    tiles: int
    cold_ms: list[float]
    warm_ms: list[float]
    sizes: list[int]


def _django(var_dir: Path) -> None:
    """Settings for this run only: media, database and secret key under ``var_dir``."""
    for key in [k for k in os.environ if k.startswith(("DJANGO_", "EARMARK_"))]:
        del os.environ[key]
    os.environ.pop("DATABASE_URL", None)
    os.environ["EARMARK_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "backend.config.settings.local"
    import django

    django.setup()


def whole_file_level(duration_s: float) -> float:
    """The zoom level whose width for the whole file is nearest 1200 px (on a log scale)."""
    from backend.audio.spectrogram import PX_PER_S_LEVELS

    return min(PX_PER_S_LEVELS, key=lambda p: abs(math.log(duration_s * p / _TARGET_WIDTH_PX)))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _item(path: Path, *, pk: int, media_root: Path) -> Any:
    """An unsaved AudioItem whose audio is stored at its key (the services need no row)."""
    from backend.audio.decoding import probe
    from backend.audio.models import AudioItem

    info = probe(path)
    key = f"projects/1/audio/bench/{path.name}"
    stored = media_root / key
    stored.parent.mkdir(parents=True, exist_ok=True)
    if not stored.exists():
        stored.symlink_to(path.resolve())
    return AudioItem(
        pk=pk,
        project_id=1,
        storage_key=key,
        original_name=path.name,
        sha256="0" * 64,
        size_bytes=path.stat().st_size,
        format=info.format,
        content_type=info.content_type,
        duration_s=info.duration_s,
        sample_rate_hz=info.sample_rate_hz,
        channels=info.channels,
        state=AudioItem.State.READY,
    )


def process(item: Any, path: Path) -> float:
    """`item_process`'s decode pass and stores, without the database; returns seconds."""
    import io

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from backend.audio import decoding, peaks, spectrogram
    from backend.common.storage import storage_delete_tree

    started = time.perf_counter()
    info = decoding.probe(path)
    overview = spectrogram.OverviewBuilder(sample_rate_hz=info.sample_rate_hz)
    pyramid = peaks.compute_peaks(
        decoding.tee_blocks(decoding.iter_blocks(path, info=info), overview.feed),
        sample_rate_hz=info.sample_rate_hz,
        channels=info.channels,
    )
    storage_delete_tree(item.spectrogram_prefix)
    for scale, data in overview.finish().items():
        out = io.BytesIO()
        spectrogram.write_overview(data, out)
        default_storage.save(item.spectrogram_overview_key(scale), ContentFile(out.getvalue()))
    item.duration_s = pyramid.frames / pyramid.sample_rate_hz
    return time.perf_counter() - started


def time_case(item: Any, case: Case, rng: random.Random) -> Timing:
    from django.core.files.storage import default_storage

    from backend.audio import services, spectrogram

    settings = spectrogram.SpectrogramSettings(n_fft=case.n_fft)
    count = spectrogram.tile_count(duration_s=item.duration_s, px_per_s=case.px_per_s)
    indices = [rng.randrange(count) for _ in range(case.samples)]
    cold, warm, sizes = [], [], []
    for index in indices:
        key = item.spectrogram_tile_key(settings.key, spectrogram.level_token(case.px_per_s), index)
        default_storage.delete(key)

        def tile(index: int = index) -> bytes:
            return services.spectrogram_tile(
                item=item, px_per_s=case.px_per_s, index=index, settings=settings
            )

        cold.append(_ms(tile))
        warm.append(_ms(tile))
        sizes.append(default_storage.size(key))
    from_overview = (
        case.n_fft == spectrogram.OVERVIEW_N_FFT and case.px_per_s <= spectrogram.OVERVIEW_PX_PER_S
    )
    return Timing(
        label=case.label,
        source="overview" if from_overview else "audio window",
        tiles=count,
        cold_ms=cold,
        warm_ms=warm,
        sizes=sizes,
    )


def _ms(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def report(name: str, item: Any, process_s: float, timings: list[Timing]) -> str:
    lines = [
        f"**{name}**: {item.duration_s / 3600:.2f} h, {item.sample_rate_hz} Hz, "
        f"{item.channels} ch; decode + peaks + overview pass {process_s:.1f} s",
        "",
        "| tile | from | tiles at level | n | cold p50 ms | cold p95 ms | warm p50 ms "
        "| warm p95 ms | bytes p50 | bytes max |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in timings:
        lines.append(
            f"| {t.label} | {t.source} | {t.tiles} | {len(t.cold_ms)} | "
            f"{statistics.median(t.cold_ms):.1f} | {percentile(t.cold_ms, 0.95):.1f} | "
            f"{statistics.median(t.warm_ms):.2f} | {percentile(t.warm_ms, 0.95):.2f} | "
            f"{statistics.median(t.sizes):,.0f} | {max(t.sizes):,} |"
        )
    return "\n".join(lines)


def machine_lines() -> list[str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [
        f"- machine: {os.cpu_count()} CPUs, {cpu}; Python {platform.python_version()}; "
        f"load average at start {load:.2f}",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `{shlex.join(sys.orig_argv)}`",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration-s", type=float, default=10800.0, help="the FLAC's length")
    parser.add_argument("--mp3-duration-s", type=float, default=3600.0)
    parser.add_argument("--samples", type=int, default=30, help="tiles timed per case")
    parser.add_argument("--slow-samples", type=int, default=2, help="for whole-file n_fft 2048")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="directory to keep generated audio in")
    args = parser.parse_args(argv)

    header = machine_lines()
    with tempfile.TemporaryDirectory(prefix="earmark-bench-tiles-") as tmp:
        var_dir = Path(tmp) / "var"
        _django(var_dir)
        from django.conf import settings

        media_root = Path(settings.MEDIA_ROOT)
        data_dir = args.out or Path(tmp) / "audio"
        data_dir.mkdir(parents=True, exist_ok=True)
        files = [
            ("FLAC", "flac", args.duration_s),
            ("MP3 128 kb/s", "mp3", args.mp3_duration_s),
        ]
        sections = []
        for pk, (name, fmt, duration_s) in enumerate(files, start=1):
            path = data_dir / f"bench-{duration_s:.0f}s-44100hz-2ch.{fmt}"
            if not path.exists():
                generate(path, fmt=fmt, duration_s=duration_s, sample_rate_hz=44100, channels=2)
            item = _item(path, pk=pk, media_root=media_root)
            process_s = process(item, path)
            whole = whole_file_level(item.duration_s)
            cases = [
                Case(f"{whole:g} px/s (whole file)", whole, 1024, args.samples),
                Case("2 px/s", 2.0, 1024, args.samples),
                Case("16 px/s", 16.0, 1024, args.samples),
                Case("128 px/s", 128.0, 1024, args.samples),
                Case("128 px/s, n_fft 2048", 128.0, 2048, args.samples),
                Case(f"{whole:g} px/s, n_fft 2048", whole, 2048, args.slow_samples),
            ]
            rng = random.Random(args.seed)
            timings = [time_case(item, case, rng) for case in cases]
            sections.append(report(name, item, process_s, timings))
            print(f"{name} done", file=sys.stderr)
    print("\n".join(["Spectrogram tiles (`services.spectrogram_tile`, in-process)", *header]))
    print()
    print("\n\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

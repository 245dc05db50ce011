"""Benchmark: inference throughput on a 1-hour recording, CPU (and CUDA when present).

    nice -n 10 .venv/bin/python -m bench.bench_ml_throughput
    nice -n 10 .venv/bin/python -m bench.bench_ml_throughput --duration-s 600   # quick look

The recording is ESC-10 soundscapes (``bench.soundscapes``) repeated to the duration, or
pink noise without ``../shared/data``. Timed, end to end from the float32 signal in memory:
windowing, log-mel, the model, pooling / decoding, for the clip CNN (``predict_long``, 5 s
windows), the MFCC baseline (same) and the segment detector (``detect_segments``, 10 s
windows every 5 s). Weights are random (speed does not depend on them). Prints markdown and
writes ``bench/out/ml_throughput.json``. Target: >= 200x realtime on CPU.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from bench.harness import machine, machine_lines, table, write_json
from bench.ml_data import ESC10_ROOT, OUT_DIR, SAMPLE_RATE_HZ, load_esc10, set_threads
from bench.soundscapes import clip_pools, pink_noise, soundscape
from ml_worker.features import LogMel, LogMelConfig
from ml_worker.inference import DecodeConfig, detect_segments, predict_long
from ml_worker.models import ClipCNN, MfccLogReg, SegmentCRNN

TARGET = 200.0


def recording(duration_s: float) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(0)
    n = round(duration_s * SAMPLE_RATE_HZ)
    if not (ESC10_ROOT / "metadata.csv").is_file():
        return (0.05 * pink_noise(n, rng)).astype(np.float32)
    pools = clip_pools(load_esc10(), {1, 2, 3, 4, 5})
    block = soundscape(*pools, duration_s=300.0, rng=rng).signal
    return np.resize(block, n).astype(np.float32)


def timed(run: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best (wall seconds, CPU seconds of this process) over ``repeat`` runs. CPU time is what
    the work costs even when other jobs share the cores; wall time is what a user waits."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        run()
        best = min(best, (time.perf_counter() - started, time.process_time() - cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration-s", type=float, default=3600.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--hops", default="320,640", help="log-mel hop lengths (samples)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=str(OUT_DIR / "ml_throughput.json"))
    args = parser.parse_args()
    set_threads(args.threads)
    info = machine()
    signal = recording(args.duration_s)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results: list[dict[str, Any]] = []
    for device in devices:
        for hop_length in (int(h) for h in args.hops.split(",")):
            config = LogMelConfig(hop_length=hop_length)
            frontend = LogMel(config).to(device)
            torch.manual_seed(0)
            cnn = ClipCNN(10, n_mels=config.n_mels).to(device).eval()
            baseline = MfccLogReg(10, n_mels=config.n_mels).to(device).eval()
            crnn = SegmentCRNN(7, n_mels=config.n_mels, channels=(16, 32, 64)).to(device).eval()
            with torch.inference_mode():  # first calls pay one-off lazy initialisation
                warm = frontend(torch.zeros(2, 10 * SAMPLE_RATE_HZ, device=device))
                cnn(warm), baseline(warm), crnn(warm)
            clip_args: dict[str, Any] = {
                "frontend": frontend,
                "sample_rate_hz": SAMPLE_RATE_HZ,
                "window_s": 5.0,
                "hop_s": 5.0,
                "batch_size": 32,
            }
            cases: dict[str, Callable[[], Any]] = {
                "ClipCNN, 5 s windows": partial(predict_long, cnn, signal, **clip_args),
                "MFCC baseline, 5 s windows": partial(predict_long, baseline, signal, **clip_args),
                "SegmentCRNN, 10 s windows / 5 s hop": partial(
                    detect_segments,
                    crnn,
                    signal,
                    frontend=frontend,
                    window_s=10.0,
                    hop_s=5.0,
                    decode=DecodeConfig(),
                    batch_size=16,
                ),
            }
            for name, run in cases.items():
                seconds, cpu_s = timed(run, args.repeat)
                results.append(
                    {
                        "device": device,
                        "model": name,
                        "hop_ms": 1000 * config.hop_s,
                        "seconds": seconds,
                        "cpu_seconds": cpu_s,
                        "x_realtime": args.duration_s / seconds,
                        "x_realtime_per_cpu_second": args.duration_s / cpu_s,
                    }
                )
                print(f"  {device} {name} hop {hop_length}: {seconds:.1f} s", flush=True)
    print(
        table(
            [
                "device",
                "model",
                "log-mel hop",
                "wall (s)",
                "x realtime (wall)",
                "CPU (s)",
                "x realtime per CPU-second",
            ],
            [
                [
                    r["device"],
                    r["model"],
                    f"{r['hop_ms']:.0f} ms",
                    f"{r['seconds']:.1f}",
                    f"**{r['x_realtime']:.0f}x**",
                    f"{r['cpu_seconds']:.1f}",
                    f"{r['x_realtime_per_cpu_second']:.0f}x",
                ]
                for r in results
            ],
        )
    )
    print(f"\nrecording: {args.duration_s / 3600:.2f} h at 16 kHz; target >= {TARGET:.0f}x on CPU")
    print("\n".join(machine_lines(info)))
    write_json(
        Path(args.json),
        {
            "benchmark": "inference_throughput",
            "machine": info,
            "duration_s": args.duration_s,
            "threads": args.threads,
            "results": results,
            "target": TARGET,
        },
    )


if __name__ == "__main__":
    main()

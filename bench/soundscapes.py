"""Generator of long soundscapes with known events, from ESC-10 clips.

Event classes are the ESC-10 sounds that happen at a time (dog, rooster, crying baby,
sneezing, clock tick, helicopter, chainsaw); the textures (rain, sea waves, crackling fire)
make the background, with a little pink noise. Each event clip is trimmed to its active part
(20 ms frames within 30 dB of the clip's loudest frame, first to last), which is then the
ground-truth span: silences inside (between two barks) belong to the event. Events do not
overlap; each is scaled to a random SNR against the background's RMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench.ml_data import SAMPLE_RATE_HZ, Dataset
from ml_worker.training import Event

EVENT_CLASSES = (
    "dog",
    "rooster",
    "crying_baby",
    "sneezing",
    "clock_tick",
    "helicopter",
    "chainsaw",
)
BACKGROUND_CLASSES = ("rain", "sea_waves", "crackling_fire")
FRAME = SAMPLE_RATE_HZ // 50  # 20 ms


def trim_active(
    clip: npt.NDArray[np.float32], *, floor_db: float = 30.0
) -> npt.NDArray[np.float32]:
    """The span from the first to the last 20 ms frame within ``floor_db`` of the loudest."""
    frames = clip[: clip.size - clip.size % FRAME].reshape(-1, FRAME)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) + 1e-12
    active = np.flatnonzero(20 * np.log10(rms / rms.max()) >= -floor_db)
    return clip[active[0] * FRAME : (active[-1] + 1) * FRAME].copy()


def pink_noise(n: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Unit-RMS pink (1/f) noise of ``n`` samples."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    noise = np.fft.irfft(spectrum, n)
    return (noise / (noise.std() + 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class Soundscape:
    signal: npt.NDArray[np.float32]
    events: tuple[Event, ...]


def clip_pools(
    data: Dataset, folds: set[int]
) -> tuple[list[tuple[str, npt.NDArray[np.float32]]], list[npt.NDArray[np.float32]]]:
    """(trimmed event clips with their label, background clips) from the given folds."""
    events, backgrounds = [], []
    for signal, label, fold in zip(data.signals, data.labels, data.groups, strict=True):
        if int(fold) not in folds:
            continue
        name = data.class_names[int(label)]
        if name in EVENT_CLASSES:
            events.append((name, trim_active(signal)))
        elif name in BACKGROUND_CLASSES:
            backgrounds.append(signal)
    return events, backgrounds


def soundscape(
    events: list[tuple[str, npt.NDArray[np.float32]]],
    backgrounds: list[npt.NDArray[np.float32]],
    *,
    duration_s: float,
    rng: np.random.Generator,
    snr_db: tuple[float, float] = (0.0, 12.0),
    gap_s: tuple[float, float] = (0.5, 4.0),
    max_event_s: float = 5.0,
) -> Soundscape:
    """One soundscape of ``duration_s`` seconds at 16 kHz with its events (seconds)."""
    n = round(duration_s * SAMPLE_RATE_HZ)
    background = np.concatenate(
        [backgrounds[int(rng.integers(len(backgrounds)))] for _ in range(n // 80000 + 1)]
    )[:n]
    background = 0.05 * background / (background.std() + 1e-9) + 0.005 * pink_noise(n, rng)
    level = float(background.std())
    signal = background.astype(np.float32)
    placed: list[Event] = []
    t = round(rng.uniform(*gap_s) * SAMPLE_RATE_HZ)
    while True:
        label, clip = events[int(rng.integers(len(events)))]
        clip = clip[: round(max_event_s * SAMPLE_RATE_HZ)]
        if t + clip.size >= n:
            break
        gain = level * 10 ** (rng.uniform(*snr_db) / 20) / (clip.std() + 1e-9)
        signal[t : t + clip.size] += gain * clip
        placed.append(Event(t / SAMPLE_RATE_HZ, (t + clip.size) / SAMPLE_RATE_HZ, label))
        t += clip.size + round(rng.uniform(*gap_s) * SAMPLE_RATE_HZ)
    peak = float(np.abs(signal).max())
    if peak > 0.99:
        signal *= 0.99 / peak
    return Soundscape(signal=signal, events=tuple(placed))

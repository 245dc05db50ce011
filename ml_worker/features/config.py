"""The log-mel feature configuration shared by training, inference and the feature cache."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

# Bump when the computation behind a config changes (so every cached feature is invalidated).
FEATURE_IMPL_VERSION = 1


@dataclass(frozen=True)
class LogMelConfig:
    """How audio becomes log-mel features.

    Power spectrogram of Hann-windowed frames (``n_fft`` samples, window length ``n_fft``,
    centred frames with zero padding), projected on ``n_mels`` Slaney-normalised triangular
    mel filters from ``fmin_hz`` to ``fmax_hz`` (``None``: the Nyquist frequency), then
    ``log(mel_power + log_offset)`` (natural log). A signal of ``n`` samples gives
    ``1 + n // hop_length`` frames; frame ``i`` is centred on sample ``i * hop_length``.
    """

    sample_rate_hz: int = 16000
    n_fft: int = 1024
    hop_length: int = 320  # samples: 20 ms at 16 kHz
    n_mels: int = 64
    fmin_hz: float = 50.0
    fmax_hz: float | None = None
    log_offset: float = 1e-6

    def __post_init__(self) -> None:
        if self.sample_rate_hz <= 0 or self.n_fft <= 0 or self.hop_length <= 0:
            raise ValueError("sample_rate_hz, n_fft and hop_length must be positive")
        if self.n_mels <= 0:
            raise ValueError("n_mels must be positive")
        if not 0 <= self.fmin_hz < self.fmax_hz_resolved:
            raise ValueError(
                f"need 0 <= fmin_hz < fmax_hz <= Nyquist ({self.sample_rate_hz / 2} Hz), "
                f"got fmin_hz={self.fmin_hz}, fmax_hz={self.fmax_hz}"
            )
        if self.fmax_hz_resolved > self.sample_rate_hz / 2:
            raise ValueError(f"fmax_hz {self.fmax_hz} is above Nyquist")
        if self.log_offset <= 0:
            raise ValueError("log_offset must be positive")

    @property
    def fmax_hz_resolved(self) -> float:
        """``fmax_hz``, or the Nyquist frequency (``sample_rate_hz / 2``) when it is ``None``."""
        return float(self.sample_rate_hz) / 2 if self.fmax_hz is None else float(self.fmax_hz)

    @property
    def hop_s(self) -> float:
        """Seconds between frames."""
        return self.hop_length / self.sample_rate_hz

    @property
    def n_freq_bins(self) -> int:
        """STFT bins per frame: ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def n_frames(self, n_samples: int) -> int:
        """Frames for a signal of ``n_samples`` samples: ``1 + n_samples // hop_length``."""
        return 1 + n_samples // self.hop_length

    def to_json(self) -> dict[str, Any]:
        """Plain values (JSON and ``torch.load(weights_only=True)`` friendly)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogMelConfig:
        fmax = data.get("fmax_hz")
        return cls(
            sample_rate_hz=int(data["sample_rate_hz"]),
            n_fft=int(data["n_fft"]),
            hop_length=int(data["hop_length"]),
            n_mels=int(data["n_mels"]),
            fmin_hz=float(data["fmin_hz"]),
            fmax_hz=None if fmax is None else float(fmax),
            log_offset=float(data["log_offset"]),
        )

    @property
    def key(self) -> str:
        """A stable, file-name-safe identity, e.g. ``logmel-v1-3f2a9c0d1e4b5a67``.

        Equal for equal configs across processes and Python versions (sha256 of the sorted
        JSON of the fields with ``fmax_hz`` resolved, plus ``FEATURE_IMPL_VERSION``), so it
        can name cache folders; any changed field changes it.
        """
        fields = self.to_json()
        fields["fmax_hz"] = self.fmax_hz_resolved
        fields["impl"] = FEATURE_IMPL_VERSION
        blob = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        return f"logmel-v{FEATURE_IMPL_VERSION}-{hashlib.sha256(blob).hexdigest()[:16]}"

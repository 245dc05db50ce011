"""Convolutional models on log-mel: a clip classifier and a frame-level event detector."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ml_worker.models.base import ClipModel, EarmarkModel, check_features


def _conv_block(in_channels: int, out_channels: int, pool: tuple[int, int]) -> nn.Sequential:
    """3x3 conv (no bias) -> BatchNorm -> ReLU -> average pooling by ``pool`` (freq, time)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.AvgPool2d(kernel_size=pool, stride=pool, ceil_mode=True),
    )


class ClipCNN(ClipModel):
    """Compact CNN clip classifier (PANNs-style, one conv per block).

    Input log-mel ``(batch, n_mels, frames)`` float32, any ``frames >= 1``; output logits
    ``(batch, n_classes)``. Layers: BatchNorm over mel bins (per-bin input standardisation),
    then per entry of ``channels`` a block conv3x3-BN-ReLU-avgpool 2x2, then the mean over
    frequency, then the mean and the max over time concatenated (the embedding,
    ``2 * channels[-1]`` wide), dropout and a linear head. Default channels (32, 64, 128, 256):
    about 0.39 M parameters.
    """

    architecture = "ClipCNN"

    def __init__(
        self,
        n_classes: int,
        *,
        n_mels: int,
        multi_label: bool = False,
        channels: Sequence[int] = (32, 64, 128, 256),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if n_classes < 1 or n_mels < 1 or not channels:
            raise ValueError("n_classes, n_mels and channels must be non-empty/positive")
        self.n_classes = n_classes
        self.n_mels = n_mels
        self.multi_label = multi_label
        self.channels = tuple(int(c) for c in channels)
        self.dropout_p = float(dropout)
        self.input_norm = nn.BatchNorm1d(n_mels)
        widths = (1, *self.channels)
        self.blocks = nn.Sequential(
            *(_conv_block(widths[i], widths[i + 1], (2, 2)) for i in range(len(self.channels)))
        )
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Linear(2 * self.channels[-1], n_classes)

    @property
    def embedding_dim(self) -> int:
        return 2 * self.channels[-1]

    def embed(self, features: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` -> ``(batch, 2 * channels[-1])`` pooled conv features."""
        check_features(features, self.n_mels)
        x = self.input_norm(features).unsqueeze(1)  # (batch, 1, n_mels, frames)
        x = self.blocks(x).mean(dim=2)  # (batch, C, frames')
        return torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)

    def forward(self, features: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` float32 -> logits ``(batch, n_classes)``."""
        out: Tensor = self.head(self.dropout(self.embed(features)))
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "n_classes": self.n_classes,
            "n_mels": self.n_mels,
            "multi_label": self.multi_label,
            "channels": list(self.channels),
            "dropout": self.dropout_p,
        }

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> ClipCNN:
        return cls(
            int(description["n_classes"]),
            n_mels=int(description["n_mels"]),
            multi_label=bool(description["multi_label"]),
            channels=[int(c) for c in description["channels"]],
            dropout=float(description["dropout"]),
        )


class SegmentCRNN(EarmarkModel):
    """Convolutional-recurrent sound event detector with frame-level output.

    Input log-mel ``(batch, n_mels, frames)`` float32; output logits
    ``(batch, frames, n_classes)``, one row per input frame (the log-mel hop, e.g. 20 ms):
    the conv blocks pool frequency only (2x1), so time resolution is kept. Layers: BatchNorm
    over mel bins, conv3x3-BN-ReLU-avgpool(2, 1) per entry of ``channels``, the remaining
    frequency bins flattened into the channel axis, a bidirectional GRU (``gru_hidden`` per
    direction, ``gru_layers`` layers), dropout and a per-frame linear head. ``multi_label``
    defaults to True (events may overlap).
    """

    architecture = "SegmentCRNN"

    def __init__(
        self,
        n_classes: int,
        *,
        n_mels: int,
        multi_label: bool = True,
        channels: Sequence[int] = (32, 64, 128),
        gru_hidden: int = 64,
        gru_layers: int = 1,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if n_classes < 1 or n_mels < 1 or not channels:
            raise ValueError("n_classes, n_mels and channels must be non-empty/positive")
        self.n_classes = n_classes
        self.n_mels = n_mels
        self.multi_label = multi_label
        self.channels = tuple(int(c) for c in channels)
        self.gru_hidden = int(gru_hidden)
        self.gru_layers = int(gru_layers)
        self.dropout_p = float(dropout)
        self.input_norm = nn.BatchNorm1d(n_mels)
        widths = (1, *self.channels)
        self.blocks = nn.Sequential(
            *(_conv_block(widths[i], widths[i + 1], (2, 1)) for i in range(len(self.channels)))
        )
        freq_bins = n_mels
        for _ in self.channels:
            freq_bins = math.ceil(freq_bins / 2)
        self.gru = nn.GRU(
            input_size=self.channels[-1] * freq_bins,
            hidden_size=self.gru_hidden,
            num_layers=self.gru_layers,
            batch_first=True,
            bidirectional=True,
            dropout=self.dropout_p if self.gru_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Linear(2 * self.gru_hidden, n_classes)

    def forward(self, features: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` float32 -> logits ``(batch, frames, n_classes)``."""
        check_features(features, self.n_mels)
        x = self.input_norm(features).unsqueeze(1)  # (batch, 1, n_mels, frames)
        x = self.blocks(x)  # (batch, C, n_mels', frames)
        batch, channels, freq, frames = x.shape
        x = x.reshape(batch, channels * freq, frames).transpose(1, 2)  # (batch, frames, C*F')
        x, _ = self.gru(x)  # (batch, frames, 2 * hidden)
        out: Tensor = self.head(self.dropout(x))
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "n_classes": self.n_classes,
            "n_mels": self.n_mels,
            "multi_label": self.multi_label,
            "channels": list(self.channels),
            "gru_hidden": self.gru_hidden,
            "gru_layers": self.gru_layers,
            "dropout": self.dropout_p,
        }

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> SegmentCRNN:
        return cls(
            int(description["n_classes"]),
            n_mels=int(description["n_mels"]),
            multi_label=bool(description["multi_label"]),
            channels=[int(c) for c in description["channels"]],
            gru_hidden=int(description["gru_hidden"]),
            gru_layers=int(description["gru_layers"]),
            dropout=float(description["dropout"]),
        )


__all__ = ["ClipCNN", "EarmarkModel", "SegmentCRNN"]

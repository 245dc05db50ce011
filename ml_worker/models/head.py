"""A small classifier head on precomputed embeddings (bring-your-own embedding models)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ml_worker.models.base import EarmarkModel


class EmbeddingHead(EarmarkModel):
    """Logistic regression (``hidden == 0``) or a one-hidden-layer MLP on embeddings.

    Input ``(batch, dim)`` float32 embeddings (not log-mel: ``n_mels`` is 0); output logits
    ``(batch, n_classes)``. The inputs are standardised with the training set's per-dimension
    mean and standard deviation, kept as buffers so the checkpoint carries them.
    ``embedding`` describes where the inputs come from (``EmbeddingModelSpec.to_json()`` plus
    the model file's sha256); it is stored, not interpreted.
    """

    architecture = "EmbeddingHead"
    mean: Tensor
    scale: Tensor

    def __init__(
        self,
        n_classes: int,
        *,
        dim: int,
        multi_label: bool = False,
        hidden: int = 0,
        dropout: float = 0.0,
        embedding: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if n_classes < 1 or dim < 1 or hidden < 0:
            raise ValueError("n_classes and dim must be >= 1, hidden >= 0")
        self.n_classes = n_classes
        self.n_mels = 0
        self.dim = dim
        self.multi_label = multi_label
        self.hidden = hidden
        self.dropout_p = float(dropout)
        self.embedding = dict(embedding or {})
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        layers: list[nn.Module] = [nn.Dropout(self.dropout_p)]
        if hidden:
            layers += [nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(self.dropout_p)]
        layers.append(nn.Linear(hidden or dim, n_classes))
        self.net = nn.Sequential(*layers)

    def set_standardisation(self, embeddings: Tensor) -> None:
        """Set the input mean and scale from training embeddings ``(n, dim)``."""
        self.mean.copy_(embeddings.mean(dim=0))
        self.scale.copy_(embeddings.std(dim=0, unbiased=False).clamp_min(1e-6))

    def forward(self, embeddings: Tensor) -> Tensor:
        """``(batch, dim)`` float32 -> logits ``(batch, n_classes)``."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.dim:
            raise ValueError(
                f"expected embeddings (batch, {self.dim}), got shape {tuple(embeddings.shape)}"
            )
        out: Tensor = self.net((embeddings - self.mean) / self.scale)
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "n_classes": self.n_classes,
            "dim": self.dim,
            "multi_label": self.multi_label,
            "hidden": self.hidden,
            "dropout": self.dropout_p,
            "embedding": dict(self.embedding),
        }

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> EmbeddingHead:
        return cls(
            int(description["n_classes"]),
            dim=int(description["dim"]),
            multi_label=bool(description["multi_label"]),
            hidden=int(description["hidden"]),
            dropout=float(description["dropout"]),
            embedding=dict(description.get("embedding") or {}),
        )

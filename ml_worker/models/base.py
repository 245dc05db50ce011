"""What every Earmark model has: a class count, a label mode and a description for checkpoints."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn


class EarmarkModel(nn.Module):
    """Base of the models: input is log-mel ``(batch, n_mels, frames)`` float32.

    ``describe()`` returns plain values (the architecture name and every constructor
    hyperparameter), enough for ``build_model`` to rebuild an untrained twin; the weights
    travel separately as the ``state_dict``.
    """

    architecture: ClassVar[str]
    n_classes: int
    n_mels: int
    multi_label: bool

    def describe(self) -> dict[str, Any]:
        """``{"architecture": name, **hyperparameters}`` of plain JSON values."""
        raise NotImplementedError

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> EarmarkModel:
        """An untrained model with the hyperparameters of ``describe()`` output."""
        raise NotImplementedError

    def logits(self, features: Tensor) -> Tensor:
        """Typed ``self(features)``: the model's raw scores (see the subclass for the shape)."""
        out: Tensor = self(features)
        return out

    def probabilities(self, logits: Tensor) -> Tensor:
        """Sigmoid per class when ``multi_label``, else softmax over the last axis."""
        return logits.sigmoid() if self.multi_label else logits.softmax(dim=-1)

    @property
    def n_parameters(self) -> int:
        """Trainable parameter count."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class ClipModel(EarmarkModel):
    """A clip classifier: ``(batch, n_mels, frames)`` -> logits ``(batch, n_classes)``."""

    def embed(self, features: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` -> embedding ``(batch, embedding_dim)`` before the head."""
        raise NotImplementedError


def check_features(features: Tensor, n_mels: int) -> None:
    """Raise ``ValueError`` unless ``features`` is ``(batch, n_mels, frames)``."""
    if features.ndim != 3 or features.shape[1] != n_mels:
        raise ValueError(
            f"expected log-mel (batch, {n_mels}, frames), got shape {tuple(features.shape)}"
        )

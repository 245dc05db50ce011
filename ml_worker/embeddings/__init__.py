"""Bring your own embedding model: a TorchScript or ONNX file maps waveform windows to
embeddings; Earmark embeds every item once (cached by the file's sha256) and trains only a
small head on them (no Django, no Celery)."""

from ml_worker.embeddings.head import HeadConfig, predict_embeddings, train_embedding_head
from ml_worker.embeddings.items import (
    embed_items,
    embedding_cache,
    item_window_embeddings,
    pool_windows,
)
from ml_worker.embeddings.model import (
    EmbeddingModel,
    EmbeddingModelError,
    EmbeddingModelSpec,
    load_embedding_model,
)

__all__ = [
    "EmbeddingModel",
    "EmbeddingModelError",
    "EmbeddingModelSpec",
    "HeadConfig",
    "embed_items",
    "embedding_cache",
    "item_window_embeddings",
    "load_embedding_model",
    "pool_windows",
    "predict_embeddings",
    "train_embedding_head",
]

"""Loading a project's own embedding model (TorchScript ``.pt`` or ONNX ``.onnx``).

The model maps waveform windows ``(batch, samples)`` float32 at a declared sample rate and
window length to embeddings ``(batch, dim)`` float32. Earmark never trains it: it runs it
once per item window (cached) and trains a small head on the result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch

from ml_worker.features import sha256_file

Format = Literal["torchscript", "onnx"]
SUFFIX_FORMATS: dict[str, Format] = {".pt": "torchscript", ".pth": "torchscript", ".onnx": "onnx"}


class EmbeddingModelError(ValueError):
    """The file cannot be used as an embedding model (unreadable, wrong shapes)."""


@dataclass(frozen=True)
class EmbeddingModelSpec:
    """What a project declares about its model file.

    ``sample_rate_hz`` and ``window_s``: the input the model expects (``round(window_s *
    sample_rate_hz)`` samples per row); ``hop_s``: how far apart Earmark cuts windows of an
    item (defaults to ``window_s``, no overlap); ``format``: from the suffix when None
    (``.pt``/``.pth`` TorchScript, ``.onnx`` ONNX).
    """

    path: str
    sample_rate_hz: int
    window_s: float
    hop_s: float | None = None
    format: Format | None = None

    def __post_init__(self) -> None:
        if self.sample_rate_hz <= 0 or self.window_s <= 0:
            raise ValueError("sample_rate_hz and window_s must be positive")
        if self.hop_s is not None and self.hop_s <= 0:
            raise ValueError("hop_s must be positive")

    @property
    def window_samples(self) -> int:
        return round(self.window_s * self.sample_rate_hz)

    @property
    def hop_s_resolved(self) -> float:
        return self.window_s if self.hop_s is None else self.hop_s

    @property
    def format_resolved(self) -> Format:
        if self.format is not None:
            return self.format
        found = SUFFIX_FORMATS.get(Path(self.path).suffix.lower())
        if found is None:
            raise EmbeddingModelError(
                f"cannot tell the format of {self.path}: use .pt (TorchScript) or .onnx"
            )
        return found

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmbeddingModelSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class EmbeddingModel:
    """A loaded embedding model: ``embed(windows)`` maps ``(batch, window_samples)`` float32
    to ``(batch, dim)`` float32 (numpy in, numpy out). ``sha256`` identifies the file's bytes
    (cache key); ``key`` adds the windowing, so a changed window invalidates the cache."""

    def __init__(
        self,
        spec: EmbeddingModelSpec,
        run: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]],
        *,
        sha256: str,
    ) -> None:
        self.spec = spec
        self._run = run
        self.sha256 = sha256
        self.dim = int(self.embed(np.zeros((1, spec.window_samples), dtype=np.float32)).shape[1])

    @property
    def key(self) -> str:
        """File-name-safe identity of model bytes + windowing, e.g. ``emb-3f2a...-9c0d``."""
        spec = self.spec
        windowing = f"{spec.sample_rate_hz}:{spec.window_samples}:{spec.hop_s_resolved}"
        tail = hashlib.sha256(windowing.encode()).hexdigest()[:8]
        return f"emb-{self.sha256[:16]}-{tail}"

    def embed(self, windows: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
        """``(batch, window_samples)`` float32 -> ``(batch, dim)`` float32; raises
        ``EmbeddingModelError`` when the model returns another shape or non-finite values."""
        x = np.ascontiguousarray(windows, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.spec.window_samples:
            raise ValueError(
                f"expected windows (batch, {self.spec.window_samples}), got shape {x.shape}"
            )
        out = np.asarray(self._run(x), dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != x.shape[0]:
            raise EmbeddingModelError(
                f"the embedding model returned shape {out.shape} for input {x.shape}; "
                "it must return (batch, dim)"
            )
        if not np.isfinite(out).all():
            raise EmbeddingModelError("the embedding model returned NaN or infinity")
        return out


def load_embedding_model(
    spec: EmbeddingModelSpec, *, device: torch.device | str = "cpu"
) -> EmbeddingModel:
    """Load ``spec.path`` and check it on one silent window.

    TorchScript: ``torch.jit.load`` (no Python code is unpickled), eval mode, inference mode,
    on ``device``. ONNX: an ``onnxruntime.InferenceSession`` (CUDA provider first when
    ``device`` is CUDA and it is available, else CPU); the first graph input is fed.
    Raises ``FileNotFoundError`` or ``EmbeddingModelError``.
    """
    path = Path(spec.path)
    if not path.is_file():
        raise FileNotFoundError(f"no embedding model at {path}")
    digest = sha256_file(path)
    fmt = spec.format_resolved
    try:
        run = (
            _torchscript(path, torch.device(device))
            if fmt == "torchscript"
            else _onnx(path, device)
        )
        return EmbeddingModel(spec, run, sha256=digest)
    except EmbeddingModelError:
        raise
    except Exception as exc:  # a user's file can fail in any way; say which file
        raise EmbeddingModelError(f"cannot use {path} as a {fmt} embedding model: {exc}") from exc


def _torchscript(
    path: Path, device: torch.device
) -> Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]:
    module = torch.jit.load(str(path), map_location=device)  # type: ignore[no-untyped-call]
    module.eval()

    def run(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        with torch.inference_mode():
            out = module(torch.from_numpy(x).to(device))
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32)

    return run


def _onnx(
    path: Path, device: torch.device | str
) -> Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]:
    import onnxruntime  # heavy; only projects with an ONNX model need it

    providers = ["CPUExecutionProvider"]
    if torch.device(device).type == "cuda" and (
        "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    ):
        providers.insert(0, "CUDAExecutionProvider")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=providers)
    input_name = session.get_inputs()[0].name

    def run(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(session.run(None, {input_name: x})[0], dtype=np.float32)

    return run

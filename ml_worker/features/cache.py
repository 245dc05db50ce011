"""A small on-disk cache of computed features (``.npy`` files written atomically).

Layout: ``ROOT/<config key>/<2 hex>/<sha256 of the item key>.npy``. An item key is the
content sha256 of the audio (``sha256_file``) or any string the caller builds (e.g. from a
storage key, its sha256 and a window). A changed feature config lands in another folder, so
its entries are never mixed up; ``prune_other_configs`` deletes the folders of other configs.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ml_worker.features.atomic import atomic_write
from ml_worker.features.config import LogMelConfig

_CHUNK_BYTES = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class FeatureCache:
    """Get-or-compute cache of float32 feature arrays for one feature config.

    ``hits`` and ``misses`` count lookups since construction. Not locked: two processes
    computing the same item both write it, and the last atomic rename wins (same content).
    """

    def __init__(self, root: str | Path, config: LogMelConfig | str) -> None:
        """``config``: the feature config, or any config key string (``LogMelConfig.key``)."""
        self.root = Path(root)
        self.config_key = config.key if isinstance(config, LogMelConfig) else str(config)
        if not self.config_key or "/" in self.config_key or self.config_key.startswith("."):
            raise ValueError(f"unusable config key {self.config_key!r}")
        self.hits = 0
        self.misses = 0

    @property
    def folder(self) -> Path:
        """Where this config's entries live."""
        return self.root / self.config_key

    def path_for(self, key: str) -> Path:
        """The file that holds item ``key`` (it may not exist)."""
        name = hashlib.sha256(key.encode()).hexdigest()
        return self.folder / name[:2] / f"{name}.npy"

    def get_or_compute(
        self, key: str, compute: Callable[[], npt.NDArray[np.float32]]
    ) -> npt.NDArray[np.float32]:
        """The cached array for ``key``, else ``compute()`` stored then returned.

        Arrays are stored as float32 ``.npy`` (no pickles); an unreadable entry (e.g. damaged
        by hand) counts as a miss and is recomputed and replaced.
        """
        path = self.path_for(key)
        if path.is_file():
            try:
                cached = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                pass
            else:
                self.hits += 1
                return np.asarray(cached, dtype=np.float32)
        self.misses += 1
        value = np.ascontiguousarray(compute(), dtype=np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda handle: np.save(handle, value, allow_pickle=False))
        return value

    def invalidate(self, key: str) -> bool:
        """Drop item ``key``; ``True`` when there was one."""
        path = self.path_for(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def prune_other_configs(self) -> list[str]:
        """Delete the folders of every other config key under ``root``; returns their names."""
        removed: list[str] = []
        if not self.root.is_dir():
            return removed
        for child in sorted(self.root.iterdir()):
            if child.is_dir() and child.name != self.config_key:
                shutil.rmtree(child)
                removed.append(child.name)
        return removed

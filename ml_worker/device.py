"""Device choice for torch work: CUDA when present, else the CPU with a sensible thread count."""

from __future__ import annotations

import torch

from ml_worker.contracts import WorkerInfo


def pick_device() -> torch.device:
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def configure_threads(threads: int) -> None:
    """Limit intra-op threads; several workers on one machine must not oversubscribe cores."""
    torch.set_num_threads(max(1, threads))


def worker_info() -> WorkerInfo:
    return WorkerInfo(
        device=str(pick_device()),
        torch_version=str(torch.__version__),
        cpu_threads=torch.get_num_threads(),
    )

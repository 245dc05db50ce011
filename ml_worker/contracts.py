"""What crosses the boundary between the backend and the ML worker.

Frozen dataclasses of plain values and the names of tasks and queues. The backend imports
nothing else from ``ml_worker``; this module imports nothing outside the standard library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

QUEUE_ML = "ml"
# Every ML task name starts with this; both Celery apps route it to QUEUE_ML.
TASK_PREFIX = "earmark.ml."
TASK_PING = f"{TASK_PREFIX}ping"


@dataclass(frozen=True)
class WorkerInfo:
    """What an ML worker runs on, as reported by ``TASK_PING``."""

    device: str  # "cuda:0" or "cpu"
    torch_version: str
    cpu_threads: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerInfo:
        return cls(
            device=str(data["device"]),
            torch_version=str(data["torch_version"]),
            cpu_threads=int(data["cpu_threads"]),
        )

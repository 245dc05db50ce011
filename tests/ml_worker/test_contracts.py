import dataclasses

import pytest

from ml_worker.contracts import QUEUE_ML, TASK_PING, TASK_PREFIX, WorkerInfo
from ml_worker.device import worker_info


def test_worker_info_round_trips_through_json():
    info = WorkerInfo(device="cpu", torch_version="2.13.0", cpu_threads=2)
    assert WorkerInfo.from_json(info.to_json()) == info
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.device = "cuda:0"  # type: ignore[misc]


def test_task_names_route_to_the_ml_queue():
    assert TASK_PING.startswith(TASK_PREFIX)
    assert QUEUE_ML == "ml"


def test_worker_info_describes_this_machine():
    info = worker_info()
    assert info.device in ("cpu", "cuda:0")
    assert info.cpu_threads >= 1

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import torch

from tests.ml_worker.synth import tone_dataset


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """The test machine's cores are shared; one thread also makes CPU results reproducible."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tones() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """36 one-second clips, 3 tone classes x 12, as (36, 16, 51) log-mel and (36,) labels."""
    return tone_dataset()

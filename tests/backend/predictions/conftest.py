"""Fixtures shared by the training and queue-order tests."""

from __future__ import annotations

from typing import Any

import pytest

from backend.predictions import services


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, str]]:
    """What would go to the ML worker's queue (the integration tests send it for real)."""
    calls: list[tuple[int, int, str]] = []
    monkeypatch.setattr(services, "send_to_ml_worker", lambda *args: calls.append(args))
    return calls


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Any:
    """Run the after-commit hooks (the enqueued tasks, eager here) of what the block does."""
    return lambda: django_capture_on_commit_callbacks(execute=True)

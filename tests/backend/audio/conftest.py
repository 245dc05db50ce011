from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    """A private storage folder per test, so "nothing was stored" can be checked exactly."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]

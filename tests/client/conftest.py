"""The CLI runs against pytest-django's live server: the real application on a real port,
the test database behind it, Celery eager (jobs finish during the request that queues them)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from earmark_client import main
from tests.factories import UserFactory

PASSWORD = "pw-secret-123"  # the factories' password


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private home: the CLI's config file lands here, never in the real one."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("EARMARK_URL", raising=False)
    monkeypatch.delenv("EARMARK_TOKEN", raising=False)
    return home


@pytest.fixture
def earmark(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Run]:
    """Run ``earmark ARGS...`` in-process; ``stdin`` feeds standard input."""

    def run(*argv: str, stdin: str = "") -> Run:
        capsys.readouterr()
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli_user(transactional_db: None):
    return UserFactory(username="ml-engineer")


@pytest.fixture
def logged_in(live_server, cli_user, earmark) -> str:
    done = earmark(
        "login", "--url", live_server.url, "--username", cli_user.username, "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert done.code == 0, done.err
    return str(live_server.url)

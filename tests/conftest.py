from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from rest_framework.test import APIClient

from backend.config.env import ENV
from backend.projects.models import Membership, Project
from backend.users.models import User
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.worker import WorkerProcess


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    """A private storage folder per test, so "nothing was stored" can be checked exactly."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    def make(user: User) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def project(db: None) -> Project:
    return ProjectFactory()


@pytest.fixture
def member(project: Project) -> Callable[[str], User]:
    """A new user with the given role in ``project``."""

    def make(role: str) -> User:
        user = UserFactory()
        MembershipFactory(project=project, user=user, role=role)
        return user

    return make


@pytest.fixture
def manager(member: Callable[[str], User]) -> User:
    return member(Membership.Role.MANAGER)


@pytest.fixture
def annotator(member: Callable[[str], User]) -> User:
    return member(Membership.Role.ANNOTATOR)


@pytest.fixture
def reviewer(member: Callable[[str], User]) -> User:
    return member(Membership.Role.REVIEWER)


@pytest.fixture
def outsider(db: None) -> User:
    return UserFactory()


def _require_real_broker() -> None:
    """In CI the Redis broker must be there: a missing service fails, it never skips."""
    if ENV.is_ci and ENV.embedded_broker:
        pytest.fail("CI must run integration tests on Redis: set CELERY_BROKER_URL")


@pytest.fixture(scope="session")
def default_worker(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A real worker process consuming queue "default" for the whole session."""
    _require_real_broker()
    log = tmp_path_factory.mktemp("workers") / "default.log"
    worker = WorkerProcess(app="backend.config", queue="default", log_path=log).start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def ml_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    _require_real_broker()
    log = tmp_path_factory.mktemp("workers") / "ml.log"
    worker = WorkerProcess(app="ml_worker.celery_app", queue="ml", log_path=log).start()
    yield worker
    worker.stop()


@pytest.fixture
def not_eager() -> Iterator[None]:
    """Send tasks to the broker as the application does (unit tests run them eagerly)."""
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    yield
    current_app.conf.task_always_eager = previous

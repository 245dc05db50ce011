from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from backend.projects.models import Membership, Project
from backend.users.models import User
from tests.factories import MembershipFactory, ProjectFactory, UserFactory


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

from __future__ import annotations

from backend.users.models import User


def user_get_by_username(*, username: str) -> User | None:
    return User.objects.filter(username=username, is_active=True).first()

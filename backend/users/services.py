from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token

from backend.users.models import User


@transaction.atomic
def user_create(
    *, username: str, password: str | None, email: str = "", is_superuser: bool = False
) -> User:
    user = User(username=username, email=email, is_superuser=is_superuser, is_staff=is_superuser)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def token_rotate(*, user: User) -> Token:
    """Issue a fresh API token, revoking the previous one."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """An account. Roles are per project (see ``projects.Membership``), not global."""

    class Meta:
        db_table = "users_user"

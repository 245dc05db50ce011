from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "backend.users"
    label = "users"
    default_auto_field = "django.db.models.BigAutoField"

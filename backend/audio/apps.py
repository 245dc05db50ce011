from django.apps import AppConfig


class AudioConfig(AppConfig):
    name = "backend.audio"
    label = "audio"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "backend.annotations"
    label = "annotations"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class DataioConfig(AppConfig):
    name = "backend.dataio"
    label = "dataio"
    default_auto_field = "django.db.models.BigAutoField"

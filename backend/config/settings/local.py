"""Settings for the application as people run it (embedded or with services)."""

from backend.config.settings.base import *  # noqa: F403

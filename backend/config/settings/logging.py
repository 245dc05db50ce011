"""Logging: one line per record to stderr, level from DEBUG."""

from __future__ import annotations

from backend.config.env import ENV

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["stderr"], "level": "DEBUG" if ENV.debug else "INFO"},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

"""Earmark's machine-learning worker. Django-free: it talks to the backend only through
``contracts.py`` (frozen dataclasses and task names) and storage keys."""

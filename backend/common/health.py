"""Readiness checks of what the application depends on: database, broker, storage."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from celery import current_app
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    latency_ms: float


def _timed(name: str, fn: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail = fn()
        ok = True
    except Exception as exc:  # any failure is the answer, not a crash of the health endpoint
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return Check(name, ok, str(detail), round((time.perf_counter() - started) * 1000, 1))


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _broker() -> str:
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return str(conn.transport_cls)


def _storage() -> str:
    key = f"health/{uuid.uuid4().hex}.txt"
    name = default_storage.save(key, ContentFile(b"ok"))
    default_storage.delete(name)
    if ffmpeg := shutil.which("ffmpeg"):
        return f"{type(default_storage).__name__}; ffmpeg at {ffmpeg}"
    return f"{type(default_storage).__name__}; ffmpeg missing: MP3/M4A uploads are refused"


def run_checks() -> list[Check]:
    return [
        _timed("database", _database),
        _timed("broker", _broker),
        _timed("storage", _storage),
    ]

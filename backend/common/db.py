"""Small database helpers shared by services."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections


def commit_without_waiting(using: str = DEFAULT_DB_ALIAS) -> None:
    """Let the current transaction's commit return before its WAL reaches the disk
    (``SET LOCAL synchronous_commit TO OFF``; Postgres only, a no-op elsewhere).

    Only for writes that may be lost in a database crash without harm: Postgres then loses
    whole transactions, the last ones committed, never part of one, and never one that a later
    normal commit of the same server has already flushed. Call inside ``transaction.atomic``.
    """
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")

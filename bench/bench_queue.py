"""Benchmark: the labelling queue with a million items and 50 annotators asking at once.

    .venv/bin/python -m bench.bench_queue
    .venv/bin/python -m bench.bench_queue --items 1000000 --annotators 50 --rounds 20 \\
        --policy uncertainty --json out.json

Postgres on 127.0.0.1: a fresh database ``earmark_queue_<pid>``, migrated, dropped at the end.
One project wanting ``--per-item`` annotations per item, ``--items`` ready items written by one
``INSERT ... SELECT generate_series`` (never the ORM row by row), of which the first
``--full`` already have all their annotations and the next ``--partial`` have one (each by one
of the annotators, round robin, so everybody's own work is in the way too). Then
``VACUUM (ANALYZE)``.

Then ``--annotators`` threads, each with its own database connection, start together and do
``--rounds`` times what the annotator page does: ``GET next-item`` (claims a slot with a
lease), ``PATCH`` the draft with a clip label, ``POST submit``. Requests go through the whole
Django/DRF stack in process (``APIClient``, no network, no gunicorn), so the figures are the
application's and the database's, not a web server's. Printed: p50/p95/max latency per step,
throughput, the checks (no slot shared, counters equal to the leases and submissions), and
``EXPLAIN (ANALYZE, BUFFERS)`` of the locking read next-item runs per fill level.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness import (
    BenchError,
    machine,
    machine_lines,
    postgres_database,
    table,
    temp_var_dir,
    write_json,
)

SCHEMA: dict[str, Any] = {
    "clip_groups": [
        {
            "name": "scene",
            "choice": "single",
            "labels": ["street", "park", "home"],
            "required": True,
        }
    ],
    "segment_labels": [{"name": "dog", "color": "#e6194b", "hotkey": "1"}],
}
STEPS = ("next-item", "save", "submit")


class SqlClock:
    """Seconds spent in SQL on this thread's connection (``connection.execute_wrapper``)."""

    def __init__(self) -> None:
        self.total_s = 0.0
        self.statements = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.statements += 1
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.total_s += time.perf_counter() - t0


def _setup_django(database_url: str, var_dir: Path) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["EARMARK_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "backend.config.settings.local"
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from celery import current_app

    # Submissions enqueue training and agreement refreshes on commit; no worker runs here,
    # and sending to the embedded broker only writes files, so keep that out of the timing.
    current_app.conf.task_always_eager = False
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(
    *, items: int, full: int, partial: int, per_item: int, annotators: int, policy: str
) -> Any:
    """The project, its members and items; returns the project."""
    from django.db import connection

    from backend.audio.models import AudioItem
    from backend.projects.models import Membership, Project
    from backend.users.models import User

    project = Project.objects.create(
        name="queue bench",
        label_schema=SCHEMA,
        annotations_per_item=per_item,
        queue_policy=policy,
    )
    users = User.objects.bulk_create(User(username=f"annotator{i}") for i in range(annotators))
    Membership.objects.bulk_create(
        Membership(project=project, user=u, role=Membership.Role.ANNOTATOR) for u in users
    )
    overrides = {
        "created_at": "now()",
        "updated_at": "now()",
        "project": "%(project)s",
        "storage_key": "'bench/' || g || '.wav'",
        "original_name": "'rec' || g || '.wav'",
        "duration_s": "10",
        "sample_rate_hz": "16000",
        "channels": "1",
        "state": "'ready'",
        "active_annotations": (
            "CASE WHEN g <= %(full)s THEN %(k)s WHEN g <= %(full)s + %(partial)s THEN 1 ELSE 0 END"
        ),
        "submitted_annotations": (
            "CASE WHEN g <= %(full)s THEN %(k)s WHEN g <= %(full)s + %(partial)s THEN 1 ELSE 0 END"
        ),
        # A model's ranks: low (labelled first) for the items done already, scattered after.
        "queue_rank": "CASE WHEN g <= %(full)s THEN 0 ELSE ((g::bigint * 7919) %% 100003) END",
    }
    params: dict[str, Any] = {
        "project": project.pk,
        "full": full,
        "partial": partial,
        "k": per_item,
        "n": items,
    }
    columns, values = [], []
    for f in AudioItem._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(f'"{f.column}"')
        if f.name in overrides:
            values.append(overrides[f.name])
        elif f.null:
            values.append("NULL")
        else:
            params[f.name] = f.get_db_prep_save(f.get_default(), connection)
            values.append(f"%({f.name})s")
    table_name, names, exprs = AudioItem._meta.db_table, ", ".join(columns), ", ".join(values)
    insert_items = (
        f"INSERT INTO {table_name} ({names}) "  # noqa: S608 - names from the model
        f"SELECT {exprs} FROM generate_series(1, %(n)s) AS g"
    )
    # One submitted annotation on each partial item, by the annotators in turn.
    insert_annotations = """
        INSERT INTO annotations_annotation (created_at, updated_at, item_id, annotator_id, state,
            clip_labels, lead_time_s, version, submitted_at, review_state, is_reference)
        SELECT now(), now(), i.id, (%(first_user)s + (i.rn %% %(n_users)s)), 'submitted',
            '{"scene": ["park"]}', 1.0, 2, now(), 'pending', false
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM audio_audioitem
              WHERE project_id = %(project)s AND active_annotations = 1) AS i
    """
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(insert_items, params)
        cursor.execute(
            insert_annotations,
            {"project": project.pk, "first_user": users[0].pk, "n_users": len(users)},
        )
    print(f"seeded {items:,} items in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return project


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


def load(project: Any, *, rounds: int) -> dict[str, Any]:
    """Every annotator in its own thread: next-item, save, submit, ``rounds`` times."""
    from django.db import connection
    from rest_framework.test import APIClient

    from backend.users.models import User

    users = list(User.objects.filter(memberships__project=project).order_by("id"))
    barrier = threading.Barrier(len(users))
    timings: dict[str, list[float]] = {s: [] for s in STEPS}
    sql_timings: dict[str, list[float]] = {s: [] for s in STEPS}
    served: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()

    def work(user: Any) -> None:
        client = APIClient()
        client.force_authenticate(user)
        mine: dict[str, list[float]] = {s: [] for s in STEPS}
        mine_sql: dict[str, list[float]] = {s: [] for s in STEPS}
        got: list[int] = []
        clock = SqlClock()

        def timed(step: str, t0: float, sql0: float) -> None:
            mine[step].append(time.perf_counter() - t0)
            mine_sql[step].append(clock.total_s - sql0)

        try:
            connection.ensure_connection()
            stack = connection.execute_wrapper(clock)
            stack.__enter__()
            barrier.wait(timeout=120)
            for _ in range(rounds):
                t0, sql0 = time.perf_counter(), clock.total_s
                r = client.get(f"/api/projects/{project.pk}/next-item/")
                timed("next-item", t0, sql0)
                body = r.json()
                if r.status_code != 200 or body["item"] is None:
                    raise BenchError(f"next-item: {r.status_code} {str(body)[:200]}")
                got.append(body["item"]["id"])
                url = f"/api/annotations/{body['annotation']['id']}/"
                t0, sql0 = time.perf_counter(), clock.total_s
                r = client.patch(
                    url,
                    {"version": body["annotation"]["version"], "clip_labels": {"scene": ["park"]}},
                    format="json",
                )
                timed("save", t0, sql0)
                if r.status_code != 200:
                    raise BenchError(f"save: {r.status_code} {r.content[:200]!r}")
                t0, sql0 = time.perf_counter(), clock.total_s
                r = client.post(f"{url}submit/", {"version": r.json()["version"]}, format="json")
                timed("submit", t0, sql0)
                if r.status_code != 200:
                    raise BenchError(f"submit: {r.status_code} {r.content[:200]!r}")
        except Exception as exc:
            with lock:
                failures.append(f"{user.username}: {exc}")
        finally:
            connection.close()
            with lock:
                for s in STEPS:
                    timings[s].extend(mine[s])
                    sql_timings[s].extend(mine_sql[s])
                served.extend(got)

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall_s = time.perf_counter() - t0
    return {
        "timings": timings,
        "sql_timings": sql_timings,
        "served": served,
        "failures": failures,
        "wall_s": wall_s,
    }


def check(project: Any) -> dict[str, Any]:
    """Nobody shared a slot: no item above K, and every counter the services kept equals the
    slots really held (submissions plus leased drafts) on the items the run touched."""
    from django.db.models import Count, Q

    from backend.audio.models import AudioItem

    touched = AudioItem.objects.filter(
        project=project, annotations__created_at__gte=project.created_at
    ).distinct()
    rows = touched.annotate(
        held=Count(
            "annotations",
            filter=Q(annotations__state="submitted")
            | Q(annotations__state="draft", annotations__lease_expires_at__isnull=False),
        )
    ).values_list("id", "active_annotations", "held")
    over = [r for r in rows if r[1] > project.annotations_per_item]
    # The partial items' seeded annotations carry their seeded counts (both 1), so they agree.
    mismatched = [r for r in rows if r[1] != r[2]]
    return {"items_touched": len(rows), "over_k": len(over), "counter_mismatches": len(mismatched)}


def plans(project: Any) -> list[tuple[str, str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of the locking read of each fill level, for one annotator."""
    from django.db import transaction

    from backend.annotations.services import queue_claim_query
    from backend.users.models import User

    user = (
        User.objects.filter(memberships__project=project).order_by("id").get(username="annotator0")
    )
    out = []
    with transaction.atomic():
        for level in range(project.annotations_per_item):
            query = queue_claim_query(project=project, user=user, level=level)
            out.append((f"level {level}", query.explain(analyze=True, buffers=True)))
        transaction.set_rollback(True)
    return out


def single(project: Any, *, n: int) -> dict[str, Any]:
    """One annotator alone: next-item latency, its SQL time and statement count, ``n`` claims
    skipped in turn; and, as the yardstick of the machine's load, ``SELECT 1`` round trips."""
    from django.db import connection
    from rest_framework.test import APIClient

    from backend.users.models import User

    user = User.objects.filter(memberships__project=project).order_by("-id").first()
    client = APIClient()
    client.force_authenticate(user)
    out, sql, statements, select_1 = [], [], [], []
    clock = SqlClock()
    with connection.cursor() as cursor:
        for _ in range(200):
            t0 = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            select_1.append(time.perf_counter() - t0)
    with connection.execute_wrapper(clock):
        for _ in range(n):
            t0, sql0, count0 = time.perf_counter(), clock.total_s, clock.statements
            body = client.get(f"/api/projects/{project.pk}/next-item/").json()
            out.append(time.perf_counter() - t0)
            sql.append(clock.total_s - sql0)
            statements.append(clock.statements - count0)
            client.post(f"/api/items/{body['item']['id']}/skip/")
    return {"alone": out, "alone_sql": sql, "statements": statements, "select_1": select_1}


def server_side(project: Any, *, n: int) -> dict[str, list[float]]:
    """What one next-item costs Postgres itself, free of the client's CPU: each SELECT the call
    issued is run again under ``EXPLAIN (ANALYZE)`` (in a transaction rolled back) and its
    planning and execution times are added up; writes are counted, not timed."""
    import re

    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from backend.users.models import User

    user = User.objects.filter(memberships__project=project).order_by("-id")[1]
    client = APIClient()
    client.force_authenticate(user)
    planning, execution, writes = [], [], []
    pattern = re.compile(r"(Planning|Execution) Time: ([0-9.]+) ms")
    for _ in range(n):
        with CaptureQueriesContext(connection) as ctx:
            body = client.get(f"/api/projects/{project.pk}/next-item/").json()
        plan_ms = exec_ms = 0.0
        selects = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in selects:
                cursor.execute("EXPLAIN (ANALYZE) " + sql)
                for (line,) in cursor.fetchall():
                    for kind, value in pattern.findall(line):
                        if kind == "Planning":
                            plan_ms += float(value)
                        else:
                            exec_ms += float(value)
            transaction.set_rollback(True)
        planning.append(plan_ms)
        execution.append(exec_ms)
        writes.append(float(len(ctx.captured_queries) - len(selects)))
        client.post(f"/api/items/{body['item']['id']}/skip/")
    return {"server_planning_ms": planning, "server_execution_ms": execution, "writes": writes}


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    with temp_var_dir() as var_dir, postgres_database("earmark_queue") as url:
        _setup_django(url, var_dir)
        project = seed(
            items=args.items,
            full=args.full,
            partial=args.partial,
            per_item=args.per_item,
            annotators=args.annotators,
            policy=args.policy,
        )
        alone = single(project, n=args.single)
        server = server_side(project, n=args.single)
        result = load(project, rounds=args.rounds)
        checks = check(project)
        explained = plans(project)
        from django.db import connections

        connections.close_all()
    return {
        "info": info,
        **alone,
        **server,
        **result,
        "checks": checks,
        "plans": explained,
    }


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    ms = 1000.0
    rows = []

    def row(name: str, values: list[float], sql: list[float]) -> None:
        p50, p95, top = _percentiles(values)
        s50, s95, _ = _percentiles(sql)
        rows.append([name, len(values), f"{p50 * ms:.1f}", f"{p95 * ms:.1f}", f"{top * ms:.1f}",
                     f"{s50 * ms:.1f}", f"{s95 * ms:.1f}"])  # fmt: skip

    row("`SELECT 1` round trip (the machine's yardstick)", result["select_1"],
        result["select_1"])  # fmt: skip
    row("next-item, 1 annotator alone", result["alone"], result["alone_sql"])
    for step in STEPS:
        if result["timings"][step]:
            row(f"{step}, {args.annotators} at once", result["timings"][step],
                result["sql_timings"][step])  # fmt: skip
    served = result["served"]
    repeats = Counter(served)
    lines = [
        f"## Labelling queue: {args.items:,} items, {args.annotators} annotators at once "
        f"(Postgres, policy {args.policy}, K = {args.per_item})",
        "",
        *machine_lines(result["info"]),
        "",
        table(["step", "calls", "p50 ms", "p95 ms", "max ms", "SQL p50 ms", "SQL p95 ms"], rows),
        "",
        f"- {len(served)} items served and submitted in {result['wall_s']:.1f} s "
        f"({len(served) / result['wall_s']:.0f} submissions/s); most slots of one item taken "
        f"in the run: {max(repeats.values()) if repeats else 0} (K = {args.per_item})",
        f"- checks: {result['checks']}; failures: {len(result['failures'])}",
        f"- SQL statements per next-item (alone, savepoints included): "
        f"{statistics.median(result['statements']):.0f}; in Postgres itself (its SELECTs run "
        f"again under EXPLAIN ANALYZE, p50 of {len(result['server_execution_ms'])}): planning "
        f"{statistics.median(result['server_planning_ms']):.2f} ms, execution "
        f"{statistics.median(result['server_execution_ms']):.2f} ms",
    ]
    lines += [f"  - {f}" for f in result["failures"][:5]]
    lines += ["", "Plans of the locking read next-item runs per fill level:", ""]
    for name, plan in result["plans"]:
        lines += [f"{name}:", "```", plan, "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--full", type=int, default=200_000, help="items already done")
    parser.add_argument("--partial", type=int, default=50_000, help="items with one annotation")
    parser.add_argument("--per-item", type=int, default=3, help="K, annotations wanted per item")
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20, help="items each annotator does")
    parser.add_argument("--single", type=int, default=50, help="claims by one person alone")
    parser.add_argument(
        "--policy", default="sequential", choices=["sequential", "uncertainty", "random"]
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    print(report(result, args))
    write_json(args.json, {k: v for k, v in result.items() if "timings" not in k} | {
        "timings_ms": {s: [round(v * 1000, 3) for v in vs] for s, vs in result["timings"].items()},
        "sql_ms": {s: [round(v * 1000, 3) for v in vs] for s, vs in result["sql_timings"].items()},
    })  # fmt: skip
    return 1 if result["failures"] or result["checks"]["over_k"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: latency of the item list and next-item endpoints on a 100,000-item project.

    .venv/bin/python -m bench.bench_api_latency
    .venv/bin/python -m bench.bench_api_latency --items 100000 --requests 200 --json out.json

Postgres and Redis on 127.0.0.1 (a fresh database ``earmark_bench_<pid>``, dropped at the end;
Redis db 15, purged). One project with ``annotations_per_item=3`` and ``--items`` ready items
inserted with the ORM (bulk_create; no audio is stored: the endpoints measured never read it).
The measured annotator has submitted the first ``--mine`` items; three other annotators hold
``--others`` submitted annotations laid out so next-item has work to skip (see ``layout``).
Then ``VACUUM (ANALYZE)``, ``manage.py serve --no-ml``, and sequential keep-alive HTTP requests with
token auth. Prints latency percentiles, the queries each endpoint issues, and the Postgres
``EXPLAIN (ANALYZE, BUFFERS)`` plans of the queries behind the list and next-item endpoints.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

import requests

from bench.harness import (
    JSON_MARKER,
    BenchError,
    app_env,
    django_shell,
    free_port,
    machine,
    machine_lines,
    manage,
    postgres_database,
    purge_redis,
    serve,
    table,
    temp_var_dir,
    write_json,
)

ME = -1  # the measured annotator in a layout
N_OTHERS = 3
PER_ITEM = 3
DEEP_PAGES = 200
PAGE_SIZE = 50
FILTER_QUERY = "state=ready&name=rec9"
# Matches one item: the substring filter then has to look at every row of the project.
RARE_FILTER_QUERY = "name=rec12345"
DB_CALLS = 5  # in-process calls per endpoint for the query count and the median DB time


def layout(*, items: int, mine: int, others_total: int) -> list[tuple[int, ...]]:
    """Who has submitted each item, in id order: ``ME`` or another annotator 0..2.

    - the first ``mine`` items: the measured annotator plus two others (full: 3 of 3);
    - then 90 % of the others' remaining annotations as full items (3 others each);
    - then the rest one per item, round robin (1 of 3: still open to the annotator).

    With the defaults (100,000 / 5,000 / 20,000): items 0-4,999 are full and mine, items
    5,000-7,999 are full, items 8,000-8,999 have one annotation, the rest none. The first item
    next-item may serve to the annotator is therefore number 8,000 (the 8,001st by id).
    """
    plan: list[tuple[int, ...]] = [()] * items
    remaining = others_total
    i = 0
    while i < min(mine, items):
        k = min(PER_ITEM - 1, N_OTHERS, remaining)
        plan[i] = (ME, *range(k))
        remaining -= k
        i += 1
    full = (remaining * 9 // 10) // PER_ITEM
    while full > 0 and i < items:
        plan[i] = tuple(range(PER_ITEM))
        remaining -= PER_ITEM
        full -= 1
        i += 1
    while remaining > 0 and i < items:
        plan[i] = (i % N_OTHERS,)
        remaining -= 1
        i += 1
    if remaining:
        raise BenchError(f"{others_total} annotations by others do not fit on {items} items")
    return plan


def first_open_index(plan: list[tuple[int, ...]]) -> int | None:
    """Index of the item next-item should serve the measured annotator (sequential queue)."""
    for i, who in enumerate(plan):
        if ME not in who and len(who) < PER_ITEM:
            return i
    return None


# --- run inside the Django process (``manage.py shell -c``) -----------------------------------


def seed(
    *, items: int, mine: int, others_total: int, noise_items: int = 0, batch: int = 5000
) -> None:
    """Create the users, the project, the items and the annotations; VACUUM (ANALYZE); print ids.

    ``noise_items`` ready items go to a second project created afterwards (higher ids), as
    when a team starts another project: the measured project is then not the newest data.
    """
    import hashlib
    import json

    from django.db import connection, transaction
    from django.utils import timezone

    from backend.annotations.models import Annotation
    from backend.audio.models import AudioItem
    from backend.projects.models import Membership
    from backend.projects.services import membership_set, project_create
    from backend.users.services import token_rotate, user_create

    started = time.perf_counter()
    plan = layout(items=items, mine=mine, others_total=others_total)
    manager = user_create(username="manager", password=None)
    annotator = user_create(username="annotator", password=None)
    others = [user_create(username=f"other{n}", password=None) for n in range(N_OTHERS)]
    project = project_create(
        name="latency benchmark", created_by=manager, annotations_per_item=PER_ITEM
    )
    for user in (annotator, *others):
        membership_set(project=project, user=user, role=Membership.Role.ANNOTATOR)
    by_slot = {ME: annotator, **dict(enumerate(others))}
    now = timezone.now()
    item_ids: list[int] = []
    n_annotations = 0
    for start in range(0, items, batch):
        with transaction.atomic():
            rows = []
            for i in range(start, min(start + batch, items)):
                sha = hashlib.sha256(f"earmark-bench-item-{i}".encode()).hexdigest()
                rows.append(
                    AudioItem(
                        project=project,
                        storage_key=f"projects/{project.pk}/audio/{sha[:2]}/{sha}.flac",
                        original_name=f"rec{i}.flac",
                        sha256=sha,
                        size_bytes=100_000 + i % 7919,
                        format="flac",
                        content_type="audio/flac",
                        duration_s=1.0 + (i % 600) / 10,
                        sample_rate_hz=16_000,
                        channels=1,
                        state=AudioItem.State.READY,
                        peaks_levels=[256, 1024, 4096, 16384, 65536],
                        active_annotations=len(plan[i]),
                        submitted_annotations=len(plan[i]),
                        uploaded_by=manager,
                    )
                )
            created = AudioItem.objects.bulk_create(rows)
            ids = [int(row.pk) for row in created]
            item_ids += ids
            annotations = [
                Annotation(
                    item_id=item_id,
                    annotator=by_slot[slot],
                    state=Annotation.State.SUBMITTED,
                    version=2,
                    submitted_at=now,
                )
                for i, item_id in zip(range(start, start + len(ids)), ids, strict=True)
                for slot in plan[i]
            ]
            Annotation.objects.bulk_create(annotations, batch_size=batch)
            n_annotations += len(annotations)
    if item_ids != sorted(item_ids):
        raise RuntimeError("bulk_create returned ids out of order")
    if noise_items:
        other = project_create(name="another project", created_by=manager)
        for start in range(0, noise_items, batch):
            AudioItem.objects.bulk_create(
                AudioItem(
                    project=other,
                    storage_key=f"projects/{other.pk}/audio/noise-{i}.flac",
                    original_name=f"other{i}.flac",
                    sha256=hashlib.sha256(f"earmark-bench-noise-{i}".encode()).hexdigest(),
                    size_bytes=100_000,
                    format="flac",
                    content_type="audio/flac",
                    duration_s=5.0,
                    sample_rate_hz=16_000,
                    channels=1,
                    state=AudioItem.State.READY,
                    uploaded_by=manager,
                )
                for i in range(start, min(start + batch, noise_items))
            )
    inserted_s = time.perf_counter() - started
    # ANALYZE for fresh statistics; VACUUM too, as autovacuum would soon do after this many
    # inserts: otherwise it may start in the middle of the timed requests.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    open_index = first_open_index(plan)
    result = {
        "project": project.pk,
        "manager": manager.pk,
        "annotator": annotator.pk,
        "annotator_token": token_rotate(user=annotator).key,
        "items": len(item_ids),
        "noise_items": noise_items,
        "annotations": n_annotations,
        "mine": sum(ME in who for who in plan),
        "full_items": sum(len(who) >= PER_ITEM for who in plan),
        "expected_next_item": item_ids[open_index] if open_index is not None else None,
        "expected_next_index": open_index,
        "insert_s": inserted_s,
        "analyze_s": time.perf_counter() - started - inserted_s,
    }
    print(JSON_MARKER + json.dumps(result))


def _explain_sql(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def explain(
    *, project_id: int, annotator_id: int, deep_before_id: int, urls: dict[str, str]
) -> None:
    """Plans of the list and next-item queries, and the queries each endpoint issues."""
    import json

    from django.db import connection
    from django.db.models import Exists, OuterRef
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from backend.annotations.models import Annotation
    from backend.annotations.selectors import next_item_for_user
    from backend.audio.filters import ItemFilter
    from backend.audio.models import AudioItem
    from backend.audio.selectors import item_list
    from backend.projects.models import Project
    from backend.users.models import User

    project = Project.objects.get(pk=project_id)
    user = User.objects.get(pk=annotator_id)
    # The candidate query of backend/annotations/selectors.py next_item_for_user (sequential
    # queue), rebuilt here because the selector returns a row, not a queryset. Checked below
    # against the SQL the selector really sends.
    mine = Annotation.objects.filter(item=OuterRef("pk"), annotator=user)
    candidates = (
        AudioItem.objects.filter(
            project=project,
            state=AudioItem.State.READY,
            active_annotations__lt=project.annotations_per_item,
        )
        .filter(~Exists(mine))
        .order_by("id")[:1]
    )
    # What DRF's CursorPagination sends for the list: ORDER BY -id, page_size + 1 rows.
    listed = item_list(project=project)
    filtered = ItemFilter(data=dict(parse_qsl(FILTER_QUERY)), queryset=listed).qs
    rare = ItemFilter(data=dict(parse_qsl(RARE_FILTER_QUERY)), queryset=listed).qs
    querysets = {
        "next-item: candidate query": candidates,
        "items: first page": listed.order_by("-id")[: PAGE_SIZE + 1],
        f"items: deep page (after {DEEP_PAGES} pages)": listed.filter(
            id__lt=deep_before_id
        ).order_by("-id")[: PAGE_SIZE + 1],
        f"items: filtered ({FILTER_QUERY})": filtered.order_by("-id")[: PAGE_SIZE + 1],
        f"items: filtered, 1 match ({RARE_FILTER_QUERY})": rare.order_by("-id")[: PAGE_SIZE + 1],
    }
    plans = {name: qs.explain(analyze=True, buffers=True) for name, qs in querysets.items()}

    sql, params = candidates.query.sql_with_params()
    # compose_sql exists on the Postgres backend only (client-side binding, as Django sends).
    candidate_sql = cast(Any, connection.ops).compose_sql(sql, params)
    with CaptureQueriesContext(connection) as ctx:
        next_item_for_user(project=project, user=user)
    selector_sql = [q["sql"] for q in ctx.captured_queries]
    for n, q_sql in enumerate(selector_sql):
        if q_sql != candidate_sql:
            plans[f"next-item: selector query {n + 1} of {len(selector_sql)}"] = _explain_sql(q_sql)

    token = Token.objects.get(user=user).key
    client = Client()
    endpoints: dict[str, Any] = {}
    db_s: list[float] = []

    def timing(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            db_s.append(time.perf_counter() - t0)

    for name, url in urls.items():
        client.get(url, HTTP_AUTHORIZATION=f"Token {token}")  # warm this process's caches
        per_call: list[float] = []
        for _ in range(DB_CALLS):
            db_s.clear()
            with connection.execute_wrapper(timing), CaptureQueriesContext(connection) as ctx:
                resp = client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
            per_call.append(sum(db_s) * 1000)
        endpoints[name] = {
            "status": resp.status_code,
            "queries": len(ctx.captured_queries),
            "db_ms": statistics.median(per_call),
            "sql": [q["sql"][:400] for q in ctx.captured_queries],
        }
    result = {
        "plans": plans,
        "candidate_matches_selector": candidate_sql in selector_sql,
        "selector_sql": selector_sql,
        "endpoints": endpoints,
    }
    print(JSON_MARKER + json.dumps(result))


# --- the parent process ---------------------------------------------------------------------


def timed(session: requests.Session, url: str, *, n: int, warmup: int) -> list[float]:
    """Milliseconds of ``n`` sequential GETs (after ``warmup`` untimed ones); all must be 200."""
    times: list[float] = []
    for k in range(warmup + n):
        t0 = time.perf_counter()
        resp = session.get(url, timeout=60)
        body = resp.content
        elapsed = (time.perf_counter() - t0) * 1000
        if resp.status_code != 200:
            raise BenchError(f"GET {url} answered {resp.status_code}: {body[:500]!r}")
        if k >= warmup:
            times.append(elapsed)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p95 = statistics.quantiles(ordered, n=100, method="inclusive")[94] if len(times) > 1 else 0
    return {
        "n": len(times),
        "p50_ms": statistics.median(ordered),
        "p95_ms": p95,
        "max_ms": ordered[-1],
        "mean_ms": statistics.fmean(ordered),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with temp_var_dir(keep=args.keep) as var_dir:
        purge_redis()
        with postgres_database() as database_url:
            env = app_env(
                var_dir=var_dir,
                port=free_port(),
                database_url=database_url,
                broker_url="redis://127.0.0.1:6379/15",
            )
            manage(env, "migrate", "--noinput", "-v", "0")
            seed_args = {
                "items": args.items,
                "mine": args.mine,
                "others_total": args.others,
                "noise_items": args.noise_items,
            }
            seeded = django_shell(
                env, f"from bench.bench_api_latency import seed; seed(**{seed_args!r})"
            )
            with serve(env, log_path=var_dir / "serve.log") as server:
                measured, deep = _measure(server.base_url, seeded, args)
            explain_args = {
                "project_id": seeded["project"],
                "annotator_id": seeded["annotator"],
                "deep_before_id": deep["before_id"],
                "urls": {name: m["path"] for name, m in measured.items()},
            }
            explained = django_shell(
                env, f"from bench.bench_api_latency import explain; explain(**{explain_args!r})"
            )
        purge_redis()
    return {
        "seed": {k: v for k, v in seeded.items() if k != "annotator_token"},
        "deep_page": deep,
        "endpoints": measured,
        "explain": explained,
    }


def _measure(
    base: str, seeded: dict[str, Any], args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {seeded['annotator_token']}"
    project = seeded["project"]
    items = f"/api/projects/{project}/items/"
    # Follow `next` DEEP_PAGES times: the URL we then time is page DEEP_PAGES + 1.
    url = f"{base}{items}?page_size={PAGE_SIZE}"
    last_id = 0
    t0 = time.perf_counter()
    for _ in range(DEEP_PAGES):
        page = session.get(url, timeout=60).json()
        if not page["next"]:
            raise BenchError(f"fewer than {DEEP_PAGES} pages of {PAGE_SIZE} items")
        last_id = page["results"][-1]["id"]
        url = page["next"]
    deep = {
        "url": url.removeprefix(base),
        "before_id": last_id,
        "walk_s": time.perf_counter() - t0,
    }
    paths = {
        "GET /api/health/ (baseline)": "/api/health/",
        "GET /api/me/ (baseline: token auth only)": "/api/me/",
        f"items: first page (page_size={PAGE_SIZE})": f"{items}?page_size={PAGE_SIZE}",
        f"items: deep page (after {DEEP_PAGES} pages)": deep["url"],
        f"items: filtered ({FILTER_QUERY})": f"{items}?{FILTER_QUERY}",
        f"items: filtered, 1 match ({RARE_FILTER_QUERY})": f"{items}?{RARE_FILTER_QUERY}",
        "next-item (annotator)": f"/api/projects/{project}/next-item/",
    }
    measured: dict[str, Any] = {}
    for name, path in paths.items():
        times = timed(session, f"{base}{path}", n=args.requests, warmup=args.warmup)
        last = session.get(f"{base}{path}", timeout=60).json()
        check: Any = None
        if "results" in last:
            check = len(last["results"])
        elif "item" in last:
            check = last["item"]["id"] if last["item"] else None
        measured[name] = {"path": path, "check": check, **summary(times)}
    return measured, deep


def report(result: dict[str, Any], info: dict[str, Any], args: argparse.Namespace) -> str:
    seed = result["seed"]
    ex = result["explain"]
    rows = []
    for name, m in result["endpoints"].items():
        e = ex["endpoints"].get(name, {})
        rows.append(
            [
                name,
                f"{m['p50_ms']:.1f}",
                f"{m['p95_ms']:.1f}",
                f"{m['max_ms']:.1f}",
                e.get("queries", "?"),
                f"{e.get('db_ms', 0):.1f}",
            ]
        )
    nxt = result["endpoints"]["next-item (annotator)"]["check"]
    lines = [
        f"## API latency: {seed['items']:,} items in one project (Postgres)",
        "",
        table(
            ["endpoint", "p50 ms", "p95 ms", "max ms", "queries", "DB ms"],
            rows,
        ),
        "",
        f"- {args.requests} sequential requests per endpoint after {args.warmup} warm-up "
        "requests, one keep-alive `requests.Session`, token auth as the annotator, "
        "`manage.py serve --no-ml` (gunicorn 2 workers x 4 threads)",
        "- health is not just `SELECT 1`: it also opens a broker connection and writes and "
        "deletes a file in storage; `/api/me/` is the token-auth-only baseline",
        "- queries, DB ms: the same URL through Django's test client in a separate process "
        f"after the timed run; queries per call, and the median over {DB_CALLS} calls of the "
        "time spent executing them",
        f"- data: {seed['items']:,} ready items"
        + (
            f" (and {seed['noise_items']:,} more in a second, newer project)"
            if seed["noise_items"]
            else ""
        )
        + f", {seed['annotations']:,} submitted annotations "
        f"({seed['mine']:,} by the annotator, the rest by 3 others), "
        f"{seed['full_items']:,} items full at annotations_per_item={PER_ITEM}; "
        f"inserted in {seed['insert_s']:.1f} s, VACUUM (ANALYZE) {seed['analyze_s']:.1f} s",
        f"- next-item served item {nxt}, expected {seed['expected_next_item']} "
        f"(the {seed['expected_next_index']:,}th item by id: the first one not full and not "
        "the annotator's)",
        f"- deep page: `{result['deep_page']['url']}` (walking {DEEP_PAGES} pages took "
        f"{result['deep_page']['walk_s']:.1f} s)",
        "- the rebuilt next-item candidate query "
        + (
            "is the SQL the selector sends"
            if ex["candidate_matches_selector"]
            else "DIFFERS from the SQL the selector sends (see JSON: selector_sql)"
        ),
        *machine_lines(info),
        "",
        "### EXPLAIN (ANALYZE, BUFFERS)",
    ]
    for name, plan in ex["plans"].items():
        lines += ["", f"{name}:", "", "```text", plan, "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--mine", type=int, default=5_000, help="items the annotator submitted")
    parser.add_argument("--others", type=int, default=20_000, help="annotations by 3 others")
    parser.add_argument(
        "--noise-items",
        type=int,
        default=0,
        help="also put this many items in a second, newer project (default none)",
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args(argv)
    if args.items < (DEEP_PAGES + 1) * PAGE_SIZE:
        parser.error(f"--items must be at least {(DEEP_PAGES + 1) * PAGE_SIZE} for the deep page")
    info = machine()
    try:
        result = run(args)
    except BenchError as exc:
        print(f"bench_api_latency: {exc}", file=sys.stderr)
        return 2
    print(report(result, info, args))
    write_json(args.json, {"machine": info, "args": vars(args) | {"json": None}, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: annotators' next-item and submit latency while an import runs (issue 6: within
2x of idle).

    .venv/bin/python -m bench.bench_import_latency
    .venv/bin/python -m bench.bench_import_latency --items 20000 --import-items 50000 --json o.json

The whole application as deployed: a private Postgres database (``lat_db_<pid>``, dropped at
the end), Redis db 12 as the broker, ``manage.py serve --no-ml`` (gunicorn and the default
Celery worker). The project annotators label has ``--items`` ready items (seeded as
``bench_api_latency`` seeds them, ``annotations_per_item=3``) and four annotators; each runs in
its own thread, over HTTP with its token: ``GET next-item``, then ``POST submit`` of the draft
it was given, again and again. Latencies are taken first with nothing else running (idle),
then while a manager's import runs in the worker: ``--import-items`` items x 3 annotations of
3 segments and a clip choice (``bench_dataio``'s native file), uploaded through
``POST /api/projects/{id}/imports/`` into a new project of the same manager. Only requests that
start and end while the import job is running count as "during".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench.bench_api_latency import summary
from bench.bench_dataio import _write_native
from bench.harness import (
    JSON_MARKER,
    REPO_ROOT,
    BenchError,
    app_env,
    django_shell,
    free_port,
    loadavg,
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

REDIS_URL = "redis://127.0.0.1:6379/12"
ANNOTATORS = ("annotator", "other0", "other1", "other2")
TOKENS_CODE = """
import json
from backend.users.models import User
from backend.users.services import token_rotate
tokens = {{n: token_rotate(user=User.objects.get(username=n)).key for n in {names!r}}}
print({marker!r} + json.dumps(tokens))
"""


class Annotator(threading.Thread):
    """Next-item, then submit the draft it served, until ``stop`` is set; records
    (kind, start, end) of every request, perf_counter seconds."""

    def __init__(
        self, base: str, project: int, token: str, stop: threading.Event, think_s: float
    ) -> None:
        super().__init__(daemon=True)
        self.base, self.project, self.stop, self.think_s = base, project, stop, think_s
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.samples: list[tuple[str, float, float]] = []
        self.error: str | None = None

    def _call(self, kind: str, method: str, path: str, **kw: Any) -> Any:
        t0 = time.perf_counter()
        resp = self.session.request(method, f"{self.base}{path}", timeout=120, **kw)
        body = resp.content
        self.samples.append((kind, t0, time.perf_counter()))
        if resp.status_code != 200:
            raise BenchError(f"{method} {path} answered {resp.status_code}: {body[:300]!r}")
        return resp.json()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                served = self._call("next-item", "GET", f"/api/projects/{self.project}/next-item/")
                annotation = served.get("annotation")
                if annotation is None:
                    raise BenchError("the queue ran dry: raise --items")
                self._call(
                    "submit",
                    "POST",
                    f"/api/annotations/{annotation['id']}/submit/",
                    json={"version": annotation["version"]},
                )
                # a person looks at the item before asking for the next one
                self.stop.wait(self.think_s)
        except Exception as exc:  # reported by the parent, which stops the run
            self.error = f"{type(exc).__name__}: {exc}"


def _run_annotators(
    base: str, project: int, tokens: dict[str, str], args: argparse.Namespace, *, until: Any
) -> list[tuple[str, float, float]]:
    stop = threading.Event()
    names = ANNOTATORS[: args.annotators]
    threads = [Annotator(base, project, tokens[n], stop, args.think_s) for n in names]
    for t in threads:
        t.start()
    try:
        until(threads)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=180)
    errors = [t.error for t in threads if t.error]
    if errors:
        raise BenchError(f"an annotator failed: {errors[0]}")
    return [s for t in threads for s in t.samples]


def _stats(samples: list[tuple[str, float, float]], kind: str) -> dict[str, float]:
    return summary([(end - start) * 1000 for k, start, end in samples if k == kind])


def throttled_import(*, path: str, items: int, pause_ratio: float, batch_size: int) -> None:
    """The import service in this process (run by ``--import-via process`` with a pause
    ratio): after each batch of records it pauses ``pause_ratio`` times the time the batch
    took, as an import that yields to interactive work would. Prints JSON_MARKER + rows."""
    from backend.dataio.services import ImportOptions, read_records, records_import
    from backend.projects.models import Membership, Project
    from backend.users.models import User

    _write_native(Path(path), items)
    user, _ = User.objects.get_or_create(username="bench-manager")
    project = Project.objects.create(name=f"import-native-{items}")
    Membership.objects.create(project=project, user=user, role="manager")
    options = ImportOptions(check_files=False, batch_size=batch_size)

    def paced(records: Any) -> Any:
        mark = time.perf_counter()
        for n, record in enumerate(records, start=1):
            yield record
            if n % batch_size == 0:
                # the consumer asks for the next record once it has written this batch
                time.sleep((time.perf_counter() - mark) * pause_ratio)
                mark = time.perf_counter()

    with open(path, "rb") as fh:
        records = read_records(fmt="native", fh=fh, name="import.jsonl", project=project,
                               options=options)  # fmt: skip
        report = records_import(project=project, records=paced(records), user=user,
                                options=options)  # fmt: skip
    print(JSON_MARKER + json.dumps({"rows": report.rows, "rejected": report.rejected}))


def _autovacuum_off(database_url: str) -> None:
    """No autovacuum on the tables an import fills (this run's database only): does its
    vacuum of the new rows, during and after the import, slow the annotators?"""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in ("audio_audioitem", "annotations_annotation", "annotations_segment"):
            conn.execute(
                f"ALTER TABLE {name} SET (autovacuum_enabled = false, "
                "toast.autovacuum_enabled = false)"
            )


def _renice_worker(serve_pid: int, niceness: int) -> None:
    """Lower the priority of the Celery worker processes ``serve`` started (what an import
    task calling ``os.nice`` would do), to see how much of the slowdown is CPU."""
    parent: dict[int, int] = {}
    command: dict[int, list[bytes]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parent[int(proc.name)] = int(
                    (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
                command[int(proc.name)] = (proc / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError):
                continue

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parent.get(pid, 0)
            if pid == serve_pid:
                return True
        return False

    pids = [
        pid
        for pid, cmd in command.items()
        if b"celery" in cmd and b"worker" in cmd and b"default" in cmd and descends(pid)
    ]
    if not pids:
        raise BenchError("found no Celery worker to renice")
    for pid in pids:
        os.setpriority(os.PRIO_PROCESS, pid, niceness)


def _upload(base: str, token: str, path: Path) -> dict[str, Any]:
    """A new project of the manager and its import job (queued for the worker)."""
    auth = {"Authorization": f"Token {token}"}
    resp = requests.post(
        f"{base}/api/projects/", json={"name": "imported"}, headers=auth, timeout=60
    )
    if resp.status_code != 201:
        raise BenchError(f"creating the import's project answered {resp.status_code}")
    project = resp.json()["id"]
    with path.open("rb") as fh:
        resp = requests.post(
            f"{base}/api/projects/{project}/imports/",
            data={"format": "native", "options": json.dumps({"check_files": False})},
            files={"file": (path.name, fh, "application/x-ndjson")},
            headers=auth,
            timeout=600,
        )
    if resp.status_code not in (200, 201, 202):
        raise BenchError(f"the import upload answered {resp.status_code}: {resp.text[:300]}")
    job: dict[str, Any] = resp.json()
    return job


def run(args: argparse.Namespace) -> dict[str, Any]:
    with temp_var_dir(keep=args.keep) as var_dir:
        purge_redis(REDIS_URL)
        with postgres_database("lat_db") as database_url:
            env = app_env(
                var_dir=var_dir,
                port=free_port(),
                database_url=database_url,
                broker_url=REDIS_URL,
            )
            manage(env, "migrate", "--noinput", "-v", "0")
            if args.no_autovacuum:
                _autovacuum_off(database_url)
            seed_args = {"items": args.items, "mine": 0, "others_total": 0}
            seeded = django_shell(
                env, f"from bench.bench_api_latency import seed; seed(**{seed_args!r})"
            )
            tokens = django_shell(
                env,
                TOKENS_CODE.format(names=[*ANNOTATORS, "manager"], marker="BENCH_JSON "),
            )
            source = var_dir / "import.jsonl"
            _write_native(source, args.import_items)
            web_env = dict(env, PGOPTIONS=args.web_pgoptions) if args.web_pgoptions else env
            with serve(web_env, log_path=var_dir / "serve.log") as server:
                if args.renice_worker:
                    _renice_worker(server.process.pid, args.renice_worker)
                result = _measure(server.base_url, seeded["project"], tokens, source, env, args)
        purge_redis(REDIS_URL)
    return {"seed": {k: v for k, v in seeded.items() if k != "annotator_token"}, **result}


def _measure(
    base: str,
    project: int,
    tokens: dict[str, str],
    source: Path,
    env: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    # Warm every gunicorn thread and the queue's plans, untimed.
    _run_annotators(base, project, tokens, args, until=lambda _: time.sleep(args.warmup_s))
    load_idle = loadavg()
    idle = _run_annotators(base, project, tokens, args, until=lambda _: time.sleep(args.idle_s))
    manager = tokens["manager"]
    window: dict[str, Any] = {}

    def until_imported(threads: list[Annotator]) -> None:
        job = _upload(base, manager, source)
        auth = {"Authorization": f"Token {manager}"}
        started = None
        while True:
            if any(t.error for t in threads):
                return
            state = requests.get(f"{base}/api/imports/{job['id']}/", headers=auth, timeout=60)
            job = state.json()
            now = time.perf_counter()
            if job["state"] == "running" and started is None:
                started = now
            if job["state"] in ("succeeded", "failed"):
                window.update(start=started or now, end=now, job=job, load=loadavg())
                return
            time.sleep(0.5)

    def until_imported_in_process(threads: list[Annotator]) -> None:
        """``bench_dataio``'s import case (the same file, the import service called in its
        own process, into a new project); the window opens when its project exists."""
        import psycopg

        name = f"import-native-{args.import_items}"
        child_env = dict(env, PGAPPNAME="earmark-bench-import")
        if args.import_pgoptions:
            child_env["PGOPTIONS"] = args.import_pgoptions
        reniced: set[int] = set()
        code = (
            "from bench.bench_import_latency import throttled_import; throttled_import("
            f"path={str(source.parent / 'paced.jsonl')!r}, items={args.import_items}, "
            f"pause_ratio={args.import_pause_ratio}, batch_size=1000)"
        )
        cmd = [
            *(["nice", "-n", str(args.import_nice)] if args.import_nice else []),
            *(
                [sys.executable, str(REPO_ROOT / "manage.py"), "shell", "-c", code]
                if args.import_pause_ratio
                else [sys.executable, "-m", "bench.bench_dataio", "--work", str(source.parent),
                      "--case", "import", "--format", "native", "--n", str(args.import_items)]
            ),
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd, env=child_env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        started = None
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            while proc.poll() is None and not any(t.error for t in threads):
                if started is None:
                    row = conn.execute(
                        "SELECT count(*) FROM projects_project WHERE name = %s", [name]
                    ).fetchone()
                    started = time.perf_counter() if row and row[0] else None
                if args.import_backend_nice:
                    # The import's Postgres backend does about 40 % of the import's work;
                    # only root can renice it (an experiment, not a deployment option).
                    for (pid,) in conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                        ["earmark-bench-import"],
                    ).fetchall():
                        if pid not in reniced:
                            os.setpriority(os.PRIO_PROCESS, pid, args.import_backend_nice)
                            reniced.add(pid)
                time.sleep(0.2)
        end = time.perf_counter()
        stdout, stderr = proc.communicate()
        lines = [x for x in stdout.decode().splitlines() if x.startswith(JSON_MARKER)]
        done = json.loads(lines[-1][len(JSON_MARKER) :]) if lines else {}
        job = {
            "state": "succeeded" if proc.returncode == 0 and lines else "failed",
            "progress": {"done": done.get("rows"), "rejected": done.get("rejected")},
            "report": stderr.decode()[-800:] if proc.returncode else None,
        }
        window.update(start=started or end, end=end, job=job, load=loadavg())

    during_all = _run_annotators(
        base,
        project,
        tokens,
        args,
        until=until_imported if args.import_via == "worker" else until_imported_in_process,
    )
    if window.get("job", {}).get("state") != "succeeded":
        raise BenchError(f"the import did not succeed: {json.dumps(window.get('job'))[:800]}")
    during = [s for s in during_all if s[1] >= window["start"] and s[2] <= window["end"]]
    # Idle again once the import is over: on a shared machine the neighbours' load moves the
    # baseline more than anything; idle is both phases together.
    time.sleep(5)  # let the import's last commits and autovacuum's first pass settle
    idle_after = _run_annotators(
        base, project, tokens, args, until=lambda _: time.sleep(args.idle_s)
    )
    out: dict[str, Any] = {
        "import_s": window["end"] - window["start"],
        "import_job": {k: window["job"].get(k) for k in ("state", "progress", "report")},
        "loadavg_idle": load_idle,
        "loadavg_import_end": window["load"],
    }
    for kind in ("next-item", "submit"):
        out[kind] = {
            "idle": _stats(idle + idle_after, kind),
            "idle_before": _stats(idle, kind),
            "idle_after": _stats(idle_after, kind),
            "during": _stats(during, kind),
        }
    return out


def report(result: dict[str, Any], info: dict[str, Any], args: argparse.Namespace) -> str:
    rows = []
    for kind in ("next-item", "submit"):
        idle, during = result[kind]["idle"], result[kind]["during"]
        rows.append(
            [
                kind,
                f"{idle['p50_ms']:.1f} / {idle['p95_ms']:.1f} ({idle['n']})",
                f"{during['p50_ms']:.1f} / {during['p95_ms']:.1f} ({during['n']})",
                f"{during['p50_ms'] / idle['p50_ms']:.2f}x / "
                f"{during['p95_ms'] / idle['p95_ms']:.2f}x",
            ]
        )
    seed = result["seed"]
    progress = result["import_job"].get("progress") or {}
    lines = [
        f"## Annotator latency during an import ({seed['items']:,} items, "
        f"{args.import_items:,}-item import)",
        "",
        table(
            [
                "request",
                "idle p50 / p95 ms (n)",
                "during import p50 / p95 ms (n)",
                "ratio p50 / p95",
            ],
            rows,
        ),
        "",
        f"- {args.annotators} annotators, one thread and keep-alive session each: next-item, "
        f"submit, {args.think_s:g} s pause, again; `manage.py serve --no-ml` (gunicorn 2 "
        "workers x 4 threads, Celery default worker, concurrency 2), Postgres, Redis",
        "- idle p50 before / after the import: "
        + "; ".join(
            f"{k} {r['idle_before']['p50_ms']:.1f} / {r['idle_after']['p50_ms']:.1f}"
            for k, r in ((k, result[k]) for k in ("next-item", "submit"))
        ),
        f"- idle: {args.idle_s:.0f} s before the import (after {args.warmup_s:.0f} s of warm-up) "
        f"and {args.idle_s:.0f} s after it; during: the "
        f"{result['import_s']:.1f} s the import job was running ({args.import_items:,} items x 3 "
        f"annotations, native JSON Lines, "
        + ("uploaded through the API" if args.import_via == "worker" else "bench_dataio's case")
        + f"; progress {json.dumps(progress)})",
        f"- import via {args.import_via}; Celery worker niceness {args.renice_worker}; "
        f"web PGOPTIONS {args.web_pgoptions!r}; autovacuum {'off' if args.no_autovacuum else 'on'}"
        + (
            f"; import process niceness {args.import_nice}, PGOPTIONS {args.import_pgoptions!r}"
            if args.import_via == "process"
            else ""
        ),
        f"- load average {result['loadavg_idle']} before the idle phase, "
        f"{result['loadavg_import_end']} when the import ended",
        *machine_lines(info),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=20_000, help="items annotators label")
    parser.add_argument("--import-items", type=int, default=50_000)
    parser.add_argument("--idle-s", type=float, default=30.0, help="seconds measured idle")
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--annotators", type=int, choices=range(1, 5), default=4)
    parser.add_argument(
        "--think-s", type=float, default=0.5, help="pause after each submit (default 0.5 s)"
    )
    parser.add_argument(
        "--renice-worker",
        type=int,
        default=0,
        help="run the Celery worker at this niceness (an experiment: 0 leaves it as started)",
    )
    parser.add_argument(
        "--import-via",
        choices=["worker", "process"],
        default="worker",
        help="worker: upload through the API, the Celery worker imports (default); process: "
        "bench_dataio's import case in a subprocess (for the two options below)",
    )
    parser.add_argument("--import-nice", type=int, default=0, help="process: its niceness")
    parser.add_argument(
        "--no-autovacuum",
        action="store_true",
        help="turn autovacuum off on the item, annotation and segment tables (experiment)",
    )
    parser.add_argument(
        "--web-pgoptions",
        default="",
        help="PGOPTIONS of the web server and worker, e.g. '-c synchronous_commit=off' (an "
        "experiment: do annotators wait for the WAL?)",
    )
    parser.add_argument(
        "--import-pause-ratio",
        type=float,
        default=0.0,
        help="process: after each batch of 1,000 rows pause this many times the batch's time",
    )
    parser.add_argument(
        "--import-backend-nice",
        type=int,
        default=0,
        help="process: renice its Postgres backend (needs root and Postgres on this machine)",
    )
    parser.add_argument(
        "--import-pgoptions",
        default="",
        help="process: its PGOPTIONS, e.g. '-c synchronous_commit=off'",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args(argv)
    info = machine()
    try:
        result = run(args)
    except BenchError as exc:
        print(f"bench_import_latency: {exc}", file=sys.stderr)
        return 2
    print(report(result, info, args))
    write_json(args.json, {"machine": info, "args": vars(args) | {"json": None}, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())

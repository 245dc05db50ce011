"""Benchmark: ingest throughput end to end through the running application.

    .venv/bin/python -m bench.bench_ingest --backend embedded --dataset esc10
    .venv/bin/python -m bench.bench_ingest --backend postgres --dataset fsdd --limit 1000
    .venv/bin/python -m bench.bench_ingest --backend postgres --dataset esc10 --json out.json

Starts the real application (``manage.py migrate`` and ``manage.py serve --no-ml``: gunicorn
and the default Celery worker) on a fresh temporary EARMARK_VAR_DIR and either the embedded
defaults (SQLite, file-system broker) or a fresh Postgres database and Redis db 15. Uploads the
dataset's files over HTTP (``--batch`` files per multipart POST), then waits until no item is
``pending``, i.e. the worker has fully decoded every file and built its peaks. Prints markdown.

The audio is read from ``../shared/data`` (``--data-root``); it is never copied anywhere but
into the run's temporary media folder, which is deleted at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import requests

from bench.harness import (
    DATA_ROOT,
    REDIS_BENCH_URL,
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

DATASETS = {"esc10": Path("esc10_16k") / "audio", "fsdd": Path("fsdd_16k") / "audio"}
_POLL_S = 0.2

_SETUP = """
import json
from backend.projects.services import project_create
from backend.users.services import token_rotate, user_create
user = user_create(username="bench", password=None)
project = project_create(name="ingest benchmark", created_by=user)
print("BENCH_JSON " + json.dumps({"project": project.pk, "token": token_rotate(user=user).key}))
"""


def dataset_files(data_root: Path, dataset: str, limit: int | None) -> list[Path]:
    folder = data_root / DATASETS[dataset]
    if not folder.is_dir():
        raise BenchError(
            f"{folder} is missing: the {dataset} audio lives outside the repository "
            f"(../shared/data); pass --data-root if it is elsewhere"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".flac", ".wav"})
    if not files:
        raise BenchError(f"no audio files in {folder}")
    return files[:limit] if limit else files


def upload(session: requests.Session, url: str, files: list[Path], *, batch: int) -> dict[str, Any]:
    """POST the files ``batch`` at a time; returns counts and per-request latencies."""
    counts = {"created": 0, "duplicates": 0, "rejected": 0}
    latencies: list[float] = []
    rejected: list[str] = []
    for start in range(0, len(files), batch):
        chunk = files[start : start + batch]
        parts = [("files", (p.name, p.read_bytes(), "audio/flac")) for p in chunk]
        t0 = time.perf_counter()
        resp = session.post(url, files=parts, timeout=900)
        latencies.append(time.perf_counter() - t0)
        body = resp.json()
        if resp.status_code not in (200, 201, 400) or "created" not in body:
            raise BenchError(f"upload answered {resp.status_code}: {resp.text[:1000]}")
        for key in counts:
            counts[key] += int(body[key])
        rejected += [
            f"{f['name']}: {f['error']}" for f in body["files"] if f["status"] == "rejected"
        ]
    return {
        **counts,
        "requests": len(latencies),
        "latencies_s": latencies,
        "rejected_files": rejected,
    }


def wait_processed(session: requests.Session, items_url: str, *, timeout_s: float) -> int:
    """Poll until no item is pending; returns the number of polls."""
    deadline = time.monotonic() + timeout_s
    polls = 0
    while True:
        polls += 1
        resp = session.get(f"{items_url}?state=pending&page_size=1", timeout=60)
        resp.raise_for_status()
        if not resp.json()["results"]:
            return polls
        if time.monotonic() > deadline:
            raise BenchError(f"items still pending after {timeout_s} s")
        time.sleep(_POLL_S)


def all_items(session: requests.Session, items_url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = f"{items_url}?page_size=500"
    while url:
        resp = session.get(url, timeout=60)
        resp.raise_for_status()
        page = resp.json()
        items += page["results"]
        url = page["next"]
    return items


def run(args: argparse.Namespace) -> dict[str, Any]:
    files = dataset_files(args.data_root, args.dataset, args.limit)
    with temp_var_dir(keep=args.keep) as var_dir:
        if args.backend == "postgres":
            purge_redis()
            with postgres_database() as database_url:
                env = app_env(
                    var_dir=var_dir,
                    port=free_port(),
                    database_url=database_url,
                    broker_url=REDIS_BENCH_URL,
                )
                result = _measure(env, var_dir, files, args)
            purge_redis()
        else:
            env = app_env(var_dir=var_dir, port=free_port(), database_url=None, broker_url=None)
            result = _measure(env, var_dir, files, args)
    return result


def _measure(
    env: dict[str, str], var_dir: Path, files: list[Path], args: argparse.Namespace
) -> dict[str, Any]:
    manage(env, "migrate", "--noinput", "-v", "0")
    setup = django_shell(env, _SETUP)
    with serve(env, log_path=var_dir / "serve.log") as server:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {setup['token']}"
        items_url = f"{server.base_url}/api/projects/{setup['project']}/items/"
        t0 = time.perf_counter()
        up = upload(session, f"{items_url}upload/", files, batch=args.batch)
        t_upload = time.perf_counter() - t0
        polls = wait_processed(session, items_url, timeout_s=args.timeout_s)
        t_total = time.perf_counter() - t0
        items = all_items(session, items_url)
        log = server.log_text()
    states = {s: sum(i["state"] == s for i in items) for s in ("ready", "failed", "pending")}
    audio_s = sum(float(i["duration_s"]) for i in items)
    lat = up.pop("latencies_s")
    return {
        "backend": args.backend,
        "dataset": args.dataset,
        "files": len(files),
        "batch": args.batch,
        "upload": up,
        "items": len(items),
        "states": states,
        "failed_errors": sorted({i["error"] for i in items if i["state"] == "failed"})[:10],
        "audio_s": audio_s,
        "upload_s": t_upload,
        "processing_tail_s": t_total - t_upload,
        "total_s": t_total,
        "upload_files_per_s": len(files) / t_upload,
        "total_files_per_s": len(files) / t_total,
        "audio_s_per_s": audio_s / t_total,
        "upload_request_s": {
            "p50": statistics.median(lat),
            "max": max(lat),
        },
        "pending_polls": polls,
        "server_log": {
            "lines": log.count("\n"),
            "errors": sum(" ERROR " in line or "Traceback" in line for line in log.splitlines()),
            "database_locked": log.count("database is locked"),
            "tasks_succeeded": log.count("succeeded in"),
        },
    }


def report(result: dict[str, Any], info: dict[str, Any]) -> str:
    r = result
    rows = [
        [
            r["backend"],
            r["dataset"],
            r["files"],
            f"{r['audio_s']:.0f}",
            f"{r['upload_s']:.1f}",
            f"{r['upload_files_per_s']:.1f}",
            f"{r['processing_tail_s']:.1f}",
            f"{r['total_s']:.1f}",
            f"{r['total_files_per_s']:.1f}",
            f"{r['audio_s_per_s']:.1f}",
            f"{r['states']['ready']} / {r['states']['failed']}",
        ]
    ]
    headers = [
        "backend",
        "dataset",
        "files",
        "audio s",
        "upload s",
        "upload files/s",
        "after upload s",
        "end-to-end s",
        "end-to-end files/s",
        "audio s/s",
        "ready / failed",
    ]
    up = r["upload"]
    notes = [
        f"- upload: {up['requests']} POSTs of up to {r['batch']} files, one at a time; "
        f"per request p50 {r['upload_request_s']['p50']:.2f} s, max "
        f"{r['upload_request_s']['max']:.2f} s; created {up['created']}, duplicates "
        f"{up['duplicates']}, rejected {up['rejected']}",
        "- end-to-end: first upload byte until no item is `pending` (polled every "
        f"{_POLL_S} s; {r['pending_polls']} polls); 'after upload s' is the part after the "
        "last upload answered",
        f"- server log: {r['server_log']['errors']} error lines, "
        f"{r['server_log']['database_locked']} 'database is locked', "
        f"{r['server_log']['tasks_succeeded']} tasks succeeded",
        "- application as `manage.py serve --no-ml` starts it: gunicorn 2 workers x 4 threads, "
        "Celery worker -Q default --concurrency 2",
    ]
    if r["failed_errors"]:
        notes.append("- failed: " + "; ".join(r["failed_errors"]))
    if up["rejected_files"]:
        notes.append("- rejected: " + "; ".join(up["rejected_files"][:5]))
    return "\n".join(
        [
            f"## Ingest: {r['dataset']} on {r['backend']}",
            "",
            table(headers, rows),
            "",
            *notes,
            *machine_lines(info),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="esc10")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument("--batch", type=int, default=50, help="files per upload request")
    parser.add_argument("--timeout-s", type=float, default=3600, help="give up waiting after")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    info = machine()
    try:
        result = run(args)
    except BenchError as exc:
        print(f"bench_ingest: {exc}", file=sys.stderr)
        return 2
    print(report(result, info))
    write_json(args.json, {"machine": info, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())

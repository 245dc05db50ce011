"""Benchmark: registering audio by reference (`audio.services.items_register`) and syncing a
folder connection (`connection_sync`), in-process on a private database.

    .venv/bin/python -m bench.bench_register --items 200000 --batch 10000
    .venv/bin/python -m bench.bench_register --sqlite --items 50000 --folder-files 5000

Registers ``--items`` references in calls of ``--batch`` (one transaction each: the existence
query, the bulk insert, the id map, and the processing tasks sent to the broker on commit, one
per 50 ids), then registers them all again (nothing new: the idempotent path), then syncs a
generated folder of ``--folder-files`` tiny files (scan + register). Enqueuing is measured
too: the broker is ``--broker-url`` (Redis, as deployed) or the file-system transport in the
run's own folder; nothing consumes it. Postgres (default) gets a database of its own,
dropped at the end. Prints markdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_ADMIN = ["-h", "127.0.0.1", "-U", "postgres"]


def _django(
    var_dir: Path, database_url: str | None, folder_root: Path, broker_url: str | None = None
) -> None:
    for key in [k for k in os.environ if k.startswith(("DJANGO_", "EARMARK_"))]:
        del os.environ[key]
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("DATABASE_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    if broker_url:
        os.environ["CELERY_BROKER_URL"] = broker_url
    os.environ["EARMARK_VAR_DIR"] = str(var_dir)
    os.environ["EARMARK_FOLDER_ROOTS"] = str(folder_root)
    os.environ["DJANGO_SETTINGS_MODULE"] = "backend.config.settings.local"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args: argparse.Namespace, var_dir: Path) -> list[str]:
    from backend.audio.models import AudioItem, StorageConnection
    from backend.audio.services import RegisteredRef, connection_sync, items_register
    from backend.projects.models import Project

    project = Project.objects.create(name="bench register", label_schema={})
    connection = StorageConnection.objects.create(
        project=project, name="refs", kind="folder", root=str(var_dir / "nowhere")
    )
    lines = [
        "| step | refs | seconds | refs/s | max RSS MB |",
        "|---|---:|---:|---:|---:|",
    ]
    batches: list[float] = []
    start_all = time.perf_counter()
    for first in range(0, args.items, args.batch):
        refs = [
            RegisteredRef(path=f"site{i % 50}/day{i % 365}/rec{i:08d}.flac", metadata={"n": i})
            for i in range(first, min(first + args.batch, args.items))
        ]
        t = time.perf_counter()
        result = items_register(project=project, connection=connection, refs=refs, user=None)
        batches.append(time.perf_counter() - t)
        assert result.created == len(refs), result
    total = time.perf_counter() - start_all
    assert AudioItem.objects.filter(project=project).count() == args.items
    lines.append(
        f"| register, new ({len(batches)} calls of {args.batch:,}) | {args.items:,} | "
        f"{total:.2f} | {args.items / total:,.0f} | {_rss_mb():.0f} |"
    )
    slowest = max(batches)
    lines.append(
        f"| slowest single call | {args.batch:,} | {slowest:.2f} | {args.batch / slowest:,.0f} | |"
    )
    t = time.perf_counter()
    for first in range(0, args.items, args.batch):
        refs = [
            RegisteredRef(path=f"site{i % 50}/day{i % 365}/rec{i:08d}.flac")
            for i in range(first, min(first + args.batch, args.items))
        ]
        again = items_register(project=project, connection=connection, refs=refs, user=None)
        assert again.created == 0
    total = time.perf_counter() - t
    lines.append(
        f"| register again (all existing) | {args.items:,} | {total:.2f} | "
        f"{args.items / total:,.0f} | {_rss_mb():.0f} |"
    )
    if args.folder_files:
        folder = Path(args.folder_root) / "field"
        for i in range(args.folder_files):
            sub = folder / f"day{i % 100:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"rec{i:06d}.wav").write_bytes(b"RIFF")
            if i % 10 == 0:
                (sub / f"notes{i:06d}.txt").write_bytes(b"x")
        disk = StorageConnection.objects.create(
            project=project, name="disk", kind="folder", root=str(folder)
        )
        for label in ("sync a folder, new", "sync again (nothing new)"):
            t = time.perf_counter()
            synced = connection_sync(connection=disk, user=None)
            total = time.perf_counter() - t
            assert synced.found == args.folder_files, synced
            lines.append(
                f"| {label} | {args.folder_files:,} | {total:.2f} | "
                f"{args.folder_files / total:,.0f} | {_rss_mb():.0f} |"
            )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--folder-files", type=int, default=10_000)
    parser.add_argument("--sqlite", action="store_true", help="embedded SQLite, not Postgres")
    parser.add_argument(
        "--broker-url",
        help="e.g. redis://127.0.0.1:6379/7 (a database of your own: it is flushed at the end); "
        "default: the file-system transport in the run's folder",
    )
    args = parser.parse_args(argv)
    var_dir = Path(tempfile.mkdtemp(prefix="earmark-bench-register-"))
    args.folder_root = str(var_dir / "folders")
    Path(args.folder_root).mkdir()
    database = None
    database_url = None
    if not args.sqlite:
        database = f"bench_register_{os.getpid()}"
        subprocess.run(["createdb", *PG_ADMIN, database], check=True)
        database_url = f"postgres://postgres@127.0.0.1:5432/{database}"
    try:
        _django(var_dir, database_url, Path(args.folder_root), args.broker_url)
        from django.db import connection

        lines = run(args, var_dir)
        vendor = connection.vendor
        connection.close()
    finally:
        if args.broker_url and args.broker_url.startswith("redis://"):
            import redis

            redis.Redis.from_url(args.broker_url).flushdb()  # the tasks nobody consumed
        if database:
            subprocess.run(["dropdb", *PG_ADMIN, "--if-exists", database], check=False)
    command = "python -m bench.bench_register " + shlex.join(argv or sys.argv[1:])
    machine = platform.processor() or platform.machine()
    load = os.getloadavg()[0]
    print(f"`{command}` — {vendor}, {dt.date.today()}, {machine}, load {load:.1f}\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

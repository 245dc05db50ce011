"""Shared plumbing for the end-to-end benchmarks: run the real application in subprocesses.

The benchmarks drive Earmark as a user would: ``manage.py migrate``, ``manage.py shell -c`` for
set-up, ``manage.py serve --no-ml`` for the web server and the default Celery worker, and HTTP
for everything they measure. Every run gets its own EARMARK_VAR_DIR (media, secret key, the
embedded database and broker) and, on Postgres, its own database, so nothing is shared with a
developer's ``var/`` or another run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO_ROOT.parent / "shared" / "data"
MANAGE = [sys.executable, str(REPO_ROOT / "manage.py")]
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL_TEMPLATE = "postgres://postgres@127.0.0.1:5432/{db}"
REDIS_BENCH_URL = "redis://127.0.0.1:6379/15"
JSON_MARKER = "BENCH_JSON "
_STRIPPED = ("DATABASE_URL", "CELERY_BROKER_URL")


class BenchError(RuntimeError):
    """A benchmark could not run; the message says why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_env(
    *, var_dir: Path, port: int, database_url: str | None, broker_url: str | None
) -> dict[str, str]:
    """The inherited environment without any Earmark/Django settings, plus this run's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "EARMARK_")) and k not in _STRIPPED
    }
    env.update(EARMARK_VAR_DIR=str(var_dir), EARMARK_PORT=str(port))
    if database_url:
        env["DATABASE_URL"] = database_url
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    return env


def manage(env: dict[str, str], *args: str, timeout_s: float = 1800) -> str:
    """Run ``manage.py ARGS`` and return its stdout; raise with its stderr when it fails."""
    done = subprocess.run(
        [*MANAGE, *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(
            f"manage.py {' '.join(args[:1])} failed ({done.returncode}):\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    return done.stdout


def django_shell(env: dict[str, str], code: str, *, timeout_s: float = 1800) -> Any:
    """Run ``code`` in ``manage.py shell -c``; it must print JSON_MARKER + a JSON document."""
    out = manage(env, "shell", "-c", code, timeout_s=timeout_s)
    for line in reversed(out.splitlines()):
        if line.startswith(JSON_MARKER):
            return json.loads(line[len(JSON_MARKER) :])
    raise BenchError(f"the Django shell printed no result:\n{out[-2000:]}")


@contextlib.contextmanager
def postgres_database(prefix: str = "earmark_bench") -> Iterator[str]:
    """A fresh database ``<prefix>_<pid>``, dropped (connections and all) on exit."""
    import psycopg

    name = f"{prefix}_{os.getpid()}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    except psycopg.OperationalError as exc:
        raise BenchError(f"cannot reach Postgres at {PG_ADMIN_URL}: {exc}") from exc
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_URL_TEMPLATE.format(db=name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def purge_redis(url: str = REDIS_BENCH_URL) -> None:
    import redis

    try:
        redis.Redis.from_url(url).flushdb()
    except redis.RedisError as exc:
        raise BenchError(f"cannot reach Redis at {url}: {exc}") from exc


@contextlib.contextmanager
def temp_var_dir(*, keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="earmark-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(path)], check=False)


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def serve(
    env: dict[str, str], *, log_path: Path, timeout_s: float = 120, ml: bool = False
) -> Iterator[Server]:
    """``manage.py serve --no-ml`` (gunicorn + the default Celery worker; with ``ml`` also the
    ML worker) until health is 200.

    Stopped like a person stops it: SIGINT to its process group, which makes ``serve`` stop
    the web server and the worker it started.
    """
    base = f"http://127.0.0.1:{env['EARMARK_PORT']}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*MANAGE, "serve", *([] if ml else ["--no-ml"])],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(base_url=base, process=proc, log_path=log_path)
    try:
        _wait_healthy(server, timeout_s=timeout_s)
        yield server
    finally:
        _stop(proc)


def _wait_healthy(server: Server, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"serve exited early:\n{server.log_text()[-4000:]}")
        try:
            resp = requests.get(f"{server.base_url}/api/health/", timeout=5)
            if resp.status_code == 200:
                return
            last = f"{resp.status_code} {resp.text[:300]}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    raise BenchError(
        f"health was not 200 within {timeout_s} s ({last}):\n{server.log_text()[-4000:]}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=45)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": f"{commit}{' (dirty)' if dirty else ''}" or "unknown",
        "command": shlex.join(sys.orig_argv),
        "loadavg_start": loadavg(),
    }


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews the figures."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine_lines(info: dict[str, Any]) -> list[str]:
    info.setdefault("loadavg_end", loadavg())
    return [
        f"- machine: {info['nproc']} CPUs, {info['cpu']}; Python {info['python']}; load "
        f"average {info['loadavg_start']} at the start, {info['loadavg_end']} at the end",
        f"- date: {info['date']}; commit {info['commit']}",
        f"- command: `{info['command']}`",
    ]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path | None, data: Any, *, out: TextIO = sys.stderr) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}", file=out)

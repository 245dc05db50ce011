"""The first-run experience: embedded defaults (SQLite, local media, file-system broker),
the demo seed, and `manage.py serve` starting web and workers and stopping them on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from backend.config.env import REPO_ROOT

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _embedded_env(var_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "EARMARK_"))
        and k not in ("DATABASE_URL", "CELERY_BROKER_URL")
    }
    env.update(EARMARK_VAR_DIR=str(var_dir), EARMARK_PORT=str(port), EARMARK_TORCH_THREADS="1")
    return env


def _request(
    url: str, *, token: str | None = None, data: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    req = urllib.request.Request(url, method="POST" if data is not None else "GET")  # noqa: S310
    if token:
        req.add_header("Authorization", f"Token {token}")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, body, timeout=10) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _wait(fn: Any, *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {timeout_s} s (last: {last!r})")


def test_embedded_first_run(tmp_path: Path) -> None:
    port = _free_port()
    env = _embedded_env(tmp_path / "var", port)
    manage = [sys.executable, str(REPO_ROOT / "manage.py")]
    for args in (["migrate", "--noinput", "-v", "0"], ["seed_demo"], ["seed_demo"]):
        done = subprocess.run(
            [*manage, *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
    # the second seed finds what the first made
    assert "0 new recordings, 4 already there" in done.stdout
    assert (tmp_path / "var" / "earmark.sqlite3").exists()

    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        [*manage, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        status, _, body = _wait(
            lambda: (r := _request(f"{base}/api/health/"))[0] == 200 and r,
            timeout_s=90,
            what="health 200",
        )
        checks = json.loads(body)["checks"]
        assert checks["database"]["detail"] == "sqlite"
        assert all(c["ok"] for c in checks.values())

        status, _, body = _request(
            f"{base}/api/auth/token/", data={"username": "demo", "password": "demo-earmark"}
        )
        assert status == 201, body
        token = json.loads(body)["token"]
        projects = json.loads(_request(f"{base}/api/projects/", token=token)[2])["results"]
        assert [p["name"] for p in projects] == ["Demo: city sounds"]
        items_url = f"{base}/api/projects/{projects[0]['id']}/items/"

        def all_ready() -> list[dict[str, Any]] | None:
            items = json.loads(_request(items_url, token=token)[2])["results"]
            return items if {i["state"] for i in items} == {"ready"} else None

        # the worker started by serve processes the demo audio over the file-system broker
        items = _wait(all_ready, timeout_s=120, what="demo items ready")
        assert len(items) == 4
        item = max(items, key=lambda i: i["duration_s"])
        status, _, body = _request(f"{base}/api/items/{item['id']}/peaks/", token=token)
        assert status == 200
        assert len(json.loads(body)["data"][0]) > 100
        status, headers, body = _request(
            f"{base}/api/items/{item['id']}/audio/", token=token, headers={"Range": "bytes=0-99"}
        )
        assert status == 206
        assert len(body) == 100
        assert headers["Content-Type"] == "audio/flac"
        assert _request(f"{base}/api/docs/")[0] in (200, 302, 403)
        assert _request(f"{base}/accounts/login/")[0] == 200
    finally:
        # Ctrl-C stops every process serve started
        os.killpg(serve.pid, signal.SIGINT)
        try:
            serve.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            raise
    output = (tmp_path / "serve.log").read_text()
    assert "Earmark stopped." in output, output[-3000:]
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the web server is still listening"
    assert _processes_with_env(f"EARMARK_VAR_DIR={tmp_path / 'var'}") == []
    # the embedded broker keeps all its files under the var folder
    assert (tmp_path / "var" / "broker" / "control").is_dir()
    assert not (REPO_ROOT / "control").exists()


def _processes_with_env(marker: str) -> list[int]:
    """Processes still alive whose environment carries ``marker`` (our children)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found

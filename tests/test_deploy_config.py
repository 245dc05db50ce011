"""docker-compose.yml cannot be run here (no Docker engine), so check it by construction:
the services it declares and the variables it sets are the ones the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from backend.config.env import REPO_ROOT, read_env

ENV_READERS = [REPO_ROOT / "backend/config/env.py", REPO_ROOT / "ml_worker/config.py"]


def _variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for path in ENV_READERS:
        names |= set(re.findall(r'e\.get\("([A-Z_0-9]+)"', path.read_text()))
    return names


def _compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_designed_services():
    assert set(_compose()["services"]) == {"postgres", "redis", "web", "worker", "ml-worker"}


def test_compose_sets_only_variables_the_app_reads():
    read = _variables_read_by_the_code()
    for name in ("web", "worker", "ml-worker"):
        env = _compose()["services"][name]["environment"]
        unknown = set(env) - read
        assert not unknown, f"{name} sets variables nothing reads: {unknown}"
        assert {"DATABASE_URL", "CELERY_BROKER_URL"} <= set(env)


def test_compose_environment_parses_with_the_app_reader():
    env = {k: str(v) for k, v in _compose()["services"]["web"]["environment"].items()}
    parsed = read_env(env)
    assert parsed.database_url.startswith("postgres://")
    assert parsed.broker_url.startswith("redis://")
    assert not parsed.embedded_broker


def test_workers_consume_the_queues_the_code_routes_to():
    services = _compose()["services"]
    assert services["worker"]["command"][services["worker"]["command"].index("-Q") + 1] == "default"
    ml = services["ml-worker"]["command"]
    assert ml[ml.index("-Q") + 1] == "ml"
    assert "ml_worker.celery_app" in ml


def test_readme_documents_every_variable():
    readme = (REPO_ROOT / "README.md").read_text()
    missing = sorted(v for v in _variables_read_by_the_code() if v not in readme)
    assert not missing, f"README.md does not document {missing}"


def test_dockerfile_installs_the_pinned_torch():
    assert "torch==2.13.0" in Path(REPO_ROOT / "Dockerfile").read_text()

"""Where the client finds the server and its token.

``EARMARK_URL`` and ``EARMARK_TOKEN`` win; else ``~/.config/earmark/config.json`` (under
``$XDG_CONFIG_HOME`` when set), written by ``earmark login`` with mode 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    url: str
    token: str
    source: str  # where they came from, for error messages


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "earmark" / "config.json"


def read_file(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def load(environ: Mapping[str, str] | None = None) -> Settings | None:
    env = os.environ if environ is None else environ
    path = config_path(env)
    saved = read_file(path)
    url = env.get("EARMARK_URL") or saved.get("url", "")
    token = env.get("EARMARK_TOKEN") or saved.get("token", "")
    if not url or not token:
        return None
    source = "EARMARK_URL/EARMARK_TOKEN" if env.get("EARMARK_TOKEN") else str(path)
    return Settings(url=url.rstrip("/"), token=token, source=source)


def save(*, url: str, token: str, username: str, environ: Mapping[str, str] | None = None) -> Path:
    """Write the config atomically, readable by its owner only (it holds a token)."""
    path = config_path(environ)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = json.dumps({"url": url.rstrip("/"), "token": token, "username": username}, indent=2)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".json")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(body + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

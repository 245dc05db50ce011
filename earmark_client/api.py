"""A thin HTTP client over Earmark's REST API: token auth, the error envelope, cursor pages,
multipart uploads and streamed downloads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import requests

_TIMEOUT_S = (10, 300)  # connect, read
_DOWNLOAD_CHUNK = 1024 * 1024


class ApiError(Exception):
    """An error answer, or no answer; ``str()`` is the line the CLI prints."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str = "",
        fields: dict[str, list[str]] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.message, self.status, self.code = message, status, code
        self.fields = fields or {}

    def __str__(self) -> str:
        head = f"{self.message}"
        if self.status is not None:
            head = f"{head} (HTTP {self.status}{', ' + self.code if self.code else ''})"
        lines = [head]
        for name, messages in list(self.fields.items())[:20]:
            for message in messages[:3]:
                if message != self.message:
                    lines.append(f"  {name}: {message}")
        return "\n".join(lines)


def error_from_response(response: requests.Response) -> ApiError:
    """Read the ``{"error": {"code", "message", "fields"}}`` envelope, or say what came."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return ApiError(
            str(error.get("message") or response.reason),
            status=response.status_code,
            code=str(error.get("code") or ""),
            fields=error.get("fields") or {},
        )
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    return ApiError(
        f"{response.request.method} {response.url} answered {response.reason or 'an error'}"
        + (f": {text}" if text and not text.startswith("<") else ""),
        status=response.status_code,
    )


class Client:
    def __init__(self, url: str, *, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "earmark-cli/0.1"
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", _TIMEOUT_S)
        try:
            response = self.session.request(method, self._url(path), **kwargs)
        except requests.ConnectionError as exc:
            raise ApiError(f"cannot reach {self.url}: is the server running?") from exc
        except requests.Timeout as exc:
            raise ApiError(f"{self.url} did not answer in time") from exc
        except requests.RequestException as exc:
            raise ApiError(f"request to {self.url} failed: {exc}") from exc
        if response.status_code >= 400:
            error = error_from_response(response)
            response.close()
            raise error
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None).json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.request("POST", path, json=body if body is not None else {})
        return response.json() if response.content else None

    def pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every result of a cursor-paginated list, following ``next``."""
        url: str | None = path
        query: dict[str, Any] | None = {"page_size": 500, **params}
        while url:
            page = self.request("GET", url, params=query).json()
            yield from page["results"]
            url, query = page.get("next"), None  # next already carries the query

    def upload(
        self, path: str, *, files: list[tuple[str, Path]], data: dict[str, str] | None = None
    ) -> Any:
        handles: list[IO[bytes]] = []
        try:
            parts = []
            for field, file_path in files:
                fh: IO[bytes] = file_path.open("rb")
                handles.append(fh)
                parts.append((field, (file_path.name, fh, "application/octet-stream")))
            response = self.request("POST", path, files=parts, data=data or {})
        finally:
            for fh in handles:
                fh.close()
        return response.json()

    def download(
        self, path: str, out: Path, *, on_progress: Callable[[int, int | None], None] | None = None
    ) -> int:
        """Stream a file to ``out`` (written to ``out.part`` and renamed); returns its size."""
        partial = out.with_name(out.name + ".part")
        written = 0
        with self.request("GET", path, stream=True) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            try:
                with partial.open("wb") as fh:
                    for chunk in response.iter_content(chunk_size=_DOWNLOAD_CHUNK):
                        fh.write(chunk)
                        written += len(chunk)
                        if on_progress is not None:
                            on_progress(written, total)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        if total is not None and written != total:
            partial.unlink(missing_ok=True)
            raise ApiError(f"download stopped after {written} of {total} bytes")
        partial.replace(out)
        return written


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)

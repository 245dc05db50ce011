"""A thin HTTP client over Earmark's REST API: token auth, the error envelope, cursor pages,
multipart uploads and streamed downloads."""

from __future__ import annotations

import json
import secrets
import urllib.parse
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


class MultipartBody:
    """A ``multipart/form-data`` body read from the files as it is sent, with its length
    known in advance (Django needs Content-Length; it does not take chunked requests)."""

    _CHUNK = 1024 * 1024

    def __init__(
        self,
        *,
        fields: list[tuple[str, str]],
        files: list[tuple[str, Path]],
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.boundary = secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self._parts: list[bytes | Path] = []
        for name, value in fields:
            self._parts.append(
                self._head(f'form-data; name="{_quote(name)}"') + value.encode() + b"\r\n"
            )
        for name, path in files:
            disposition = (
                f'form-data; name="{_quote(name)}"; filename="{_quote(_ascii(path.name))}"; '
                f"filename*=utf-8''{urllib.parse.quote(path.name)}"
            )
            self._parts += [
                self._head(disposition, "Content-Type: application/octet-stream\r\n"),
                path,
                b"\r\n",
            ]
        self._parts.append(f"--{self.boundary}--\r\n".encode())
        self._length = sum(p.stat().st_size if isinstance(p, Path) else len(p) for p in self._parts)
        self._on_progress = on_progress
        self._index = 0
        self._open: IO[bytes] | None = None
        self._sent = 0

    def _head(self, disposition: str, extra: str = "") -> bytes:
        return f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n{extra}\r\n".encode()

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        want = self._CHUNK if size is None or size < 0 else size
        out = bytearray()
        while len(out) < want and self._index < len(self._parts):
            part = self._parts[self._index]
            if isinstance(part, bytes):
                out += part
                self._index += 1
                continue
            if self._open is None:
                self._open = part.open("rb")
            chunk = self._open.read(want - len(out))
            if chunk:
                out += chunk
            else:
                self._open.close()
                self._open = None
                self._index += 1
        self._sent += len(out)
        if self._on_progress is not None and out:
            self._on_progress(self._sent)
        return bytes(out)

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", " ").replace("\n", " ")


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode().replace("?", "_")


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
        self,
        path: str,
        *,
        files: list[tuple[str, Path]],
        data: dict[str, str] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> Any:
        """POST a multipart form, streamed from disk (a multi-gigabyte zip never sits in
        memory); ``on_progress(bytes_sent)`` follows the upload."""
        body = MultipartBody(
            fields=list((data or {}).items()), files=files, on_progress=on_progress
        )
        try:
            response = self.request(
                "POST", path, data=body, headers={"Content-Type": body.content_type}
            )
        finally:
            body.close()
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

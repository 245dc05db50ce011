"""HTTP Range responses for stored audio, so browsers stream and seek instead of downloading."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from django.http import HttpResponse, StreamingHttpResponse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 256 * 1024


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a single-range ``Range`` header asks for, or None if invalid.

    Multi-range requests are answered with the first range; browsers never send them for media.
    """
    first = header.split(",", 1)[0].strip()
    m = _RANGE.match(first)
    if m is None:
        return None
    start_s, end_s = m.groups()
    if start_s == "" and end_s == "":
        return None
    if start_s == "":  # the last N bytes
        length = int(end_s)
        if length == 0:
            return None
        return max(size - length, 0), size - 1
    start = int(start_s)
    end = int(end_s) if end_s else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def _iter_file(fh: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    try:
        fh.seek(start)
        remaining = length
        while remaining > 0:
            chunk = fh.read(min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        fh.close()


def ranged_file_response(
    fh: IO[bytes], *, size: int, content_type: str, range_header: str | None, filename: str
) -> HttpResponse | StreamingHttpResponse:
    response: HttpResponse | StreamingHttpResponse
    if range_header:
        byte_range = parse_range(range_header, size)
        if byte_range is None:
            fh.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        start, end = byte_range
        length = end - start + 1
        response = StreamingHttpResponse(
            _iter_file(fh, start, length), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        length = size
        response = StreamingHttpResponse(_iter_file(fh, 0, size), content_type=content_type)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    safe_name = filename.replace('"', "").replace("\n", " ")
    response["Content-Disposition"] = f'inline; filename="{safe_name}"'
    return response

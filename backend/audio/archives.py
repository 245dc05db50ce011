"""Safe extraction of uploaded zip archives.

A zip is checked as a whole before a single byte is extracted: entry count, names (no absolute
paths, no "..", no drive letters), no symlinks, no encryption, and a bound on the declared
decompression ratio. Extraction then counts real bytes, because headers can lie.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from backend.common.exceptions import ValidationFailed

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int
    max_ratio: int
    max_total_bytes: int
    max_entry_bytes: int


@dataclass(frozen=True)
class ExtractedEntry:
    name: str  # the path inside the archive, as given
    path: Path  # where it was extracted
    size_bytes: int


def _reject(archive_name: str, reason: str) -> ValidationFailed:
    message = f"{archive_name}: {reason}"
    return ValidationFailed(message, fields={"archive": [message]})


def _skipped(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(p == "__MACOSX" or p.startswith(".") for p in parts)


def check_archive(zf: zipfile.ZipFile, *, archive_name: str, limits: ZipLimits) -> None:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise _reject(
            archive_name, f"too many entries ({len(infos)}; the limit is {limits.max_entries})"
        )
    total = 0
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise _reject(archive_name, f"entry {name!r} has an absolute path")
        if "\\" in name or ".." in PurePosixPath(name).parts:
            raise _reject(archive_name, f"entry {name!r} points outside the archive")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _reject(archive_name, f"entry {name!r} is a symbolic link")
        if info.flag_bits & 0x1:
            raise _reject(archive_name, f"entry {name!r} is encrypted")
        if info.is_dir():
            continue
        if info.file_size > limits.max_entry_bytes:
            raise _reject(
                archive_name,
                f"entry {name!r} is {info.file_size} bytes; the limit is {limits.max_entry_bytes}",
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise _reject(
                archive_name,
                f"entry {name!r} expands {ratio:.0f}x; the limit is {limits.max_ratio}x "
                "(a zip bomb?)",
            )
        total += info.file_size
    if total > limits.max_total_bytes:
        raise _reject(
            archive_name,
            f"expands to {total} bytes; the limit is {limits.max_total_bytes}",
        )


def extract_archive(
    source: Path, dest_dir: Path, *, archive_name: str, limits: ZipLimits
) -> list[ExtractedEntry]:
    """Check then extract every regular file (hidden files and __MACOSX skipped) into dest_dir.

    Entries are written under numbered names so nothing in the archive chooses a path.
    """
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _reject(archive_name, f"not a readable zip archive ({exc})") from exc
    out: list[ExtractedEntry] = []
    with zf:
        check_archive(zf, archive_name=archive_name, limits=limits)
        total = 0
        for index, info in enumerate(zf.infolist()):
            if info.is_dir() or _skipped(info.filename):
                continue
            target = dest_dir / f"{index:06d}{PurePosixPath(info.filename).suffix.lower()[:8]}"
            written = 0
            try:
                with zf.open(info) as src, target.open("wb") as dst:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        total += len(chunk)
                        # Real bytes, not the header's claim, decide.
                        if written > info.file_size or total > limits.max_total_bytes:
                            raise _reject(
                                archive_name, f"entry {info.filename!r} is larger than declared"
                            )
                        dst.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
                raise _reject(archive_name, f"entry {info.filename!r} is corrupt ({exc})") from exc
            out.append(ExtractedEntry(name=info.filename, path=target, size_bytes=written))
    if not out:
        raise _reject(archive_name, "contains no files")
    return out

"""Writes for audio items: ingest of uploads and archives, and processing in the worker."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from backend.audio import decoding, peaks, spectrogram
from backend.audio.archives import ZipLimits, extract_archive
from backend.audio.models import AudioItem
from backend.audio.selectors import item_by_sha256
from backend.common.exceptions import ApplicationError, ValidationFailed
from backend.common.queue import enqueue_on_commit
from backend.common.storage import local_path, storage_delete_tree
from backend.projects.models import Project
from backend.users.models import User

logger = logging.getLogger(__name__)

_HASH_CHUNK = 1024 * 1024
TASK_ITEM_PROCESS = "earmark.audio.item_process"


@dataclass(frozen=True)
class IngestSource:
    """A file on local disk waiting to be ingested, and the name the user gave it."""

    name: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    external_id: str | None = None


@dataclass(frozen=True)
class IngestOutcome:
    name: str
    status: str  # "created", "duplicate" or "rejected"
    item: AudioItem | None = None
    error: str = ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _validate(source: IngestSource) -> decoding.AudioInfo:
    """Cheap checks that need no full decode; the worker decodes everything later."""
    size = source.path.stat().st_size
    if size == 0:
        raise decoding.AudioDecodeError("empty file (0 bytes)")
    if size > settings.EARMARK_MAX_UPLOAD_BYTES:
        raise decoding.AudioDecodeError(
            f"file is {size} bytes; the limit is {settings.EARMARK_MAX_UPLOAD_BYTES} bytes"
        )
    info = decoding.probe(source.path)
    if info.duration_s > settings.EARMARK_MAX_DURATION_S:
        raise decoding.AudioDecodeError(
            f"recording is {info.duration_s:.0f} s long; the limit is "
            f"{settings.EARMARK_MAX_DURATION_S} s"
        )
    # Truncation usually shows at the end: decode the last seconds now so the user hears
    # about it at upload time, not only after the worker's full decode.
    decoding.check_tail(source.path, info)
    return info


def item_storage_key(*, project_id: int, sha256: str, fmt: str) -> str:
    return f"projects/{project_id}/audio/{sha256[:2]}/{sha256}.{fmt}"


def _ingest_one(
    *, project: Project, source: IngestSource, uploaded_by: User | None
) -> IngestOutcome:
    try:
        info = _validate(source)
    except decoding.AudioDecodeError as exc:
        return IngestOutcome(name=source.name, status="rejected", error=str(exc))
    sha256 = _sha256(source.path)
    existing = item_by_sha256(project=project, sha256=sha256)
    if existing is not None:
        return IngestOutcome(name=source.name, status="duplicate", item=existing)

    key = item_storage_key(project_id=project.pk, sha256=sha256, fmt=info.format)
    with source.path.open("rb") as fh:
        stored_key = default_storage.save(key, File(fh, name=key))
    try:
        with transaction.atomic():
            item = AudioItem(
                project=project,
                storage_key=stored_key,
                original_name=source.name[:500],
                external_id=source.external_id,
                sha256=sha256,
                size_bytes=source.path.stat().st_size,
                format=info.format,
                content_type=info.content_type,
                duration_s=info.duration_s,
                sample_rate_hz=info.sample_rate_hz,
                channels=info.channels,
                metadata=source.metadata,
                uploaded_by=uploaded_by,
            )
            item.full_clean(validate_constraints=False)
            item.save()
            enqueue_on_commit(TASK_ITEM_PROCESS, item.pk)
    except IntegrityError:
        # Someone uploaded the same bytes at the same moment: theirs wins, ours goes.
        default_storage.delete(stored_key)
        existing = item_by_sha256(project=project, sha256=sha256)
        return IngestOutcome(name=source.name, status="duplicate", item=existing)
    except BaseException:
        default_storage.delete(stored_key)
        raise
    return IngestOutcome(name=source.name, status="created", item=item)


def items_ingest(
    *, project: Project, sources: list[IngestSource], uploaded_by: User | None
) -> list[IngestOutcome]:
    """Ingest files one by one: each is created, found to be a duplicate, or rejected.

    A rejected file leaves nothing behind: no row and no stored bytes. Must not run inside an
    outer transaction, so that each accepted file is committed (and enqueued) on its own.
    """
    return [
        _ingest_one(project=project, source=source, uploaded_by=uploaded_by) for source in sources
    ]


@contextmanager
def archive_sources(archive: Path, *, archive_name: str) -> Iterator[list[IngestSource]]:
    """Extract a zip safely into a temporary folder; yields one source per audio entry."""
    limits = ZipLimits(
        max_entries=settings.EARMARK_MAX_ZIP_ENTRIES,
        max_ratio=settings.EARMARK_MAX_ZIP_RATIO,
        max_total_bytes=settings.EARMARK_MAX_UPLOAD_BYTES,
        max_entry_bytes=settings.EARMARK_MAX_UPLOAD_BYTES,
    )
    tmp = Path(tempfile.mkdtemp(prefix="earmark-zip-"))
    try:
        entries = extract_archive(archive, tmp, archive_name=archive_name, limits=limits)
        yield [IngestSource(name=e.name, path=e.path) for e in entries]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def item_process(*, item_id: int, force: bool = False) -> AudioItem | None:
    """Full decode check, waveform peaks and the spectrogram overview for one item.

    One decode pass feeds both the peaks and the overview. ``failed`` with the reason on
    error. Idempotent: a ready item is left alone unless ``force``; reprocessing replaces the
    peaks and the overview and drops every cached spectrogram tile. Runs outside a
    transaction while decoding (minutes for long files) and writes the result in one short
    transaction.
    """
    item = AudioItem.objects.filter(pk=item_id).first()
    if item is None:
        logger.info("item %s is gone; nothing to process", item_id)
        return None
    if item.state == AudioItem.State.READY and not force:
        return item
    try:
        with local_path(item.storage_key) as path:
            info = decoding.probe(path)
            overview = spectrogram.OverviewBuilder(sample_rate_hz=info.sample_rate_hz)
            pyramid = peaks.compute_peaks(
                decoding.tee_blocks(decoding.iter_blocks(path, info=info), overview.feed),
                sample_rate_hz=info.sample_rate_hz,
                channels=info.channels,
            )
            overviews = overview.finish()
        decoding.verify_decoded_frames(info, pyramid.frames)
    except (decoding.AudioDecodeError, OSError) as exc:
        return _item_fail(item_id=item_id, error=str(exc))

    storage_delete_tree(item.peaks_prefix)
    storage_delete_tree(item.spectrogram_prefix)
    for level in pyramid.levels:
        key = item.peaks_key(level)
        with tempfile.TemporaryFile() as fh:
            peaks.write_dat(pyramid, level, fh)
            fh.seek(0)
            default_storage.save(key, File(fh, name=key))
    for scale, data in overviews.items():
        key = item.spectrogram_overview_key(scale)
        with tempfile.TemporaryFile() as fh:
            spectrogram.write_overview(data, fh)
            fh.seek(0)
            default_storage.save(key, File(fh, name=key))
    with transaction.atomic():
        item = AudioItem.objects.select_for_update().filter(pk=item_id).first()
        if item is None:
            return None
        item.state = AudioItem.State.READY
        item.error = ""
        item.duration_s = pyramid.frames / pyramid.sample_rate_hz
        item.peaks_levels = sorted(pyramid.levels)
        item.save(update_fields=["state", "error", "duration_s", "peaks_levels", "updated_at"])
    return item


@transaction.atomic
def _item_fail(*, item_id: int, error: str) -> AudioItem | None:
    item = AudioItem.objects.select_for_update().filter(pk=item_id).first()
    if item is None:
        return None
    item.state = AudioItem.State.FAILED
    item.error = error[:2000]
    item.save(update_fields=["state", "error", "updated_at"])
    logger.warning("item %s failed: %s", item_id, error)
    return item


@transaction.atomic
def item_delete(*, item: AudioItem) -> None:
    storage_key, peaks_prefix = item.storage_key, item.peaks_prefix
    spectrogram_prefix = item.spectrogram_prefix
    item.delete()

    def _remove_bytes() -> None:
        default_storage.delete(storage_key)
        storage_delete_tree(peaks_prefix)
        storage_delete_tree(spectrogram_prefix)

    transaction.on_commit(_remove_bytes)


class ItemNotReady(ApplicationError):
    status_code = 409
    code = "item_not_ready"


def spectrogram_tile(
    *,
    item: AudioItem,
    px_per_s: float,
    index: int,
    settings: spectrogram.SpectrogramSettings,
) -> bytes:
    """The PNG of one spectrogram tile, from the cache in storage or rendered and cached.

    Tiles at 8 px/s or coarser come from the overview the worker stored (n_fft 1024, whatever
    was asked); finer ones (and items processed before overviews existed) are computed from
    the audio window the tile covers. Raises ItemNotReady unless the item is ready,
    ValidationFailed naming ``px_per_s`` or ``index`` when there is no such tile.
    """
    spec = spectrogram_tile_spec(item=item, px_per_s=px_per_s, index=index)
    if px_per_s <= spectrogram.OVERVIEW_PX_PER_S:
        # A column here spans 125 ms or more, where the FFT size changes nothing visible;
        # the overview answers in milliseconds instead of decoding hours of audio per tile.
        settings = dataclasses.replace(settings, n_fft=spectrogram.OVERVIEW_N_FFT)
    key = item.spectrogram_tile_key(settings.key, spectrogram.level_token(px_per_s), index)
    cached = _stored_bytes(key)
    if cached is not None:
        return cached
    row_db = _tile_row_db(item=item, spec=spec, settings=settings)
    png = spectrogram.render_tile(row_db, settings=settings)
    _store_once(key, png)
    return png


def spectrogram_tile_spec(*, item: AudioItem, px_per_s: float, index: int) -> spectrogram.TileSpec:
    """Where tile ``index`` at ``px_per_s`` lies; the same checks as `spectrogram_tile`."""
    item_require_ready(item=item, what="spectrograms")
    if not spectrogram.is_level(px_per_s):
        levels = ", ".join(spectrogram.level_token(p) for p in spectrogram.PX_PER_S_LEVELS)
        raise ValidationFailed(
            "no such zoom level", fields={"px_per_s": [f"must be one of {levels}"]}
        )
    count = spectrogram.tile_count(duration_s=item.duration_s, px_per_s=px_per_s)
    if index >= count:
        raise ValidationFailed(
            "no such tile",
            fields={"index": [f"must be below {count}, the number of tiles at this level"]},
        )
    return spectrogram.tile_spec(duration_s=item.duration_s, px_per_s=px_per_s, index=index)


def item_require_ready(*, item: AudioItem, what: str) -> None:
    """ItemNotReady (409) unless the worker has processed the item; ``what`` names the data."""
    if item.state != AudioItem.State.READY:
        raise ItemNotReady(f"item {item.pk} is {item.state}; {what} exist once it is ready")


def _tile_row_db(
    *, item: AudioItem, spec: spectrogram.TileSpec, settings: spectrogram.SpectrogramSettings
) -> spectrogram.FloatArray:
    if (
        settings.n_fft == spectrogram.OVERVIEW_N_FFT
        and spec.px_per_s <= spectrogram.OVERVIEW_PX_PER_S
    ):  # always true at coarse levels: spectrogram_tile pins n_fft there
        try:
            with default_storage.open(item.spectrogram_overview_key(settings.scale), "rb") as fh:
                return spectrogram.overview_row_db(cast(BinaryIO, fh), spec=spec)
        except FileNotFoundError:
            logger.info("item %s has no spectrogram overview; computing the tile", item.pk)
    first, stop = spectrogram.tile_frame_range(
        spec=spec, n_fft=settings.n_fft, sample_rate_hz=item.sample_rate_hz
    )
    rate_hz = item.sample_rate_hz
    try:
        with local_path(item.storage_key) as path:
            blocks = decoding.iter_window_blocks(
                path,
                _item_audio_info(item),
                start_s=first / rate_hz,
                duration_s=(stop - first) / rate_hz,
            )
            with contextlib.closing(blocks):
                return spectrogram.row_db_from_blocks(
                    blocks,
                    spec=spec,
                    scale=settings.scale,
                    n_fft=settings.n_fft,
                    sample_rate_hz=rate_hz,
                    start_frame=first,
                )
    except decoding.AudioDecodeError as exc:
        raise ApplicationError(
            f"item {item.pk}: cannot decode this part of the audio ({exc})",
            code="invalid_audio",
            status_code=500,
        ) from exc


def _item_audio_info(item: AudioItem) -> decoding.AudioInfo:
    """What the decoder needs, from the row: no probe (an ffprobe run costs ~50 ms)."""
    return decoding.AudioInfo(
        format=item.format,
        codec="",
        duration_s=item.duration_s,
        sample_rate_hz=item.sample_rate_hz,
        channels=item.channels,
        frames=round(item.duration_s * item.sample_rate_hz),
        content_type=item.content_type,
    )


def _stored_bytes(key: str) -> bytes | None:
    try:
        with default_storage.open(key, "rb") as fh:
            data: bytes = fh.read()
    except FileNotFoundError:
        return None
    return data


def _store_once(key: str, data: bytes) -> None:
    """Store under exactly ``key``; when a concurrent request got there first, keep theirs."""
    if default_storage.exists(key):
        return
    saved = default_storage.save(key, ContentFile(data))
    if saved != key:  # the storage picked another name because ``key`` appeared meanwhile
        default_storage.delete(saved)

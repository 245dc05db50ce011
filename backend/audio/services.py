"""Writes for audio items: ingest of uploads and archives, and processing in the worker."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import psycopg
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from backend.audio import decoding, peaks, spectrogram
from backend.audio.archives import ZipLimits, extract_archive
from backend.audio.connections import (
    ConnectionFailed,
    ConnectionSpec,
    Source,
    clean_relative_path,
    resolve_folder_root,
    source_for,
)
from backend.audio.models import AudioItem, StorageConnection
from backend.audio.selectors import connection_item_count, item_by_sha256
from backend.audio.streaming import parse_range
from backend.common.exceptions import (
    ApplicationError,
    Conflict,
    NotFound,
    ValidationFailed,
)
from backend.common.queue import enqueue_on_commit
from backend.common.storage import local_path, storage_delete_tree
from backend.projects.models import Project
from backend.users.models import User

logger = logging.getLogger(__name__)

_HASH_CHUNK = 1024 * 1024
TASK_ITEM_PROCESS = "earmark.audio.item_process"
# Takes a comma-joined list of item ids: registered items are processed in batches.
TASK_ITEMS_PROCESS_BATCH = "earmark.audio.items_process_batch"
# Ids per processing task: small enough that several workers share a big registration,
# large enough that sending the tasks stays a small part of registering (a task message
# costs about 2 ms of Celery's time: a million references at 50 ids a task are 20,000
# messages, about 40 s).
PROCESS_BATCH_SIZE = 200
# Refs per items_register call (and per transaction) when a sync registers a large scan.
SYNC_REGISTER_BATCH = 10_000


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
    described: _Described | None = None
    try:
        with item_local_path(item=item) as path:
            if item.sha256 is None:
                # Registered in place: nobody has read these bytes yet.
                described = _describe_registered(item=item, path=path)
            info = decoding.probe(path)
            overview = spectrogram.OverviewBuilder(sample_rate_hz=info.sample_rate_hz)
            pyramid = peaks.compute_peaks(
                decoding.tee_blocks(decoding.iter_blocks(path, info=info), overview.feed),
                sample_rate_hz=info.sample_rate_hz,
                channels=info.channels,
            )
            overviews = overview.finish()
        decoding.verify_decoded_frames(info, pyramid.frames)
    except FileNotFoundError:
        # Said without the server's own paths (a manifest may name keys that are not there).
        return _item_fail(item_id=item_id, error=f"{item.storage_key} is missing from storage")
    except (decoding.AudioDecodeError, OSError, ConnectionFailed) as exc:
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
        fields = ["state", "error", "duration_s", "peaks_levels", "updated_at"]
        if described is not None and item.sha256 is None:
            item.sha256 = described.sha256
            item.size_bytes = described.size_bytes
            item.format = described.info.format
            item.content_type = described.info.content_type
            item.sample_rate_hz = described.info.sample_rate_hz
            item.channels = described.info.channels
            fields += ["sha256", "size_bytes", "format", "content_type"]
            fields += ["sample_rate_hz", "channels"]
        try:
            with transaction.atomic():
                item.save(update_fields=fields)
        except IntegrityError:
            # Another item with the same bytes got ready between our check and now.
            return _item_fail(item_id=item_id, error=_duplicate_error(item, described))
    return item


@dataclass(frozen=True)
class _Described:
    sha256: str
    size_bytes: int
    info: decoding.AudioInfo


def _describe_registered(*, item: AudioItem, path: Path) -> _Described:
    """What an upload learns at ingest, learnt by the worker for a registered item.

    The same limits as uploads apply; identical bytes already in the project make the item
    fail (sha256 is unique per project) rather than silently merge two external ids.
    """
    size = path.stat().st_size
    if size == 0:
        raise decoding.AudioDecodeError("empty file (0 bytes)")
    if size > settings.EARMARK_MAX_UPLOAD_BYTES:
        raise decoding.AudioDecodeError(
            f"file is {size} bytes; the limit is {settings.EARMARK_MAX_UPLOAD_BYTES} bytes"
        )
    info = decoding.probe(path)
    if info.duration_s > settings.EARMARK_MAX_DURATION_S:
        raise decoding.AudioDecodeError(
            f"recording is {info.duration_s:.0f} s long; the limit is "
            f"{settings.EARMARK_MAX_DURATION_S} s"
        )
    described = _Described(sha256=_sha256(path), size_bytes=size, info=info)
    twin = item_by_sha256(project=item.project, sha256=described.sha256)
    if twin is not None and twin.pk != item.pk:
        raise decoding.AudioDecodeError(_duplicate_error(item, described, twin=twin))
    return described


def _duplicate_error(
    item: AudioItem, described: _Described | None, *, twin: AudioItem | None = None
) -> str:
    if twin is None and described is not None:
        twin = item_by_sha256(project=item.project, sha256=described.sha256)
    which = f"item {twin.pk} ({twin.original_name})" if twin is not None else "another item"
    return f"the same audio as {which} is already in the project"


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
    """Delete the row, its peaks and tiles, and the audio bytes only when we stored them:
    items registered in place (a connection, or a manifest key) keep their source bytes."""
    storage_key, peaks_prefix = item.storage_key, item.peaks_prefix
    spectrogram_prefix = item.spectrogram_prefix
    owns_bytes = item.connection_id is None and storage_key.startswith(
        f"projects/{item.project_id}/audio/"
    )
    item.delete()

    def _remove_bytes() -> None:
        if owns_bytes:
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
        with item_local_path(item=item, cached=True) as path:
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
    except ConnectionFailed as exc:
        raise NotFound(f"the audio of item {item.pk} cannot be read: {exc}") from exc
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


# --- Items read in place: storage connections and registration ------------------------------


class ConnectionUnavailable(ApplicationError):
    code = "connection_failed"


# ConnectionFailed.field -> the input field a manager would change.
_CONNECTION_FIELDS = {"credentials": "access_key_id"}


def _connection_error(exc: ConnectionFailed) -> ConnectionUnavailable:
    field_name = _CONNECTION_FIELDS.get(exc.field, exc.field)
    return ConnectionUnavailable(str(exc), fields={field_name: [str(exc)]})


def connection_spec(connection: StorageConnection) -> ConnectionSpec:
    return ConnectionSpec(
        kind=connection.kind,
        root=connection.root,
        bucket=connection.bucket,
        endpoint_url=connection.endpoint_url,
        region=connection.region,
        access_key_id=connection.access_key_id,
        secret_access_key=connection.secret_access_key,
    )


def connection_source(connection: StorageConnection) -> Source:
    return source_for(connection_spec(connection), folder_roots=settings.EARMARK_FOLDER_ROOTS)


@contextmanager
def item_local_path(*, item: AudioItem, cached: bool = False) -> Iterator[Path]:
    """A local file with the item's audio, wherever it lives: our storage (uploads), a server
    folder (the file itself) or an S3 connection (a temporary download, removed on exit).

    ``cached``: keep an S3 download in the var folder's bounded cache for the next call (the
    spectrogram tiles of one recording). Raises ConnectionFailed when a connection cannot
    give the file.
    """
    if item.connection_id is None:
        with local_path(item.storage_key) as path:
            yield path
        return
    connection = cast(StorageConnection, item.connection)
    cache_dir = Path(settings.EARMARK_VAR_DIR) / "cache" / "connections" if cached else None
    with connection_source(connection).local_file(item.storage_key, cache_dir=cache_dir) as path:
        yield path


def item_audio_open(*, item: AudioItem, range_header: str | None) -> tuple[IO[bytes], int]:
    """A reader of the item's original bytes and their size, for a Range response.

    For S3 connections only the requested range is fetched (the ``Range`` goes to
    ``get_object``). NotFound when the bytes are missing.
    """
    if item.connection_id is None:
        try:
            size = default_storage.size(item.storage_key)
            return cast(IO[bytes], default_storage.open(item.storage_key, "rb")), size
        except FileNotFoundError as exc:
            raise NotFound(f"the stored audio of item {item.pk} is missing") from exc
    source = connection_source(cast(StorageConnection, item.connection))
    try:
        size = source.size(item.storage_key)
        byte_range = parse_range(range_header, size) if range_header else None
        end = byte_range[1] if byte_range else None
        return source.open(item.storage_key, end=end), size
    except ConnectionFailed as exc:
        raise NotFound(f"the audio of item {item.pk} cannot be read: {exc}") from exc


@dataclass(frozen=True)
class RegisteredRef:
    path: str  # relative to the connection (or a key in our storage when connection is None)
    external_id: str | None = None  # defaults to path when None
    original_name: str = ""  # defaults to the path's basename
    metadata: dict[str, Any] = field(default_factory=dict)
    # The queue's counters of a new item, for a caller that creates its annotations in the
    # same transaction (an import): set in the INSERT instead of a later UPDATE of every row.
    # An existing item's counters are left alone.
    active_annotations: int = 0
    submitted_annotations: int = 0


@dataclass(frozen=True)
class RegisterResult:
    created: int
    existing: int
    item_ids: dict[str, int]  # external_id -> item id, for created and existing items


_EXTERNAL_ID_MAX = AudioItem._meta.get_field("external_id").max_length or 200
_STORAGE_KEY_MAX = AudioItem._meta.get_field("storage_key").max_length or 500


@dataclass(frozen=True)
class _CleanRef:
    path: str
    external_id: str
    original_name: str
    metadata: dict[str, Any]
    active_annotations: int
    submitted_annotations: int


def _clean_ref(index: int, ref: RegisteredRef) -> _CleanRef:
    try:
        path = clean_relative_path(ref.path)
    except ConnectionFailed as exc:
        raise ValidationFailed(str(exc), fields={f"refs.{index}.path": [str(exc)]}) from exc
    external_id = path if ref.external_id is None else ref.external_id
    for name, value, limit in (
        ("path", path, _STORAGE_KEY_MAX),
        ("external_id", external_id, _EXTERNAL_ID_MAX),
    ):
        if not value or len(value) > limit:
            message = f"{name} must be 1 to {limit} characters"
            raise ValidationFailed(message, fields={f"refs.{index}.{name}": [message]})
    name = (ref.original_name or path.rsplit("/", 1)[-1])[:500]
    return _CleanRef(
        path, external_id, name, ref.metadata, ref.active_annotations, ref.submitted_annotations
    )


# Columns that differ per registered row; every other column gets its model default.
_REGISTER_VARYING = (
    "storage_key",
    "original_name",
    "external_id",
    "metadata",
    "active_annotations",
    "submitted_annotations",
)


def _bound_cursor(connection: Any) -> Any:
    """A cursor on Django's connection (same transaction, queries logged and wrapped as
    Django's own) that sends parameters apart from the SQL. Django's cursors quote every
    value into the statement, which for arrays of thousands of strings costs several times
    the query; ``%b`` sends them in binary."""
    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


def _insert_ignoring_conflicts(
    refs: list[_CleanRef], *, fixed: dict[str, Any], using: str = "default"
) -> dict[str, int] | None:
    """INSERT ... ON CONFLICT DO NOTHING of pending rows; on Postgres, returns the inserted
    rows' ids by external id (RETURNING), elsewhere None.

    bulk_create builds a model instance per row and compiles SQL per batch, which costs
    several times the insert itself at 10,000 rows. Postgres gets one statement per call,
    the varying columns as binary arrays through ``unnest`` (one parse, one plan); SQLite, in
    process, an ``executemany``. The column list comes from the model, with each field's
    default and database preparation, so new fields with defaults need no change here.
    """
    connection = connections[using]
    now = timezone.now()
    columns: list[str] = []
    constants: list[Any] = []
    casts: list[str] = []
    by_name = {f.attname: f for f in AudioItem._meta.concrete_fields}
    for f in by_name.values():
        if f.primary_key or f.attname in _REGISTER_VARYING:
            continue
        if f.attname in fixed:
            value = fixed[f.attname]
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = now
        else:
            value = f.get_default()
        columns.append(cast(str, f.column))
        constants.append(f.get_db_prep_save(value, connection))
        casts.append(cast(str, f.cast_db_type(connection)))
    columns += [cast(str, by_name[name].column) for name in _REGISTER_VARYING]
    encoder = cast(Any, by_name["metadata"]).encoder
    quote = connection.ops.quote_name
    # Only names from the model's own metadata are interpolated; every value is a parameter.
    head = f"INSERT INTO {quote(AudioItem._meta.db_table)} ({', '.join(quote(c) for c in columns)})"
    metadata = [json.dumps(ref.metadata, cls=encoder) for ref in refs]
    if connection.vendor == "postgresql":
        # Typed parameters: a bare NULL in a SELECT list would be text, not the column's type.
        typed = ", ".join(f"%s::{db_type}" for db_type in casts)
        with _bound_cursor(connection) as cursor:
            cursor.execute(
                f"{head} SELECT {typed}, u.k, u.n, u.e, u.m::jsonb, u.a, u.s "  # noqa: S608
                "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::int[], %b::int[])"
                " AS u(k, n, e, m, a, s) ON CONFLICT DO NOTHING RETURNING external_id, id",
                [
                    *constants,
                    [ref.path for ref in refs],
                    [ref.original_name for ref in refs],
                    [ref.external_id for ref in refs],
                    metadata,
                    [ref.active_annotations for ref in refs],
                    [ref.submitted_annotations for ref in refs],
                ],
            )
            return dict(cursor.fetchall())
    with connection.cursor() as cursor:
        cursor.executemany(
            f"{head} VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT DO NOTHING",
            [
                (
                    *constants,
                    ref.path,
                    ref.original_name,
                    ref.external_id,
                    meta,
                    ref.active_annotations,
                    ref.submitted_annotations,
                )
                for ref, meta in zip(refs, metadata, strict=True)
            ],
        )
    return None


def _existing_item_ids(
    *, project: Project, external_ids: list[str], using: str = "default"
) -> dict[str, int]:
    """Ids of the project's items with these external ids. Postgres takes the list as one
    array parameter (``= ANY``): an ``IN`` of 10,000 placeholders costs more to build and
    parse than to run."""
    connection = connections[using]
    if not external_ids:
        return {}
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(AudioItem._meta.db_table)
        with _bound_cursor(connection) as cursor:
            cursor.execute(
                f"SELECT external_id, id FROM {table} "  # noqa: S608
                "WHERE project_id = %s AND external_id = ANY(%b::text[])",
                [project.pk, external_ids],
            )
            return dict(cursor.fetchall())
    return {
        cast(str, external_id): pk
        for external_id, pk in AudioItem.objects.filter(
            project=project, external_id__in=external_ids
        ).values_list("external_id", "id")
    }


def items_process_enqueue(item_ids: Sequence[int]) -> None:
    """Process these new items in the worker after commit, PROCESS_BATCH_SIZE ids per task."""
    for start in range(0, len(item_ids), PROCESS_BATCH_SIZE):
        chunk = item_ids[start : start + PROCESS_BATCH_SIZE]
        enqueue_on_commit(TASK_ITEMS_PROCESS_BATCH, ",".join(str(i) for i in chunk))


@transaction.atomic
def items_register(
    *,
    project: Project,
    connection: StorageConnection | None,
    refs: Sequence[RegisteredRef],
    user: User | None,
    known_new: bool = False,
) -> RegisterResult:
    """Register audio by reference, in bulk, without reading it; idempotent by external id.

    Rows are created ``pending`` (sha256 NULL, zero metadata); the worker reads the bytes
    through the connection after commit, in tasks of PROCESS_BATCH_SIZE ids. A ref whose
    external id already exists in the project is counted as existing and left unchanged;
    within one call the first ref of an external id wins. A bad ref (absolute path, ``..``,
    too long) rejects the whole call with ValidationFailed naming ``refs.{index}.{field}``.
    Two statements on Postgres whatever the size (existing ids, the insert returning the new
    ones), three on SQLite. ``known_new``: the caller has just found none of these ids in
    the project (an import), so Postgres skips the existence query; a ref that exists after
    all is still found (the insert skips it) and counted as existing.
    """
    if connection is not None and connection.project_id != project.pk:
        raise ValidationFailed(
            "the connection belongs to another project",
            fields={"connection": [f"connection {connection.pk} is not one of this project's"]},
        )
    cleaned: dict[str, _CleanRef] = {}
    for index, ref in enumerate(refs):
        clean = _clean_ref(index, ref)
        cleaned.setdefault(clean.external_id, clean)
    if not cleaned:
        return RegisterResult(created=0, existing=0, item_ids={})
    external_ids = list(cleaned)
    # Only Postgres tells inserted rows from skipped ones (RETURNING); SQLite looks first.
    if known_new and connections[AudioItem.objects.db].vendor == "postgresql":
        item_ids: dict[str, int] = {}
    else:
        item_ids = _existing_item_ids(project=project, external_ids=external_ids)
    existing = len(item_ids)
    new_refs = [ref for external_id, ref in cleaned.items() if external_id not in item_ids]
    created: dict[str, int] = {}
    if new_refs:
        # Conflicts are ignored: a concurrent registration of the same ids is no error.
        inserted = _insert_ignoring_conflicts(
            new_refs,
            fixed={
                "project_id": project.pk,
                "connection_id": connection.pk if connection is not None else None,
                "uploaded_by_id": user.pk if user is not None else None,
                "state": AudioItem.State.PENDING,
                "sha256": None,
            },
        )
        new_ids = [ref.external_id for ref in new_refs]
        if inserted is None:  # SQLite: no RETURNING from executemany; map them afterwards
            inserted = _existing_item_ids(project=project, external_ids=new_ids)
        created = inserted
        # Rows a concurrent registration inserted first: existing, not created by us.
        lost = [e for e in new_ids if e not in created]
        raced = _existing_item_ids(project=project, external_ids=lost) if lost else {}
        existing += len(raced)
        item_ids.update(created)
        item_ids.update(raced)
    created_ids = sorted(created.values())
    items_process_enqueue(created_ids)
    return RegisterResult(created=len(created_ids), existing=existing, item_ids=item_ids)


def items_process_batch(*, item_ids: Sequence[int]) -> int:
    """Process registered items one after another; returns how many are ready."""
    ready = 0
    for item_id in item_ids:
        item = item_process(item_id=item_id)
        ready += item is not None and item.state == AudioItem.State.READY
    return ready


def connection_create(
    *,
    project: Project,
    name: str,
    kind: str,
    root: str = "",
    bucket: str = "",
    endpoint_url: str = "",
    region: str = "",
    access_key_id: str = "",
    secret_access_key: str = "",
    created_by: User | None,
) -> StorageConnection:
    """Check that the place can be read, then save the connection.

    A folder must be inside EARMARK_FOLDER_ROOTS (after resolving symlinks) and readable; it
    is stored as its real path. A bucket must answer HeadBucket and a listing of the prefix
    with the given credentials. Each failure is a 400 naming the field at fault.
    """
    if kind not in StorageConnection.Kind.values:
        raise ValidationFailed(
            f"unknown kind {kind!r}",
            fields={"kind": [f"must be one of {StorageConnection.Kind.values}"]},
        )
    if kind == StorageConnection.Kind.S3 and not bucket:
        raise ValidationFailed("a bucket is required", fields={"bucket": ["required for s3"]})
    if kind == StorageConnection.Kind.FOLDER and not root:
        raise ValidationFailed("a folder is required", fields={"root": ["required for folder"]})
    connection = StorageConnection(
        project=project,
        name=name,
        kind=kind,
        root=root.strip("/") if kind == StorageConnection.Kind.S3 else root,
        bucket=bucket,
        endpoint_url=endpoint_url,
        region=region,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        created_by=created_by,
    )
    if StorageConnection.objects.filter(project=project, name=name).exists():
        raise ValidationFailed(
            f"a connection named {name!r} exists", fields={"name": ["already used"]}
        )
    # Network and disk checks happen before any transaction is opened.
    try:
        connection_source(connection).check()
    except ConnectionFailed as exc:
        raise _connection_error(exc) from exc
    if kind == StorageConnection.Kind.FOLDER:
        # Stored as its real path: a symlink swapped in later changes nothing.
        connection.root = str(
            resolve_folder_root(connection.root, folder_roots=settings.EARMARK_FOLDER_ROOTS)
        )
    connection.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError as exc:  # the same name, created meanwhile
        raise ValidationFailed(
            f"a connection named {name!r} exists", fields={"name": ["already used"]}
        ) from exc
    return connection


@transaction.atomic
def connection_delete(*, connection: StorageConnection) -> None:
    """Forget a connection; refused (409) while items still read from it. Never touches the
    source bytes."""
    count = connection_item_count(connection=connection)
    if count:
        raise Conflict(
            f"{count} items are registered from this connection; delete them first",
            code="connection_in_use",
        )
    connection.delete()


@dataclass(frozen=True)
class SyncResult:
    found: int
    created: int
    existing: int


def connection_sync(*, connection: StorageConnection, user: User | None) -> SyncResult:
    """Scan the folder or bucket prefix for audio files (by extension) and register the new
    ones; each file's external id is its relative path, so syncing again adds only new files.

    Registers in transactions of SYNC_REGISTER_BATCH files, each enqueuing its processing on
    commit; must not run inside an outer transaction.
    """
    source = connection_source(connection)
    found = created = existing = 0
    batch: list[RegisteredRef] = []

    def flush() -> None:
        nonlocal created, existing
        result = items_register(
            project=connection.project, connection=connection, refs=batch, user=user
        )
        created += result.created
        existing += result.existing
        batch.clear()

    try:
        source.check()
        for found_file in source.scan():
            found += 1
            batch.append(RegisteredRef(path=found_file.path))
            if len(batch) >= SYNC_REGISTER_BATCH:
                flush()
    except ConnectionFailed as exc:
        raise _connection_error(exc) from exc
    if batch:
        flush()
    logger.info(
        "connection %s synced: %s found, %s new, %s known", connection.pk, found, created, existing
    )
    return SyncResult(found=found, created=created, existing=existing)

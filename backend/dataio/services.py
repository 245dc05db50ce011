"""Writes for imports and exports: the batch importer, the export writer and their jobs.

Imports read records from a format module and write them in batches. Each batch is checked
completely first (labels against the project's schema, times against the recording, files
in storage, people and model versions) and then written in one transaction: a batch with
any bad row writes nothing and every bad row is reported with its field and the reason.
Imports are idempotent: items are found by external id, then sha256; a person has one
annotation per item, which a re-import leaves alone when its content is the same.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import logging
import math
import posixpath
import re
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby, pairwise
from typing import IO, Any, TextIO, TypeVar, cast

import psycopg
from django.contrib.auth.hashers import make_password
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connections, transaction
from django.db.models import (
    F,
    JSONField,
    Max,
    Model,
    Q,
)
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backend.annotations.models import Annotation, Review, Segment
from backend.annotations.services import items_recount_slots
from backend.annotations.validation import (
    END_TOLERANCE_S,
    validate_clip_labels,
    validate_segments,
)
from backend.audio.connections import ConnectionFailed, clean_relative_path
from backend.audio.models import AudioItem, StorageConnection
from backend.audio.services import (
    RegisteredRef,
    connection_source,
    items_process_enqueue,
    items_register,
)
from backend.common.db import commit_without_waiting
from backend.common.exceptions import ApplicationError, ValidationFailed
from backend.common.queue import enqueue_on_commit
from backend.dataio.formats import label_studio, manifest, native, predictions, tables
from backend.dataio.formats.records import (
    AnnotationRecord,
    ItemRecord,
    ModelVersionRecord,
    PredictionRecord,
    ProjectRecord,
    Record,
    ReviewRecord,
    RowError,
    SegmentRecord,
    Unmapped,
)
from backend.dataio.models import ExportJob, ImportJob, JobState
from backend.predictions.models import ModelVersion, Prediction
from backend.projects.models import Membership, Project
from backend.projects.schema import LabelSchema
from backend.users.models import User

logger = logging.getLogger(__name__)

TASK_IMPORT_RUN = "earmark.dataio.import_run"
TASK_EXPORT_RUN = "earmark.dataio.export_run"
BATCH_SIZE = 1000
# Errors and unmapped notes listed in a report; counts are always complete.
REPORT_LIST_MAX = 1000
_UNKNOWN_DURATION_S = math.inf
_UNKNOWN_RATE_HZ = 10**9
_COPY_CHUNK = 1024 * 1024
Role = Membership.Role


# --- the report ---------------------------------------------------------------------------


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[dict[str, Any]] = field(default_factory=list)

    def add_error(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < REPORT_LIST_MAX:
            self.errors.append(error.to_json())

    def add_unmapped(self, note: Unmapped) -> None:
        if len(self.unmapped) < REPORT_LIST_MAX:
            self.unmapped.append(note.to_json())

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "error_count": self.error_count,
            "errors": self.errors,
            "unmapped": self.unmapped,
        }


@dataclass(frozen=True)
class ImportOptions:
    # "file": annotations belong to the usernames in the file (unknown ones are created as
    # inactive accounts and added as annotators); "me": to the importing user.
    annotator: str = "file"
    connection_id: int | None = None
    check_files: bool = True
    batch_size: int = BATCH_SIZE
    model_name: str = "external"  # the external model a predictions import creates
    target: str = ""  # Raven/Audacity: the recording a one-file table belongs to
    label_column: str = ""  # Raven: the column holding the label

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ImportOptions:
        fields = {k: raw[k] for k in cls.__dataclass_fields__ if raw.get(k) is not None}
        return cls(**fields)


# --- the importer ---------------------------------------------------------------------------

# A checked segment as it is stored: (start_s, end_s, label, low_hz, high_hz, text).
_SegRow = tuple[float, float, str, float | None, float | None, str]
# A checked annotation: the record, its clip labels, its segments.
_Checked = tuple[AnnotationRecord, dict[str, list[str]], list[_SegRow]]


@dataclass
class _Resolved:
    """One item record checked against the database: what it matches and what it needs."""

    record: ItemRecord
    item_id: int | None
    existed: bool
    duration_s: float
    sample_rate_hz: int
    annotations: list[_Checked]


@dataclass
class _ExistingAnnotation:
    pk: int
    state: str
    clip_labels: dict[str, list[str]]
    lead_time_s: float
    submitted_at: dt.datetime | None
    is_reference: bool
    review_state: str
    segments: list[tuple[Any, ...]] = field(default_factory=list)
    reviews: set[tuple[str, str, str]] = field(default_factory=set)


class _Importer:
    def __init__(
        self,
        *,
        project: Project,
        user: User | None,
        options: ImportOptions,
        report: ImportReport,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self.project = project
        self.user = user
        self.options = options
        self.report = report
        self.on_progress = on_progress
        self.schema = LabelSchema.parse(project.label_schema)
        self.segment_names = self.schema.segment_label_names
        self.clip_cache: dict[tuple[tuple[str, tuple[str, ...]], ...], dict[str, list[str]]] = {}
        self.users: dict[str, int] = {}
        self.valid_names: set[str] = set()
        self.versions: dict[int, int] = {}  # number in the file -> ModelVersion id
        self.named_versions: dict[str, int] = {}  # external model name -> ModelVersion id
        self.connection: StorageConnection | None = None
        self.connections: dict[str, StorageConnection | None] = {}
        if options.connection_id is not None:
            self.connection = StorageConnection.objects.filter(
                pk=options.connection_id, project=project
            ).first()
            if self.connection is None:
                raise ValidationFailed(
                    "no such storage connection in this project",
                    fields={"options.connection_id": ["not a connection of this project"]},
                )

    # records in, batches out

    def run(self, records: Iterable[Record]) -> None:
        batch: list[ItemRecord] = []
        errors: list[RowError] = []
        rows: set[int] = set()
        for record in records:
            if isinstance(record, Unmapped):
                self.report.add_unmapped(record)
                continue
            if isinstance(record, ProjectRecord | ModelVersionRecord):
                self._flush(batch, errors, rows)
                batch, errors, rows = [], [], set()
                self._header(record) if isinstance(record, ProjectRecord) else self._model(record)
                continue
            rows.add(record.row)
            if isinstance(record, RowError):
                errors.append(record)
            else:
                batch.append(record)
            if len(rows) >= self.options.batch_size:
                self._flush(batch, errors, rows)
                batch, errors, rows = [], [], set()
        self._flush(batch, errors, rows)

    def _flush(self, batch: list[ItemRecord], errors: list[RowError], rows: set[int]) -> None:
        if not rows:
            return
        self.report.rows += len(rows)
        resolved = self._resolve(batch, errors) if batch else []
        if errors:
            for error in sorted(errors, key=lambda e: e.row):
                self.report.add_error(error)
            self.report.rejected += len(rows)
        else:
            with transaction.atomic():
                _commit_without_waiting()
                self._write(resolved)
        if self.on_progress is not None:
            self.on_progress(self.report.rows)

    # the native header and model versions

    def _header(self, record: ProjectRecord) -> None:
        raw = record.settings.get("label_schema")
        if raw is None:
            return
        try:
            schema = LabelSchema.parse(raw)
        except ValidationFailed as exc:
            for path, messages in exc.fields.items():
                self.report.add_error(RowError(record.row, f"project.{path}", messages[0]))
            return
        if self.schema.clip_groups or self.schema.segment_labels:
            if schema.to_json() != self.schema.to_json():
                self.report.add_unmapped(
                    Unmapped(
                        record.row,
                        "project.label_schema: the file's schema differs from the project's; "
                        "labels are checked against the project's",
                    )
                )
            return
        # A project without labels yet (a new one) takes the file's schema and settings.
        project = self.project
        for key, value in record.settings.items():
            if key == "label_schema":
                value = schema.to_json()
            setattr(project, key, value)
        try:
            project.full_clean(exclude=["name", "created_by"])
        except DjangoValidationError as exc:
            self.report.add_error(RowError(record.row, "project", f"bad project settings: {exc}"))
            project.refresh_from_db()
            return
        project.save(update_fields=[*record.settings.keys(), "updated_at"])
        self.schema = schema
        self.segment_names = schema.segment_label_names
        self.clip_cache.clear()

    def _model(self, record: ModelVersionRecord) -> None:
        existing = ModelVersion.objects.filter(project=self.project, version=record.version).first()
        if existing is not None and existing.kind == record.kind:
            self.versions[record.version] = existing.pk
            return
        number = record.version
        if existing is not None:
            top = ModelVersion.objects.filter(project=self.project).aggregate(n=Max("version"))
            number = (top["n"] or 0) + 1
        mv = ModelVersion.objects.create(
            project=self.project,
            version=number,
            kind=record.kind,
            is_external=record.is_external,
            checkpoint_key=record.checkpoint_key,
            trained_on=record.trained_on,
            metrics=record.metrics,
            training_time_s=record.training_time_s,
            device=record.device,
        )
        self.versions[record.version] = mv.pk

    def _named_model(self, name: str) -> int:
        """The external model version called ``name``, created on first use."""
        if name in self.named_versions:
            return self.named_versions[name]
        mv = ModelVersion.objects.filter(project=self.project, kind=name, is_external=True).first()
        if mv is None:
            top = ModelVersion.objects.filter(project=self.project).aggregate(n=Max("version"))
            mv = ModelVersion.objects.create(
                project=self.project,
                version=(top["n"] or 0) + 1,
                kind=name[:50],
                is_external=True,
            )
        self.named_versions[name] = mv.pk
        return mv.pk

    # checking a batch

    def _resolve(self, batch: list[ItemRecord], errors: list[RowError]) -> list[_Resolved]:
        found = self._find_items(batch)
        out: list[_Resolved] = []
        seen_keys: dict[str, int] = {}
        for record in batch:
            row_errors: list[RowError] = []
            match = found.get(id(record))
            key = record.external_id or record.sha256 or ""
            if not record.match_only and key in seen_keys:
                row_errors.append(
                    RowError(record.row, "external_id", f"repeats row {seen_keys[key]}'s item")
                )
            seen_keys.setdefault(key, record.row)
            if match is None:
                row_errors += self._check_new(record)
                duration_s, rate_hz = record.duration_s, record.sample_rate_hz
            else:
                duration_s, rate_hz = match[1], match[2]
            checked = self._check_annotations(record, duration_s, rate_hz, row_errors)
            row_errors += self._check_predictions(record, duration_s)
            errors += row_errors
            out.append(
                _Resolved(
                    record=record,
                    item_id=None if match is None else match[0],
                    existed=match is not None,
                    duration_s=duration_s,
                    sample_rate_hz=rate_hz,
                    annotations=checked,
                )
            )
        return out

    def _find_items(self, batch: list[ItemRecord]) -> dict[int, tuple[int, float, int]]:
        """Record (by id()) -> (item id, duration_s, sample_rate_hz) of the item it matches."""
        items = AudioItem.objects.filter(project=self.project)
        ext_ids = {r.external_id for r in batch if r.external_id}
        shas = {r.sha256 for r in batch if r.sha256}
        by_ext = self._items_by("external_id", ext_ids)
        by_sha = self._items_by("sha256", shas)
        names = {r.original_name for r in batch if r.match_only and r.original_name}
        names |= {r.external_id for r in batch if r.match_only and r.external_id}
        by_name: dict[str, tuple[int, float, int]] = {}
        if names:
            stems = Q()
            for name in names:
                stems |= Q(original_name__startswith=f"{name}.") | Q(original_name=name)
                stems |= Q(storage_key=name)
            for pk, original_name, storage_key, d, r in (
                items.filter(stems).order_by("id").values_list(
                    "id", "original_name", "storage_key", "duration_s", "sample_rate_hz"
                )
            ):  # fmt: skip
                for alias in (original_name, posixpath.splitext(original_name)[0], storage_key):
                    by_name.setdefault(alias, (pk, d, r))
        out: dict[int, tuple[int, float, int]] = {}
        for record in batch:
            hit = (record.external_id and by_ext.get(record.external_id)) or (
                record.sha256 and by_sha.get(record.sha256)
            )
            if not hit and record.match_only:
                hit = by_name.get(record.external_id or "") or by_name.get(record.original_name)
            if hit:
                out[id(record)] = hit
        return out

    def _items_by(self, column: str, keys: set[str]) -> dict[str, tuple[int, float, int]]:
        """The project's items whose ``column`` (external_id or sha256) is one of ``keys``:
        key -> (id, duration_s, sample_rate_hz). Postgres takes the keys as one binary array
        (quoting thousands of strings into an ``IN`` list costs more than the query)."""
        if not keys:
            return {}
        connection = connections[AudioItem.objects.db]
        if connection.vendor != "postgresql":
            rows = AudioItem.objects.filter(
                project=self.project, **{f"{column}__in": keys}
            ).values_list(column, "id", "duration_s", "sample_rate_hz")
            return {key: (pk, d, r) for key, pk, d, r in rows}
        connection.ensure_connection()
        table = connection.ops.quote_name(AudioItem._meta.db_table)
        raw: Any = psycopg.Cursor(connection.connection)
        # Wrapped as Django's own cursors are, so the query is logged and counted.
        wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
        with wrap(raw) as cursor:
            cursor.execute(
                f"SELECT {column}, id, duration_s, sample_rate_hz FROM {table} "  # noqa: S608
                f"WHERE project_id = %s AND {column} = ANY(%b::text[])",
                [self.project.pk, list(keys)],
            )
            return {key: (pk, d, r) for key, pk, d, r in cursor.fetchall()}

    def _check_new(self, record: ItemRecord) -> list[RowError]:
        row = record.row
        if record.match_only:
            name = record.external_id or record.sha256 or record.original_name
            return [RowError(row, "external_id", f"no item of this project matches {name!r}")]
        if not record.storage_key:
            return [RowError(row, "storage_key", "a new item needs a path to its audio")]
        connection = self._connection_for(record)
        if record.connection is not None and connection is None:
            return [
                RowError(row, "connection", f"no storage connection named {record.connection!r}")
            ]
        if record.sha256 is None:
            try:
                clean_relative_path(record.storage_key)
            except ConnectionFailed as exc:
                return [RowError(row, "path", str(exc))]
        if self.options.check_files and not self._exists(connection, record.storage_key):
            return [RowError(row, "path", f"file not found: {record.storage_key}")]
        return []

    def _connection_for(self, record: ItemRecord) -> StorageConnection | None:
        if record.connection is None:
            return self.connection
        if record.connection not in self.connections:
            self.connections[record.connection] = StorageConnection.objects.filter(
                project=self.project, name=record.connection
            ).first()
        return self.connections[record.connection]

    def _exists(self, connection: StorageConnection | None, key: str) -> bool:
        if connection is None:
            try:
                return bool(default_storage.exists(key))
            except (OSError, ValueError, SuspiciousOperation):
                return False
        if connection.kind == StorageConnection.Kind.FOLDER:
            try:
                connection_source(connection).size(key)
            except (ConnectionFailed, OSError):
                return False
        return True  # S3: the worker reads it and marks the item failed if it is missing

    def _check_annotations(
        self, record: ItemRecord, duration_s: float, rate_hz: int, errors: list[RowError]
    ) -> list[_Checked]:
        out: list[_Checked] = []
        people: set[str | None] = set()
        references = 0
        for i, ann in enumerate(record.annotations):
            path = f"annotations.{i}"
            who = self._annotator_name(ann)
            if who is None:
                errors.append(
                    RowError(record.row, f"{path}.annotator", "no importing user to own it")
                )
                continue
            if who not in self.valid_names:
                try:
                    User.username_validator(who)
                except DjangoValidationError:
                    errors.append(
                        RowError(
                            record.row, f"{path}.annotator", f"{who!r} is not a valid username"
                        )
                    )
                    continue
                self.valid_names.add(who)
            if ann.is_reference:
                references += 1
                if references > 1:
                    errors.append(
                        RowError(record.row, path, "an item has one reference annotation")
                    )
            elif who in people:
                errors.append(
                    RowError(record.row, f"{path}.annotator", f"a second annotation by {who!r}")
                )
            else:
                people.add(who)
            if ann.submitted_at is not None and parse_datetime(ann.submitted_at) is None:
                errors.append(RowError(record.row, f"{path}.submitted_at", "not an ISO 8601 time"))
            clip: dict[str, list[str]] = {}
            segs: list[_SegRow] = []
            try:
                clip = self._clip_labels(ann.clip_labels)
            except ValidationFailed as exc:
                errors += _field_errors(record.row, path, exc)
            fast = self._plain_segments(ann.segments, duration_s)
            if fast is not None:
                segs = fast
            else:
                try:
                    checked = validate_segments(
                        self.schema,
                        [s.to_json() for s in ann.segments],
                        duration_s=duration_s or _UNKNOWN_DURATION_S,
                        sample_rate_hz=rate_hz or _UNKNOWN_RATE_HZ,
                    )
                    segs = [
                        (s.start_s, s.end_s, s.label, s.low_hz, s.high_hz, s.text) for s in checked
                    ]
                except ValidationFailed as exc:
                    errors += _field_errors(record.row, path, exc)
            for j, review in enumerate(ann.reviews):
                if not review.reviewer:
                    errors.append(
                        RowError(record.row, f"{path}.reviews.{j}.reviewer", "is required")
                    )
            out.append((ann, clip, segs))
        return out

    def _clip_labels(self, clip_labels: dict[str, list[str]]) -> dict[str, list[str]]:
        """Checked clip labels, remembered per distinct value: a big import repeats a few
        combinations many times. The checked dicts are shared, so never changed."""
        key = tuple((g, tuple(v)) for g, v in clip_labels.items() if type(v) is list)
        if len(key) != len(clip_labels):  # not the readers' usual shape: no shortcut
            return validate_clip_labels(self.schema, clip_labels)
        hit = self.clip_cache.get(key)
        if hit is None:
            hit = validate_clip_labels(self.schema, clip_labels)
            if len(self.clip_cache) < 10_000:
                self.clip_cache[key] = hit
        return hit

    def _plain_segments(
        self, segments: tuple[SegmentRecord, ...], duration_s: float
    ) -> list[_SegRow] | None:
        """The rows of segments that are plainly valid, or None to let ``validate_segments``
        judge them and name what is wrong. Plain: a known label, 0 <= start < end within
        the recording, no frequency bounds, text only where allowed, no overlap where the
        schema forbids it; the same rules as ``validate_segments``, which stays the
        authority (tests compare the two), at a fraction of its cost per segment."""
        names = self.segment_names
        end_limit = (duration_s or _UNKNOWN_DURATION_S) + END_TOLERANCE_S
        clamp = duration_s or _UNKNOWN_DURATION_S
        text_ok = self.schema.segment_text
        rows: list[_SegRow] = []
        for seg in segments:
            start, end = seg.start_s, seg.end_s
            if (
                seg.label not in names
                or not 0 <= start < end <= end_limit
                or seg.low_hz is not None
                or seg.high_hz is not None
                or (seg.text and not text_ok)
            ):
                return None
            rows.append((start, end if end <= clamp else clamp, seg.label, None, None, seg.text))
        if not self.schema.segments_overlap and len(rows) > 1:
            ordered = sorted(rows, key=lambda r: r[0])
            if any(b[0] < a[1] for a, b in pairwise(ordered)):
                return None
        return rows

    def _check_predictions(self, record: ItemRecord, duration_s: float) -> list[RowError]:
        errors: list[RowError] = []
        for i, pred in enumerate(record.predictions):
            path = f"predictions.{i}"
            if pred.model_version is not None and pred.model_version not in self.versions:
                errors.append(
                    RowError(record.row, f"{path}.model_version",
                             f"model version {pred.model_version} is not in the file")
                )  # fmt: skip
            for group, scores in pred.clip_scores.items():
                known = self.schema.group(group)
                if known is None:
                    errors.append(
                        RowError(record.row, f"{path}.clip_scores.{group}", "unknown label group")
                    )
                    continue
                for label in scores:
                    if label not in known.labels:
                        errors.append(
                            RowError(
                                record.row, f"{path}.clip_scores.{group}.{label}", "unknown label"
                            )
                        )
            names = self.schema.segment_label_names
            limit = duration_s or _UNKNOWN_DURATION_S
            for j, seg in enumerate(pred.segments):
                spath = f"{path}.segments.{j}"
                if seg["label"] not in names:
                    errors.append(
                        RowError(
                            record.row, f"{spath}.label", f"unknown segment label {seg['label']!r}"
                        )
                    )
                if not 0 <= seg["start_s"] < seg["end_s"]:
                    errors.append(
                        RowError(
                            record.row,
                            f"{spath}.end_s",
                            "must be greater than start_s (and start_s not negative)",
                        )
                    )
                elif seg["end_s"] > limit + 1e-3:
                    errors.append(
                        RowError(
                            record.row,
                            f"{spath}.end_s",
                            f"is beyond the end of the recording ({limit:.3f} s)",
                        )
                    )
        return errors

    def _annotator_name(self, ann: AnnotationRecord) -> str | None:
        if self.options.annotator == "me" or ann.annotator is None:
            return None if self.user is None else self.user.get_username()
        return ann.annotator

    # writing a checked batch

    def _write(self, resolved: list[_Resolved]) -> None:
        new_ids, counted = self._create_items([r for r in resolved if r.item_id is None])
        for r in resolved:
            if r.item_id is None:
                r.item_id = new_ids[id(r.record)]
        created = {id(r.record) for r in resolved if id(r.record) in new_ids}
        self._people(resolved)
        changed = self._annotations(resolved)
        changed |= self._predictions(resolved)
        touched = [
            cast(int, r.item_id)
            for r in resolved
            if r.record.annotations and id(r.record) not in counted
        ]
        if touched:
            _recount(touched)
        for r in resolved:
            if id(r.record) in created:
                self.report.created += 1
            elif r.item_id in changed:
                self.report.updated += 1
            else:
                self.report.unchanged += 1

    def _create_items(self, new: list[_Resolved]) -> tuple[dict[int, int], set[int]]:
        """Create the batch's new items in file order (ids follow the file, so an export
        lists them as the file did): runs of references go through ``items_register``,
        runs of items with known audio facts (native files) are inserted here.

        Returns the item id of each record (by id()) and the records whose items were
        created with their queue counters already right (so need no recount)."""
        out: dict[int, int] = {}
        counted: set[int] = set()
        runs = groupby(
            new, key=lambda r: (r.record.sha256 is not None, self._connection_for(r.record))
        )
        for (full, connection), run in runs:
            batch = list(run)
            if full:
                out.update(self._insert_items([r.record for r in batch]))
                continue
            refs = []
            for r in batch:
                # The slot rule for a new item: its own submitted work holds slots (an
                # imported draft has no lease, and a new item no assignments).
                held = sum(
                    1
                    for ann, _, _ in r.annotations
                    if ann.state == Annotation.State.SUBMITTED and not ann.is_reference
                )
                rec = r.record
                refs.append(
                    RegisteredRef(
                        path=rec.storage_key,
                        external_id=rec.external_id,
                        original_name=rec.original_name,
                        metadata=rec.metadata,
                        active_annotations=held,
                        submitted_annotations=held,
                    )
                )
            # _find_items has just looked these up: no second existence query
            result = items_register(
                project=self.project,
                connection=connection,
                refs=refs,
                user=self.user,
                known_new=True,
            )
            for r in batch:
                key = r.record.external_id or clean_relative_path(r.record.storage_key)
                out[id(r.record)] = result.item_ids[key]
            if result.created == len(batch):  # else some existed after all: recount them all
                counted.update(id(r.record) for r in batch)
        return out, counted

    def _insert_items(self, records: list[ItemRecord]) -> dict[int, int]:
        rows = [
            AudioItem(
                project=self.project,
                storage_key=rec.storage_key,
                connection=self._connection_for(rec),
                original_name=rec.original_name[:500] or posixpath.basename(rec.storage_key),
                external_id=rec.external_id,
                sha256=rec.sha256,
                size_bytes=rec.size_bytes,
                format=rec.format,
                content_type=rec.content_type,
                duration_s=rec.duration_s,
                sample_rate_hz=rec.sample_rate_hz,
                channels=rec.channels,
                metadata=rec.metadata,
                state=AudioItem.State.PENDING,
                uploaded_by=self.user,
            )
            for rec in records
        ]
        # ignore_conflicts: an item uploaded meanwhile with the same bytes is not an error
        AudioItem.objects.bulk_create(rows, ignore_conflicts=True)
        ids = dict(
            AudioItem.objects.filter(
                project=self.project, sha256__in=[rec.sha256 for rec in records]
            ).values_list("sha256", "id")
        )
        items_process_enqueue(sorted(ids.values()))
        return {id(rec): ids[rec.sha256] for rec in records}

    def _people(self, resolved: list[_Resolved]) -> None:
        """Users for every username in the batch: existing accounts, else new inactive ones;
        each becomes a member (annotator, or reviewer for reviewers) if they are not one."""
        roles: dict[str, str] = {}
        for r in resolved:
            for ann, _, _ in r.annotations:
                name = self._annotator_name(ann)
                if name is not None:
                    roles.setdefault(name, Role.ANNOTATOR)
                for review in ann.reviews:
                    if roles.get(review.reviewer) != Role.ANNOTATOR:
                        roles[review.reviewer] = Role.REVIEWER
        wanted = [n for n in roles if n not in self.users]
        if not wanted:
            return
        found = dict(User.objects.filter(username__in=wanted).values_list("username", "id"))
        missing = [n for n in wanted if n not in found]
        if missing:
            unusable = make_password(None)
            User.objects.bulk_create(
                [User(username=n[:150], is_active=False, password=unusable) for n in missing],
                ignore_conflicts=True,
            )
            found = dict(User.objects.filter(username__in=wanted).values_list("username", "id"))
        self.users.update(found)
        members = set(
            Membership.objects.filter(project=self.project, user_id__in=found.values()).values_list(
                "user_id", flat=True
            )
        )
        Membership.objects.bulk_create(
            [
                Membership(project=self.project, user_id=uid, role=roles[name])
                for name, uid in found.items()
                if uid not in members
            ],
            ignore_conflicts=True,
        )

    def _existing_annotations(
        self, item_ids: list[int]
    ) -> dict[tuple[int, int, bool], _ExistingAnnotation]:
        out: dict[tuple[int, int, bool], _ExistingAnnotation] = {}
        if not item_ids:
            return out
        by_pk: dict[int, _ExistingAnnotation] = {}
        for pk, item_id, annotator_id, state, clip, lead, submitted_at, is_ref, review_state in (
            Annotation.objects.filter(item_id__in=item_ids).values_list(
                "id", "item_id", "annotator_id", "state", "clip_labels", "lead_time_s",
                "submitted_at", "is_reference", "review_state",
            )
        ):  # fmt: skip
            existing = _ExistingAnnotation(
                pk, state, clip, lead, submitted_at, is_ref, review_state
            )
            # one reference per item, whoever wrote it
            out[(item_id, 0 if is_ref else annotator_id, is_ref)] = existing
            by_pk[pk] = existing
        for annotation_id, *values in (
            Segment.objects.filter(annotation_id__in=by_pk)
            .order_by("annotation_id", "start_s", "id")
            .values_list("annotation_id", "start_s", "end_s", "label", "low_hz", "high_hz", "text")
        ):
            by_pk[annotation_id].segments.append(tuple(values))
        for annotation_id, reviewer, verdict, comment in Review.objects.filter(
            annotation_id__in=by_pk
        ).values_list("annotation_id", "reviewer__username", "verdict", "comment"):
            by_pk[annotation_id].reviews.add((reviewer, verdict, comment))
        return out

    def _annotations(self, resolved: list[_Resolved]) -> set[int]:
        existing = self._existing_annotations(
            [cast(int, r.item_id) for r in resolved if r.annotations and r.existed]
        )
        changed: set[int] = set()
        new_rows: list[tuple[Any, ...]] = []
        new_content: list[tuple[list[_SegRow], AnnotationRecord]] = []
        replaced: list[tuple[int, list[_SegRow]]] = []
        updates: list[Annotation] = []
        reviews: list[tuple[Any, ...]] = []
        for r in resolved:
            item_id = cast(int, r.item_id)
            for ann, clip, segs in r.annotations:
                name = cast(str, self._annotator_name(ann))
                uid = self.users[name]
                key = (item_id, 0 if ann.is_reference else uid, ann.is_reference)
                old = existing.get(key)
                submitted_at = _when(ann)
                if old is None:
                    new_rows.append(
                        (
                            item_id,
                            uid,
                            ann.state,
                            clip,
                            ann.lead_time_s,
                            submitted_at,
                            ann.is_reference,
                            ann.review_state,
                        )
                    )
                    new_content.append((segs, ann))
                    changed.add(item_id)
                    continue
                if r.record.match_only and not ann.clip_labels:
                    clip = old.clip_labels  # a table of segments keeps the clip labels
                same = (
                    old.state == ann.state
                    and old.clip_labels == clip
                    and old.segments == segs
                    and old.review_state == ann.review_state
                    and (r.record.match_only or old.lead_time_s == ann.lead_time_s)
                )
                if not same:
                    updates.append(
                        Annotation(
                            pk=old.pk,
                            state=ann.state,
                            clip_labels=clip,
                            lead_time_s=old.lead_time_s if r.record.match_only else ann.lead_time_s,
                            submitted_at=submitted_at or old.submitted_at,
                            review_state=ann.review_state,
                        )
                    )
                    replaced.append((old.pk, segs))
                    changed.add(item_id)
                for review in ann.reviews:
                    if (review.reviewer, review.verdict, review.comment) not in old.reviews:
                        reviews.append(self._review(old.pk, review))
                        changed.add(item_id)
        new_ids = insert_rows(Annotation, _ANNOTATION_COLUMNS, new_rows, returning_ids=True)
        if updates:
            now = timezone.now()
            for row in updates:
                row.updated_at = now
            Annotation.objects.bulk_update(
                updates,
                [
                    "state",
                    "clip_labels",
                    "lead_time_s",
                    "submitted_at",
                    "review_state",
                    "updated_at",
                ],
                batch_size=500,
            )
            Annotation.objects.filter(pk__in=[u.pk for u in updates]).update(
                version=F("version") + 1
            )
            Segment.objects.filter(annotation_id__in=[pk for pk, _ in replaced]).delete()
        owned = [(pk, segs) for pk, (segs, _) in zip(new_ids, new_content, strict=True)]
        segments = [(pk, *seg) for pk, segs in owned + replaced for seg in segs]
        for pk, (_, ann) in zip(new_ids, new_content, strict=True):
            reviews += [self._review(pk, review) for review in ann.reviews]
        insert_rows(Segment, _SEGMENT_COLUMNS, segments, line=_segment_line)
        insert_rows(Review, _REVIEW_COLUMNS, reviews)
        return changed

    def _review(self, annotation_id: int, review: ReviewRecord) -> tuple[Any, ...]:
        return (annotation_id, self.users[review.reviewer], review.verdict, review.comment)

    def _predictions(self, resolved: list[_Resolved]) -> set[int]:
        rows: dict[tuple[int, int], Prediction] = {}
        for r in resolved:
            for pred in r.record.predictions:
                mv_id = self._prediction_model(pred)
                item_id = cast(int, r.item_id)
                rows[(item_id, mv_id)] = Prediction(
                    item_id=item_id,
                    model_version_id=mv_id,
                    clip_scores=pred.clip_scores,
                    segments=list(pred.segments),
                    uncertainty=pred.uncertainty,
                )
        if not rows:
            return set()
        item_ids = {k[0] for k in rows}
        mv_ids = {k[1] for k in rows}
        old = {
            (item_id, mv_id): (scores, segs, unc)
            for item_id, mv_id, scores, segs, unc in Prediction.objects.filter(
                item_id__in=item_ids, model_version_id__in=mv_ids
            ).values_list("item_id", "model_version_id", "clip_scores", "segments", "uncertainty")
        }
        write = [
            p
            for key, p in rows.items()
            if old.get(key) != (p.clip_scores, p.segments, p.uncertainty)
        ]
        if write:
            Prediction.objects.bulk_create(
                write,
                update_conflicts=True,
                unique_fields=["item", "model_version"],
                update_fields=["clip_scores", "segments", "uncertainty", "updated_at"],
                batch_size=2000,
            )
        return {p.item_id for p in write}

    def _prediction_model(self, pred: PredictionRecord) -> int:
        if pred.model_version is not None:
            return self.versions[pred.model_version]
        return self._named_model(pred.model_name or self.options.model_name)


_ANNOTATION_COLUMNS = (
    "item_id",
    "annotator_id",
    "state",
    "clip_labels",
    "lead_time_s",
    "submitted_at",
    "is_reference",
    "review_state",
)
_SEGMENT_COLUMNS = ("annotation_id", "start_s", "end_s", "label", "low_hz", "high_hz", "text")


def _segment_line(row: tuple[Any, ...]) -> str:
    """A segment row (``_SEGMENT_COLUMNS``) in COPY's text format, in one expression: three
    times faster than a converter call per value."""
    pk, start_s, end_s, label, low_hz, high_hz, text = row
    return (
        f"{pk}\t{start_s!r}\t{end_s!r}\t{label.translate(_COPY_ESCAPES)}\t"
        f"{_copy_float(low_hz)}\t{_copy_float(high_hz)}\t{text.translate(_COPY_ESCAPES)}"
    )


_REVIEW_COLUMNS = ("annotation_id", "reviewer_id", "verdict", "comment")


def _commit_without_waiting() -> None:
    """Let this batch's commit return before its WAL is on disk.

    A crash could then lose the last batches committed, but only a suffix of them, and
    ``records_import`` ends with a normal commit (``_wait_for_commits``), which flushes every
    batch before it: an import that returned has all its rows on disk. An import cut off is
    run again (imports are idempotent). Its batches' commits no longer wait for the disk."""
    commit_without_waiting(Annotation.objects.db)


def _wait_for_commits() -> None:
    """Wait until every earlier commit of this connection is on disk: commit a transaction
    that has an id (``pg_current_xact_id`` assigns one) with synchronous_commit on."""
    connection = connections[Annotation.objects.db]
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()")


def _when(ann: AnnotationRecord) -> dt.datetime | None:
    if ann.submitted_at is None:
        return None
    value = parse_datetime(ann.submitted_at)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value


def _field_errors(row: int, prefix: str, exc: ValidationFailed) -> list[RowError]:
    return [RowError(row, f"{prefix}.{path}", messages[0]) for path, messages in exc.fields.items()]


def _recount(item_ids: Sequence[int]) -> None:
    """Set the queue's counters of these items from their annotations by the queue's own slot
    rule (an imported draft has no lease, so it holds no slot; submitted work does)."""
    items_recount_slots(item_ids=item_ids)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any, *, as_json: bool = False) -> str:
    """One value in COPY's text format (NULL is \\N; backslash, tab and newlines escaped)."""
    if value is None:
        return "\\N"
    if as_json:
        return json.dumps(value, ensure_ascii=False).translate(_COPY_ESCAPES)
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def _copy_float(value: Any) -> str:
    return "\\N" if value is None else repr(float(value))


def _copy_int(value: Any) -> str:
    return "\\N" if value is None else str(int(value))


def _copy_str(value: Any) -> str:
    return "\\N" if value is None else str(value).translate(_COPY_ESCAPES)


def _copy_json(value: Any) -> str:
    return _copy_text(value, as_json=True)


def _copy_json_memo() -> Callable[[Any], str]:
    """JSON's COPY text, computed once per object: an import's rows share their clip labels.
    The memo holds each object it saw, so an id cannot be reused while it is there."""
    memo: dict[int, tuple[Any, str]] = {}

    def convert(value: Any) -> str:
        hit = memo.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        text = _copy_json(value)
        memo[id(value)] = (value, text)
        return text

    return convert


def _copy_converter(field: Any) -> Callable[[Any], str]:
    """The COPY text of one column's values: a function per column, chosen once."""
    if isinstance(field, JSONField):
        return _copy_json_memo()
    kind = field.get_internal_type()
    if kind == "FloatField":
        return _copy_float
    if kind in (
        "ForeignKey",
        "AutoField",
        "BigAutoField",
        "IntegerField",
        "BigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
    ):
        return _copy_int
    if kind in ("CharField", "TextField"):
        return _copy_str
    return _copy_text


def insert_rows(
    model: type[Model],
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    returning_ids: bool = False,
    line: Callable[[tuple[Any, ...]], str] | None = None,
) -> list[int]:
    """Insert plain rows: tuples of the values of ``columns`` (attribute names); every other
    field gets its default. ``line``, if given, writes a row's COPY text (Postgres) instead
    of a converter per column: for the tables an import fills by the million.

    On Postgres with COPY, ids drawn from the table's sequence first when ``returning_ids``:
    an import writes hundreds of thousands of segments, and model instances plus
    ``bulk_create`` cost about ten times the insert itself. Elsewhere (SQLite) bulk_create.
    Returns the new ids in row order when ``returning_ids``, else [].
    """
    if not rows:
        return []
    manager = model._default_manager
    connection = connections[manager.db]
    if connection.vendor != "postgresql":
        objects = [model(**dict(zip(columns, row, strict=True))) for row in rows]
        manager.bulk_create(objects, batch_size=2000)
        return [cast(int, o.pk) for o in objects] if returning_ids else []
    meta = model._meta
    pk = meta.pk
    now = timezone.now()
    by_name = {f.attname: f for f in meta.concrete_fields}
    given = [by_name[name] for name in columns]
    # Every other column once, as text: its default (or now, for timestamps).
    rest = [f for f in meta.concrete_fields if f.attname not in columns and not f.primary_key]
    fixed = "".join(
        "\t"
        + _copy_text(
            now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            else f.get_default(),
            as_json=isinstance(f, JSONField),
        )
        for f in rest
    ) + "\n"  # fmt: skip
    quote = connection.ops.quote_name
    names = ([pk] if returning_ids else []) + given + rest
    sql = f"COPY {quote(meta.db_table)} ({', '.join(quote(cast(str, f.column)) for f in names)})"
    convert = [_copy_converter(f) for f in given]
    if line is None:

        def line(row: tuple[Any, ...]) -> str:
            return "\t".join([conv(v) for conv, v in zip(convert, row, strict=True)])

    ids: list[int] = []
    with connection.cursor() as cursor:
        if returning_ids:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, pk.column, len(rows)],
            )
            ids = [row[0] for row in cursor.fetchall()]
        # COPY's text format written by hand, a block at a time: psycopg's write_row per row
        # costs more than the database's share of the insert.
        with cursor.cursor.copy(f"{sql} FROM STDIN") as copy:
            for start in range(0, len(rows), 5000):
                block = rows[start : start + 5000]
                lines = [line(row) for row in block]
                if returning_ids:
                    lines = [f"{i}\t{line}" for i, line in zip(ids[start:], lines, strict=False)]
                copy.write(fixed.join(lines) + fixed)
    return ids


def records_import(
    *,
    project: Project,
    records: Iterable[Record],
    user: User | None,
    options: ImportOptions | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import records in batches; see the module docstring. Must run outside a transaction
    so that each accepted batch is committed on its own."""
    report = ImportReport()
    importer = _Importer(
        project=project,
        user=user,
        options=options or ImportOptions(),
        report=report,
        on_progress=on_progress,
    )
    importer.run(records)
    _wait_for_commits()
    return report


# --- import jobs -----------------------------------------------------------------------------

_TABLE_SUFFIX = re.compile(r"(\.Table\.\d+\.selections)?\.txt$", re.IGNORECASE)
_LINE_FORMATS = (ImportJob.Format.NATIVE, ImportJob.Format.MANIFEST, ImportJob.Format.PREDICTIONS)


def _safe_name(name: str) -> str:
    base = posixpath.basename(name.replace("\\", "/")) or "upload"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base)[-100:]


def table_target(name: str) -> str:
    """The recording a Raven/Audacity file describes, from its name:
    ``XC1234.Table.1.selections.txt`` and ``XC1234.txt`` both mean ``XC1234``."""
    return _TABLE_SUFFIX.sub("", posixpath.basename(name.replace("\\", "/")))


def import_job_create(
    *,
    project: Project,
    user: User | None,
    fmt: str,
    options: dict[str, Any],
    upload: IO[bytes],
    name: str,
) -> ImportJob:
    """Keep the uploaded file in storage and queue its import in the worker."""
    if fmt not in ImportJob.Format.values:
        raise ValidationFailed(
            f"unknown import format {fmt!r}",
            fields={"format": [f"must be one of {list(ImportJob.Format.values)}"]},
        )
    parsed = ImportOptions.from_json(options)
    if (
        parsed.connection_id is not None
        and not StorageConnection.objects.filter(pk=parsed.connection_id, project=project).exists()
    ):
        raise ValidationFailed(
            "no such storage connection in this project",
            fields={"options.connection_id": ["not a connection of this project"]},
        )
    if parsed.annotator == "me" and user is None:
        raise ValidationFailed(
            "annotator 'me' needs a user", fields={"options.annotator": ["needs a user"]}
        )
    key = f"dataio/imports/{project.pk}/{uuid.uuid4().hex}/{_safe_name(name)}"
    stored = default_storage.save(key, File(upload, name=key))
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                project=project,
                format=fmt,
                options=options,
                source_key=stored,
                source_name=name[:500],
                created_by=user,
                progress={"done": 0, "total": None},
            )
            enqueue_on_commit(TASK_IMPORT_RUN, job.pk)
    except BaseException:
        default_storage.delete(stored)
        raise
    return job


def _count_lines(key: str) -> int:
    lines = 0
    last = b"\n"
    with default_storage.open(key, "rb") as fh:
        while chunk := fh.read(_COPY_CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def _guarded(records: Iterable[Record]) -> Iterator[Record]:
    """Stop at bytes that are no UTF-8 text, reporting where, instead of failing the job."""
    last_row = 0
    try:
        for record in records:
            last_row = max(last_row, getattr(record, "row", 0))
            yield record
    except UnicodeDecodeError as exc:
        yield RowError(last_row + 1, "", f"the file is not UTF-8 text ({exc.reason})")
    except csv.Error as exc:
        yield RowError(last_row + 1, "", f"malformed CSV: {exc}")


@contextlib.contextmanager
def _text(fh: IO[bytes]) -> Iterator[TextIO]:
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
    try:
        yield text
    finally:
        text.detach()


def _table_records(
    fmt: str, fh: IO[bytes], *, target: str, options: ImportOptions, annotator: str | None
) -> Iterator[Record]:
    with _text(fh) as text:
        if fmt == ImportJob.Format.RAVEN:
            yield from tables.read_raven(
                text, target=target, label_column=options.label_column or None, annotator=annotator
            )
        else:
            yield from tables.read_audacity(text, target=target, annotator=annotator)


def read_records(
    *, fmt: str, fh: IO[bytes], name: str, project: Project, options: ImportOptions
) -> Iterator[Record]:
    """The records of an uploaded file in format ``fmt`` (a zip of tables for Raven and
    Audacity: one table per entry, each entry named after its recording)."""
    if fmt in (ImportJob.Format.RAVEN, ImportJob.Format.AUDACITY):
        head = fh.read(4)
        fh.seek(0)
        if head.startswith(b"PK\x03\x04"):
            yield from _zip_tables(fmt, fh, options)
            return
        target = options.target or table_target(name)
        yield from _guarded(_table_records(fmt, fh, target=target, options=options, annotator=None))
        return
    with _text(fh) as text:
        if fmt == ImportJob.Format.NATIVE:
            yield from _guarded(native.read(text))
        elif fmt == ImportJob.Format.MANIFEST:
            yield from _guarded(manifest.read(text))
        elif fmt == ImportJob.Format.PREDICTIONS:
            yield from _guarded(predictions.read(text))
        elif fmt == ImportJob.Format.LABEL_STUDIO:
            schema = LabelSchema.parse(project.label_schema)
            groups = {g.name: g.labels for g in schema.clip_groups}
            yield from _guarded(label_studio.read(text, clip_groups=groups))
        else:
            raise ValidationFailed(f"unknown import format {fmt!r}", fields={"format": ["unknown"]})


_ZIP_MAX_ENTRIES = 10_000
_ZIP_MAX_ENTRY_BYTES = 64 * 1024 * 1024


def _zip_tables(fmt: str, fh: IO[bytes], options: ImportOptions) -> Iterator[Record]:
    try:
        archive = zipfile.ZipFile(fh)
    except zipfile.BadZipFile as exc:
        yield RowError(1, "", f"not a valid zip archive: {exc}")
        return
    with archive:
        entries = [
            i for i in archive.infolist() if not i.is_dir() and i.filename.lower().endswith(".txt")
        ]
        if len(entries) > _ZIP_MAX_ENTRIES:
            yield RowError(
                1, "", f"the archive has {len(entries)} tables; the limit is {_ZIP_MAX_ENTRIES}"
            )
            return
        for info in entries:
            if info.file_size > _ZIP_MAX_ENTRY_BYTES:
                yield RowError(1, info.filename, "the table is too large")
                continue
            with archive.open(info) as entry:
                for record in _guarded(
                    _table_records(
                        fmt, entry, target=table_target(info.filename),
                        options=options, annotator=None,
                    )
                ):  # fmt: skip
                    # rows count per table; tell tables apart in the report by the file
                    if isinstance(record, RowError):
                        yield RowError(
                            record.row, f"{info.filename}:{record.field}".rstrip(":"), record.reason
                        )
                    else:
                        yield record


def _job_update(model: type[ImportJob] | type[ExportJob], pk: int, **values: Any) -> None:
    model.objects.filter(pk=pk).update(updated_at=timezone.now(), **values)


_Job = TypeVar("_Job", ImportJob, ExportJob)


def _job_claim(model: type[_Job], pk: int) -> tuple[_Job | None, bool]:
    """Mark a queued (or interrupted) job running: (the job, True); (the job or None, False)
    when it is gone or already finished, which a second delivery of its task may find."""
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=pk).first()
        if job is None or job.state in (JobState.SUCCEEDED, JobState.FAILED):
            return job, False
        job.state = JobState.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["state", "started_at", "updated_at"])
    return job, True


def _job_failed(model: type[_Job], pk: int, exc: Exception) -> _Job:
    """Record why a job failed (the message, not a traceback) and return it as stored."""
    message = exc.message if isinstance(exc, ApplicationError) else str(exc)
    _job_update(model, pk, state=JobState.FAILED, error=message[:2000], finished_at=timezone.now())
    logger.warning("%s %s failed: %s", model._meta.verbose_name, pk, message)
    return model.objects.get(pk=pk)


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import (in the worker). Safe to run twice: the import is idempotent and
    a finished job is left alone."""
    job, claimed = _job_claim(ImportJob, job_id)
    if job is None or not claimed:
        return job
    project = job.project
    total = _count_lines(job.source_key) if job.format in _LINE_FORMATS else None
    if total is not None and job.format == ImportJob.Format.MANIFEST:
        total -= 1  # a CSV header; for JSON Lines the count is one short, which is harmless

    def progress(done: int) -> None:
        _job_update(ImportJob, job_id, progress={"done": done, "total": total})

    try:
        options = ImportOptions.from_json(job.options)
        with default_storage.open(job.source_key, "rb") as fh:
            records = read_records(
                fmt=job.format, fh=cast(IO[bytes], fh), name=job.source_name,
                project=project, options=options,
            )  # fmt: skip
            report = records_import(
                project=project, records=records, user=job.created_by, options=options,
                on_progress=progress,
            )  # fmt: skip
    except (ApplicationError, OSError, TypeError) as exc:
        return _job_failed(ImportJob, job_id, exc)
    failed = report.rejected > 0
    _job_update(
        ImportJob,
        job_id,
        state=JobState.FAILED if failed else JobState.SUCCEEDED,
        report=report.to_json(),
        progress={"done": report.rows, "total": report.rows},
        error=f"{report.rejected} of {report.rows} rows rejected; see report.errors"
        if failed
        else "",
        finished_at=timezone.now(),
    )
    return ImportJob.objects.get(pk=job_id)


def import_job_delete(*, job: ImportJob) -> None:
    key = job.source_key
    job.delete()
    transaction.on_commit(lambda: default_storage.delete(key))

"""Writes for exports: the streamed export writer and export jobs (reads in `selectors`)."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import posixpath
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, TextIO, cast

import soundfile as sf
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from backend.annotations.models import Annotation
from backend.audio import decoding
from backend.audio.connections import ConnectionFailed
from backend.audio.models import AudioItem
from backend.audio.services import (
    item_local_path,
)
from backend.common.exceptions import ApplicationError, ValidationFailed
from backend.common.queue import enqueue_on_commit
from backend.dataio import selectors
from backend.dataio.formats import csv_rows, label_studio, native, tables
from backend.dataio.formats.records import (
    ItemRecord,
    SegmentRecord,
)
from backend.dataio.models import ExportJob, JobState
from backend.dataio.services import (
    _COPY_CHUNK,
    REPORT_LIST_MAX,
    TASK_EXPORT_RUN,
    _job_claim,
    _job_failed,
    _job_update,
    _safe_name,
)
from backend.predictions.models import ModelVersion
from backend.projects.models import Project
from backend.users.models import User

# --- exports ---------------------------------------------------------------------------------

EXPORT_FILES: dict[str, tuple[str, str]] = {
    ExportJob.Format.NATIVE: ("application/x-ndjson", "jsonl"),
    ExportJob.Format.LABEL_STUDIO: ("application/json", "json"),
    ExportJob.Format.CSV: ("text/csv", "csv"),
    ExportJob.Format.RAVEN: ("application/zip", "zip"),
    ExportJob.Format.AUDACITY: ("application/zip", "zip"),
    ExportJob.Format.AUDIOFOLDER: ("application/zip", "zip"),
}
_FILTER_KEYS = {
    "item_state",
    "annotation_state",
    "label",
    "annotator",
    "updated_after",
    "updated_before",
}


def _as_tuple(value: Any, path: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return tuple(value)
    raise ValidationFailed(
        f"{path}: must be a string or a list of strings",
        fields={path: ["must be a string or a list of strings"]},
    )


def _as_time(value: Any, path: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None and isinstance(value, str):
        day = parse_date(value)
        parsed = None if day is None else dt.datetime.combine(day, dt.time())
    if parsed is None:
        raise ValidationFailed(
            f"{path}: not an ISO 8601 date or time", fields={path: ["not an ISO 8601 date or time"]}
        )
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)


def _choices(raw: dict[str, Any], key: str, allowed: list[str]) -> tuple[str, ...]:
    """The filter ``key`` as a tuple of values, each one of ``allowed``."""
    path = f"filters.{key}"
    values = _as_tuple(raw.get(key), path)
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValidationFailed(
            f"bad {key.replace('_', ' ')} {bad[0]!r}", fields={path: [f"must be in {allowed}"]}
        )
    return values


def export_filters(raw: dict[str, Any], *, fmt: str) -> selectors.ExportFilters:
    """Validate the ``filters`` of an export request. Formats other than native keep only
    submitted annotations unless ``annotation_state`` says otherwise."""
    unknown = set(raw) - _FILTER_KEYS
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(
            f"unknown filter {name!r}",
            fields={f"filters.{name}": [f"expected one of {sorted(_FILTER_KEYS)}"]},
        )
    item_states = _choices(raw, "item_state", AudioItem.State.values)
    states = _choices(raw, "annotation_state", Annotation.State.values)
    default_states = not states and fmt != ExportJob.Format.NATIVE
    if default_states:
        states = (Annotation.State.SUBMITTED,)
    return selectors.ExportFilters(
        default_states=default_states,
        item_states=item_states,
        annotation_states=states,
        labels=_as_tuple(raw.get("label"), "filters.label"),
        annotators=_as_tuple(raw.get("annotator"), "filters.annotator"),
        updated_after=_as_time(raw.get("updated_after"), "filters.updated_after"),
        updated_before=_as_time(raw.get("updated_before"), "filters.updated_before"),
    )


@dataclass(frozen=True)
class ExportSpec:
    fmt: str
    source: str = ExportJob.Source.ALL
    model_version: ModelVersion | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def export_check(*, project: Project, spec: ExportSpec) -> selectors.ExportFilters:
    if spec.fmt not in ExportJob.Format.values:
        raise ValidationFailed(
            f"unknown export format {spec.fmt!r}",
            fields={"format": [f"must be one of {list(ExportJob.Format.values)}"]},
        )
    if spec.source not in ExportJob.Source.values:
        raise ValidationFailed(
            f"unknown source {spec.source!r}",
            fields={"source": [f"must be one of {list(ExportJob.Source.values)}"]},
        )
    if spec.source == ExportJob.Source.PREDICTIONS and spec.model_version is None:
        raise ValidationFailed(
            "predictions need a model version",
            fields={"model_version": ["is required for source 'predictions'"]},
        )
    if spec.model_version is not None and spec.model_version.project_id != project.pk:
        raise ValidationFailed(
            "no such model version in this project",
            fields={"model_version": ["not a model version of this project"]},
        )
    mode = spec.options.get("audiofolder", "recordings")
    if spec.fmt == ExportJob.Format.AUDIOFOLDER and mode not in ("recordings", "clips"):
        raise ValidationFailed(
            "bad audiofolder mode",
            fields={"options.audiofolder": ["must be 'recordings' or 'clips'"]},
        )
    return export_filters(spec.filters, fmt=spec.fmt)


class _Counting:
    """Counts the items flowing to a writer and reports progress every ``every`` items."""

    def __init__(self, on_progress: Callable[[int], None] | None, every: int = 2000) -> None:
        self.done = 0
        self.on_progress = on_progress
        self.every = every

    def __call__(self, items: Iterable[ItemRecord]) -> Iterator[ItemRecord]:
        for item in items:
            yield item
            self.done += 1
            if self.on_progress is not None and self.done % self.every == 0:
                self.on_progress(self.done)


def export_write(
    *,
    project: Project,
    spec: ExportSpec,
    out: IO[bytes],
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the export to ``out`` as it reads; returns {"items": n, "skipped": [...]}."""
    filters = export_check(project=project, spec=spec)
    if spec.fmt in (ExportJob.Format.NATIVE, ExportJob.Format.CSV) and (
        selectors.fast_export_supported(source=spec.source, filters=filters)
    ):
        return {"items": _write_fast(project, spec, filters, out, on_progress), "skipped": []}
    counting = _Counting(on_progress)
    items = counting(
        selectors.export_items(
            project=project,
            source=spec.source,
            model_version=spec.model_version,
            filters=filters,
            with_predictions=spec.fmt in (ExportJob.Format.NATIVE, ExportJob.Format.LABEL_STUDIO),
        )
    )
    names = selectors.model_names(project=project)
    skipped: list[str] = []
    if spec.fmt in (
        ExportJob.Format.RAVEN,
        ExportJob.Format.AUDACITY,
        ExportJob.Format.AUDIOFOLDER,
    ):
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            if spec.fmt == ExportJob.Format.AUDIOFOLDER:
                skipped = _audiofolder(
                    archive, items, clips=spec.options.get("audiofolder") == "clips"
                )
            else:
                _tables(archive, items, raven=spec.fmt == ExportJob.Format.RAVEN, model_names=names)
        return {"items": counting.done, "skipped": skipped}
    with _text_out(out) as text:
        if spec.fmt == ExportJob.Format.NATIVE:
            versions = (
                selectors.model_version_records(project=project, model_version=spec.model_version)
                if spec.source in (ExportJob.Source.ALL, ExportJob.Source.PREDICTIONS)
                else iter(())
            )
            native.write(
                text,
                project=selectors.project_record(project=project),
                model_versions=versions,
                items=items,
            )
        elif spec.fmt == ExportJob.Format.LABEL_STUDIO:
            label_studio.write(text, items, model_names=names)
        else:
            csv_rows.write(text, items, model_names=names)
    return {"items": counting.done, "skipped": skipped}


def _write_fast(
    project: Project,
    spec: ExportSpec,
    filters: selectors.ExportFilters,
    out: IO[bytes],
    on_progress: Callable[[int], None] | None,
) -> int:
    """Native or CSV with the rows built by Postgres (``selectors.native_pages`` and
    ``csv_pages``): the same content as the record path, written a page at a time."""
    done = 0
    if spec.fmt == ExportJob.Format.NATIVE:
        versions = (
            selectors.model_version_records(project=project, model_version=spec.model_version)
            if spec.source == ExportJob.Source.ALL
            else iter(())
        )
        out.write(native.header_line(selectors.project_record(project=project)).encode())
        for mv in versions:
            out.write(native.model_version_line(mv).encode())
        for count, text in selectors.native_pages(
            project=project, source=spec.source, filters=filters
        ):
            out.write(text.encode())
            done += count
            if on_progress is not None:
                on_progress(done)
        return done
    out.write(csv_rows.header_line().encode())
    for count, text in selectors.csv_pages(project=project, source=spec.source, filters=filters):
        out.write(text.encode())
        done += count
        if on_progress is not None:
            on_progress(done)
    return done


@contextlib.contextmanager
def _text_out(out: IO[bytes]) -> Iterator[TextIO]:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    try:
        yield text
        text.flush()
    finally:
        text.detach()


def _file_stem(item: ItemRecord) -> str:
    base = posixpath.splitext(posixpath.basename(item.original_name or item.storage_key))[0]
    return _safe_name(base or (item.external_id or str(item.row)))


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        taken.add(name)
        return name
    stem, ext = posixpath.splitext(name)
    n = 2
    while f"{stem}-{n}{ext}" in taken:
        n += 1
    taken.add(f"{stem}-{n}{ext}")
    return f"{stem}-{n}{ext}"


def _item_segments(
    item: ItemRecord, model_names: dict[int, str]
) -> list[tuple[SegmentRecord, str]]:
    out = [(s, a.annotator or "") for a in item.annotations for s in a.segments]
    for p in item.predictions:
        name = f"model:{p.model_name or model_names.get(p.model_version or 0, '')}"
        out += [
            (
                SegmentRecord(
                    s["start_s"], s["end_s"], s["label"], s.get("low_hz"), s.get("high_hz")
                ),
                name,
            )
            for s in p.segments
        ]
    return out


def _tables(
    archive: zipfile.ZipFile,
    items: Iterable[ItemRecord],
    *,
    raven: bool,
    model_names: dict[int, str],
) -> None:
    taken: set[str] = set()
    for item in items:
        segs = _item_segments(item, model_names)
        if not segs:
            continue
        stem = _file_stem(item)
        if raven:
            name = _unique(f"{stem}.Table.1.selections.txt", taken)
            archive.writestr(name, tables.raven_table(segs))
        else:
            name = _unique(f"{stem}.txt", taken)
            archive.writestr(name, tables.audacity_labels(s for s, _ in segs))


def _audiofolder(
    archive: zipfile.ZipFile, items: Iterable[ItemRecord], *, clips: bool
) -> list[str]:
    """Audio under ``data/`` and ``metadata.csv`` (written last, from a temporary file)."""
    skipped: list[str] = []
    taken: set[str] = set()
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as meta:
        writer = csv.writer(meta, lineterminator="\n")
        writer.writerow(
            ["file_name", "label", "start_s", "end_s", "source_external_id", "annotator"]
            if clips
            else [
                "file_name",
                "external_id",
                "original_name",
                "annotators",
                "clip_labels",
                "segments",
            ]
        )
        for item in items:
            row = AudioItem.objects.select_related("connection").filter(pk=item.row).first()
            if row is None:
                continue
            try:
                if clips:
                    _write_clips(archive, writer, item, row, taken)
                else:
                    _write_recording(archive, writer, item, row, taken)
            except (ConnectionFailed, OSError, decoding.AudioDecodeError) as exc:
                if len(skipped) < REPORT_LIST_MAX:
                    skipped.append(f"{item.external_id or item.original_name}: {exc}")
        meta.seek(0)
        with archive.open("metadata.csv", "w") as dst:
            while chunk := meta.read(_COPY_CHUNK):
                dst.write(chunk.encode("utf-8"))
    return skipped


def _write_recording(
    archive: zipfile.ZipFile, writer: Any, item: ItemRecord, row: AudioItem, taken: set[str]
) -> None:
    ext = posixpath.splitext(item.original_name)[1] or f".{row.format or 'bin'}"
    name = _unique(f"data/{_file_stem(item)}{ext}", taken)
    with item_local_path(item=row) as path, path.open("rb") as src, archive.open(name, "w") as dst:
        shutil.copyfileobj(src, dst, _COPY_CHUNK)
    clip: dict[str, list[str]] = {}
    for a in item.annotations:
        for group, labels in a.clip_labels.items():
            clip.setdefault(group, [])
            clip[group] += [x for x in labels if x not in clip[group]]
    segs = [{**s.to_json(), "annotator": a.annotator} for a in item.annotations for s in a.segments]
    writer.writerow(
        [
            name,
            item.external_id or "",
            item.original_name,
            "|".join(a.annotator or "" for a in item.annotations),
            json.dumps(clip, ensure_ascii=False),
            json.dumps(segs, ensure_ascii=False),
        ]
    )


def _write_clips(
    archive: zipfile.ZipFile, writer: Any, item: ItemRecord, row: AudioItem, taken: set[str]
) -> None:
    segs = [(s, a.annotator or "") for a in item.annotations for s in a.segments]
    if not segs:
        return
    with item_local_path(item=row) as path:
        info = decoding.probe(path)
        for n, (seg, who) in enumerate(segs):
            samples = decoding.read_window(
                path, info, start_s=seg.start_s, duration_s=seg.end_s - seg.start_s
            )
            name = _unique(f"data/{_file_stem(item)}_{n:04d}_{_safe_name(seg.label)}.wav", taken)
            buf = io.BytesIO()
            sf.write(buf, samples, info.sample_rate_hz, format="WAV", subtype="PCM_16")
            archive.writestr(name, buf.getvalue())
            writer.writerow([name, seg.label, seg.start_s, seg.end_s, item.external_id or "", who])


# --- export jobs -----------------------------------------------------------------------------


def export_job_create(*, project: Project, user: User | None, spec: ExportSpec) -> ExportJob:
    export_check(project=project, spec=spec)
    with transaction.atomic():
        job = ExportJob.objects.create(
            project=project,
            format=spec.fmt,
            source=spec.source,
            model_version=spec.model_version,
            filters=spec.filters,
            options=spec.options,
            created_by=user,
            progress={"done": 0, "total": None},
        )
        enqueue_on_commit(TASK_EXPORT_RUN, job.pk)
    return job


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Write the export to a temporary file, then into storage (in the worker)."""
    job, claimed = _job_claim(ExportJob, job_id)
    if job is None or not claimed:
        return job
    project = job.project
    total = AudioItem.objects.filter(project=project).count()
    content_type, ext = EXPORT_FILES[job.format]
    spec = ExportSpec(
        fmt=job.format, source=job.source, model_version=job.model_version,
        filters=job.filters, options=job.options,
    )  # fmt: skip

    def progress(done: int) -> None:
        _job_update(ExportJob, job_id, progress={"done": done, "total": total})

    try:
        with tempfile.TemporaryFile() as tmp:
            outcome = export_write(
                project=project, spec=spec, out=cast(IO[bytes], tmp), on_progress=progress
            )
            size = tmp.tell()
            tmp.seek(0)
            name = f"project-{project.pk}-{job.format}-{job.source}-{job.pk}.{ext}"
            key = default_storage.save(
                f"dataio/exports/{project.pk}/{job.pk}/{name}", File(tmp, name=name)
            )
    except (ApplicationError, OSError) as exc:
        return _job_failed(ExportJob, job_id, exc)
    _job_update(
        ExportJob,
        job_id,
        state=JobState.SUCCEEDED,
        result_key=key,
        result_name=name,
        content_type=content_type,
        size_bytes=size,
        progress={
            "done": outcome["items"],
            "total": outcome["items"],
            "skipped": outcome["skipped"],
        },
        finished_at=timezone.now(),
    )
    return ExportJob.objects.get(pk=job_id)

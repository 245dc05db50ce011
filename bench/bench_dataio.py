"""Imports and exports at scale, through the dataio services, on Postgres.

    python -m bench.bench_dataio                      # the full run (about 10 minutes)
    python -m bench.bench_dataio --import-items 5000 --manifest-rows 100000 --export-items 10000

Cases, each in its own process so that its peak RSS is its own:

- import: N items x 3 annotations (3 segments + a clip choice each), the shape of Label
  Studio's 94.6 s / 50,000-task import; as a native JSON Lines file and as Label Studio JSON.
  Items are audio references (no bytes are read; file checks off); the worker would process
  them later.
- manifest: a CSV of R audio references with metadata (no labels), at R and R/10 rows: the
  peak RSS of the two shows whether memory stays flat.
- export: a project of M items x 3 annotations written as native JSON Lines and CSV, at M and
  M/10 items.
- floor (``--cases import,floor``): the rows the native import wrote, saved as COPY text,
  deleted and loaded again by COPY in one transaction: what the database alone needs for
  that import in this schema (indexes, constraints, foreign-key checks), with no parsing or
  checking at all. The import's wall time against it shows what the application adds.

Each process prints ``BENCH_JSON {...}``; the parent prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    JSON_MARKER,
    REPO_ROOT,
    app_env,
    free_port,
    machine,
    machine_lines,
    manage,
    postgres_database,
    table,
    temp_var_dir,
    write_json,
)

SCHEMA = {
    "clip_groups": [{"name": "scene", "choice": "single", "labels": ["street", "park", "home"]}],
    "segment_labels": [
        {"name": "dog", "color": "#e6194b"},
        {"name": "bird", "color": "#3cb44b"},
        {"name": "car", "color": "#4363d8"},
    ],
    "segments_overlap": True,
}
LABELS = ("dog", "bird", "car")
SCENES = ("street", "park", "home")
LS_BASELINE_IMPORT_S = 94.6  # Label Studio 1.23.2, 50,000 tasks, this machine (issue 6)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _CpuClock:
    """CPU seconds spent by this process and by its Postgres backend (read from /proc; the
    benchmark runs on the database's machine). On a busy machine wall time mostly measures
    the neighbours; client + server CPU is what the work costs and bounds an idle run."""

    def __init__(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backend_pid = cursor.fetchone()[0]
        self.client0, self.server0 = self._client(), self._server()

    @staticmethod
    def _client() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def _server(self) -> float:
        try:
            fields = Path(f"/proc/{self.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def read(self) -> dict[str, float]:
        client, server = self._client() - self.client0, self._server() - self.server0
        return {"client_cpu_s": round(client, 2), "server_cpu_s": round(server, 2)}


def _annotations(n: int) -> list[dict[str, Any]]:
    out = []
    for k in range(3):
        base = (n * 7 + k) % 50
        out.append(
            {
                "annotator": f"annotator{k}",
                "state": "submitted",
                "clip_labels": {"scene": [SCENES[(n + k) % 3]]},
                "segments": [
                    {"start_s": base + j * 2.0, "end_s": base + j * 2.0 + 1.5, "label": LABELS[j]}
                    for j in range(3)
                ],
            }
        )
    return out


def _write_native(path: Path, items: int) -> None:
    with path.open("w") as fh:
        header = {
            "type": "earmark",
            "version": 1,
            "project": {"name": "bench", "label_schema": SCHEMA},
        }
        fh.write(json.dumps(header) + "\n")
        for n in range(items):
            line = {
                "type": "item",
                "external_id": f"rec/{n:07d}.flac",
                "storage_key": f"rec/{n:07d}.flac",
                "original_name": f"{n:07d}.flac",
                "metadata": {"site": f"site-{n % 20}"},
                "annotations": _annotations(n),
            }
            fh.write(json.dumps(line) + "\n")


def _write_label_studio(path: Path, items: int) -> None:
    with path.open("w") as fh:
        fh.write("[\n")
        for n in range(items):
            results = []
            annotations = []
            for k, a in enumerate(_annotations(n)):
                results = [
                    {"id": f"r{j}", "from_name": "label", "to_name": "audio", "type": "labels",
                     "value": {"start": s["start_s"], "end": s["end_s"], "labels": [s["label"]]}}
                    for j, s in enumerate(a["segments"])
                ] + [{"from_name": "scene", "to_name": "audio", "type": "choices",
                      "value": {"choices": a["clip_labels"]["scene"]}}]  # fmt: skip
                annotations.append({"completed_by": {"email": f"annotator{k}"}, "result": results})
            task = {"data": {"audio": f"rec/{n:07d}.flac"}, "annotations": annotations}
            fh.write(("," if n else "") + json.dumps(task) + "\n")
        fh.write("]\n")


def _write_manifest(path: Path, rows: int) -> None:
    with path.open("w") as fh:
        fh.write("path,external_id,site,device\n")
        for n in range(rows):
            fh.write(f"site{n % 50}/rec{n:08d}.wav,r{n:08d},site-{n % 50},am{n % 7}\n")


# --- inside a Django process -----------------------------------------------------------------


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings.local")
    import django

    django.setup()


def _project(name: str, *, schema: bool) -> Any:
    from backend.projects.models import Membership, Project
    from backend.users.models import User

    user, _ = User.objects.get_or_create(username="bench-manager")
    # A native file brings its schema in its header; other formats need the project's.
    project = Project.objects.create(name=name, label_schema=SCHEMA if schema else {})
    Membership.objects.create(project=project, user=user, role="manager")
    return project, user


def _import(path: Path, fmt: str, name: str, batch_size: int) -> dict[str, Any]:
    from backend.annotations.models import Annotation, Segment
    from backend.audio.models import AudioItem
    from backend.dataio.services import ImportOptions, read_records, records_import

    project, user = _project(name, schema=fmt != "native")
    options = ImportOptions(check_files=False, batch_size=batch_size)
    rss_before = _rss_mb()
    clock = _CpuClock()
    started = time.perf_counter()
    with path.open("rb") as fh:
        records = read_records(fmt=fmt, fh=fh, name=path.name, project=project, options=options)
        report = records_import(project=project, records=records, user=user, options=options)
    seconds = time.perf_counter() - started
    return {
        "project": project.pk,
        "seconds": round(seconds, 2),
        **clock.read(),
        "rows": report.rows,
        "rejected": report.rejected,
        "errors": report.errors[:3],
        "items": AudioItem.objects.filter(project=project).count(),
        "annotations": Annotation.objects.filter(item__project=project).count(),
        "segments": Segment.objects.filter(annotation__item__project=project).count(),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
    }


def _export(project_id: int, fmt: str, out: Path) -> dict[str, Any]:
    from backend.dataio.exports import ExportSpec, export_write
    from backend.projects.models import Project

    project = Project.objects.get(pk=project_id)
    rss_before = _rss_mb()
    clock = _CpuClock()
    started = time.perf_counter()
    with out.open("wb") as fh:
        outcome = export_write(project=project, spec=ExportSpec(fmt=fmt), out=fh)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        **clock.read(),
        "items": outcome["items"],
        "bytes": out.stat().st_size,
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
    }


# The tables an import of items with annotations fills, parents first.
_FLOOR_TABLES = (
    ("audio_audioitem", "project_id = %s"),
    ("annotations_annotation", "item_id IN (SELECT id FROM audio_audioitem WHERE project_id = %s)"),
    (
        "annotations_segment",
        "annotation_id IN (SELECT a.id FROM annotations_annotation a JOIN audio_audioitem i "
        "ON i.id = a.item_id WHERE i.project_id = %s)",
    ),
)


def _floor(project_id: int, work: Path) -> dict[str, Any]:
    """The database's own share of an import: the rows an import wrote (items, annotations,
    segments) saved as COPY text, deleted, then loaded again by COPY from those files in one
    transaction (commit not waiting for the disk, as the importer's batches). No parsing, no
    checks, no application code, the same indexes, constraints and foreign-key checks: an
    import of this project in this schema cannot take less.

    Then once more with the foreign-key triggers off (``session_replication_role =
    replica``, superuser only): not something an import may do, only what those checks cost.
    """
    from django.db import connection

    files = {table: work / f"floor-{table}.tsv" for table, _ in _FLOOR_TABLES}
    with connection.cursor() as cursor:
        for table, where in _FLOOR_TABLES:
            query = f"COPY (SELECT * FROM {table} WHERE {where} ORDER BY id) TO STDOUT"  # noqa: S608
            with files[table].open("wb") as fh, cursor.cursor.copy(query, (project_id,)) as copy:
                for block in copy:
                    fh.write(block)
    counts = {table: sum(1 for _ in files[table].open("rb")) for table, _ in _FLOOR_TABLES}
    result: dict[str, Any] = {"rows": counts}
    for fk_checks in (True, False):
        with connection.cursor() as cursor:
            for table, where in reversed(_FLOOR_TABLES):
                cursor.execute(f"DELETE FROM {table} WHERE {where}", [project_id])  # noqa: S608
            cursor.execute("VACUUM ANALYZE")
        clock = _CpuClock()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.connection.transaction():
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                if not fk_checks:
                    cursor.execute("SET LOCAL session_replication_role TO replica")
                for table, _ in _FLOOR_TABLES:
                    with files[table].open("rb") as fh, raw.copy(f"COPY {table} FROM STDIN") as cp:
                        while block := fh.read(1 << 20):
                            cp.write(block)
        key = "" if fk_checks else "no_fk_"
        result[f"{key}seconds"] = round(time.perf_counter() - started, 2)
        result.update({f"{key}{name}": value for name, value in clock.read().items()})
    for path in files.values():
        path.unlink()
    return result | {"peak_rss_mb": round(_rss_mb(), 1)}


def child(args: argparse.Namespace) -> None:
    _django()
    work = Path(args.work)
    if args.case == "import":
        path = work / f"import-{args.n}.{'json' if args.format == 'label_studio' else 'jsonl'}"
        (_write_label_studio if args.format == "label_studio" else _write_native)(path, args.n)
        result = _import(path, args.format, f"import-{args.format}-{args.n}", args.batch_size)
        result["input_bytes"] = path.stat().st_size
        path.unlink()
    elif args.case == "manifest":
        path = work / f"manifest-{args.n}.csv"
        _write_manifest(path, args.n)
        result = _import(path, "manifest", "manifest", args.batch_size)
        result["input_bytes"] = path.stat().st_size
        path.unlink()
    elif args.case == "floor":
        result = _floor(args.project, work)
    else:
        out = work / f"export-{args.project}.{args.format}"
        result = _export(args.project, args.format, out)
        out.unlink()
    print(JSON_MARKER + json.dumps(result), flush=True)


# --- the parent --------------------------------------------------------------------------


def _run(env: dict[str, str], work: Path, *args: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.bench_dataio", "--work", str(work), *args]
    done = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(JSON_MARKER):
            result: dict[str, Any] = json.loads(line[len(JSON_MARKER) :])
            print(f"{' '.join(args)}: {result}", file=sys.stderr)
            return result
    raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")


def _cpu(r: dict[str, Any]) -> str:
    return (
        f"{r['client_cpu_s'] + r['server_cpu_s']:.1f} ({r['client_cpu_s']} + {r['server_cpu_s']})"
    )


def parent(args: argparse.Namespace) -> None:
    info = machine()
    results: dict[str, Any] = {"machine": info}
    with temp_var_dir() as var, postgres_database("earmark_dataio") as db_url:
        env = app_env(var_dir=var, port=free_port(), database_url=db_url, broker_url=None)
        manage(env, "migrate", "--noinput")
        n = str(args.import_items)
        bs = str(args.batch_size)
        cases = set(args.cases.split(","))
        imports = {
            fmt: _run(env, var, "--case", "import", "--format", fmt, "--n", n, "--batch-size", bs)
            for fmt in ("native", "label_studio")
            if "import" in cases
        }
        manifests = {
            rows: _run(
                env,
                var,
                "--case",
                "manifest",
                "--n",
                str(rows),
                "--batch-size",
                str(args.manifest_batch),
            )
            for rows in (args.manifest_rows // 10, args.manifest_rows)
            if "manifest" in cases
        }
        exports: dict[str, Any] = {}
        for items in (args.export_items // 10, args.export_items) if "export" in cases else ():
            setup = _run(
                env,
                var,
                "--case",
                "import",
                "--format",
                "native",
                "--n",
                str(items),
                "--batch-size",
                bs,
            )
            for fmt in ("native", "csv"):
                exports[f"{fmt}-{items}"] = _run(
                    env,
                    var,
                    "--case",
                    "export",
                    "--format",
                    fmt,
                    "--project",
                    str(setup["project"]),
                ) | {"setup_import_s": setup["seconds"]}
        floor: dict[str, Any] = {}
        if "floor" in cases:
            setup = imports.get("native") or _run(
                env, var, "--case", "import", "--format", "native", "--n", n, "--batch-size", bs
            )
            floor = _run(env, var, "--case", "floor", "--project", str(setup["project"]))
            floor["import_s"] = setup["seconds"]
        results.update(imports=imports, manifests=manifests, exports=exports, floor=floor)
    rows: list[list[object]] = []
    for fmt, r in imports.items():
        speedup = LS_BASELINE_IMPORT_S * (r["rows"] / 50_000) / r["seconds"]
        size = f"{r['rows']:,} items, {r['annotations']:,} annotations, {r['segments']:,} segments"
        rate = f"{r['rows'] / r['seconds']:,.0f} items/s"
        rows.append(
            [
                f"import {fmt}",
                size,
                r["seconds"],
                _cpu(r),
                rate,
                f"{speedup:.1f}x",
                r["peak_rss_mb"],
            ]
        )
    if floor:
        n_items = floor["rows"]["audio_audioitem"]
        tables = ", ".join(
            f"{count:,} {name.split('_')[-1]}s" for name, count in floor["rows"].items()
        )
        for label, key in (("", ""), (", foreign-key checks off", "no_fk_")):
            seconds = floor[f"{key}seconds"]
            cpu = {k: floor[f"{key}{k}"] for k in ("client_cpu_s", "server_cpu_s")}
            rows.append(
                [
                    f"COPY of the native import's rows (database floor{label})",
                    tables,
                    seconds,
                    _cpu(cpu),
                    f"{n_items / seconds:,.0f} items/s",
                    f"{LS_BASELINE_IMPORT_S * (n_items / 50_000) / seconds:.1f}x",
                    floor["peak_rss_mb"],
                ]
            )
    for count, r in manifests.items():
        rate = f"{r['rows'] / r['seconds']:,.0f} rows/s"
        rows.append(
            ["manifest CSV", f"{count:,} refs", r["seconds"], _cpu(r), rate, "", r["peak_rss_mb"]]
        )
    for key, r in exports.items():
        fmt, items = key.split("-")
        size = f"{int(items):,} items x 3 annotations, {r['bytes'] / 1e6:,.0f} MB"
        rate = f"{r['items'] / r['seconds']:,.0f} items/s"
        rows.append([f"export {fmt}", size, r["seconds"], _cpu(r), rate, "", r["peak_rss_mb"]])
    headers = ["case", "size", "wall s", "CPU s (client + Postgres)", "throughput (wall)"]
    print(table([*headers, "LS import time / ours (wall)", "peak RSS MB"], rows))
    print("\n".join(machine_lines(info)))
    write_json(args.json, results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", choices=["import", "manifest", "export", "floor"])
    parser.add_argument("--format", default="native")
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--project", type=int, default=0)
    parser.add_argument("--work", default="")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--manifest-batch", type=int, default=5000)
    parser.add_argument("--import-items", type=int, default=50_000)
    parser.add_argument("--manifest-rows", type=int, default=1_000_000)
    parser.add_argument("--export-items", type=int, default=100_000)
    parser.add_argument(
        "--cases",
        default="import,manifest,export",
        help="comma-separated: which cases to run (also: floor, the database's share of the "
        "50,000-item import)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.case:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()

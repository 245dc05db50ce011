"""Benchmark: the agreement report of a 100,000-item project with 3 annotators per item.

    .venv/bin/python -m bench.bench_agreement
    .venv/bin/python -m bench.bench_agreement --items 100000 --pool 12 --repeat 3 --json out.json

Postgres on 127.0.0.1 (a fresh database ``earmark_bench_agreement_<pid>``, dropped at the end).
One project whose schema has a single-choice group (5 labels), a multi-choice group (4 labels)
and 3 segment labels; ``--items`` ready items, each submitted by 3 annotators drawn from a pool
of ``--pool``; labels are a hidden truth copied with per-annotator noise, and segments are
jittered copies of 0-3 true events with some missed and some invented. Rows are written with
``bulk_create`` and the tables analysed. Then the refresh that the worker runs
(``agreement.services.agreement_refresh``, forced) is timed ``--repeat`` times, split into
loading the columns from Postgres and building the report, plus consensus streamed for
``--consensus-items`` items. No timing is asserted: figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    JSON_MARKER,
    BenchError,
    app_env,
    django_shell,
    free_port,
    machine,
    machine_lines,
    manage,
    postgres_database,
    table,
    temp_var_dir,
    write_json,
)

SCENES = ["street", "park", "home", "office", "forest"]
TAGS = ["speech", "music", "traffic", "birds"]
EVENTS = ["dog", "bird", "car"]
SCHEMA = {
    "clip_groups": [
        {"name": "scene", "choice": "single", "labels": SCENES, "required": True},
        {"name": "tags", "choice": "multi", "labels": TAGS},
    ],
    "segment_labels": [
        {"name": name, "color": color, "hotkey": str(i + 1)}
        for i, (name, color) in enumerate(
            zip(EVENTS, ["#e6194b", "#3cb44b", "#4363d8"], strict=True)
        )
    ],
}
PER_ITEM = 3
BATCH = 5_000


def seed(*, items: int, pool: int, seed: int = 0) -> None:
    """Inside ``manage.py shell``: write the project, its items, annotations and segments."""
    import numpy as np
    from django.db import connection
    from django.utils import timezone

    from backend.annotations.models import Annotation, Segment
    from backend.audio.models import AudioItem
    from backend.projects.models import Membership, Project
    from backend.users.models import User

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    project = Project.objects.create(name="agreement bench", label_schema=SCHEMA,
                                     annotations_per_item=PER_ITEM)  # fmt: skip
    people = [User.objects.create(username=f"annotator{i}") for i in range(pool)]
    Membership.objects.bulk_create(
        Membership(project=project, user=u, role=Membership.Role.ANNOTATOR) for u in people
    )
    accuracy = rng.uniform(0.6, 0.95, size=pool)
    now = timezone.now()
    for start in range(0, items, BATCH):
        n = min(BATCH, items - start)
        rows = AudioItem.objects.bulk_create(
            AudioItem(project=project, storage_key=f"bench/{start + i}.wav",
                      original_name=f"rec{start + i}.wav", sha256=f"{start + i:064x}",
                      duration_s=30.0, sample_rate_hz=16_000, channels=1, format="wav",
                      state=AudioItem.State.READY, active_annotations=PER_ITEM,
                      submitted_annotations=PER_ITEM)
            for i in range(n)
        )  # fmt: skip
        annotations, segment_plan = [], []
        for item in rows:
            truth_scene = SCENES[rng.integers(len(SCENES))]
            truth_tags = [t for t in TAGS if rng.random() < 0.3]
            truth_events = []
            for _ in range(rng.integers(0, 4)):
                s = float(rng.uniform(0, 26))
                truth_events.append(
                    (EVENTS[rng.integers(len(EVENTS))], s, s + float(rng.uniform(0.3, 4)))
                )
            for who in rng.choice(pool, size=PER_ITEM, replace=False):
                ok = rng.random() < accuracy[who]
                scene = truth_scene if ok else SCENES[rng.integers(len(SCENES))]
                tags = [t for t in TAGS if (t in truth_tags) != (rng.random() > accuracy[who])]
                annotations.append(
                    Annotation(item=item, annotator=people[who], state=Annotation.State.SUBMITTED,
                               clip_labels={"scene": [scene], "tags": tags},
                               lead_time_s=float(rng.gamma(2.0, 15.0)), submitted_at=now)
                )  # fmt: skip
                events = []
                for label, s, e in truth_events:
                    if rng.random() < 0.1:
                        continue
                    js, je = rng.normal(0, 0.15), rng.normal(0, 0.3)
                    if e + je > s + js > 0:
                        events.append((label, s + js, e + je))
                if rng.random() < 0.1:
                    s = float(rng.uniform(0, 28))
                    events.append((EVENTS[rng.integers(len(EVENTS))], s, s + 1.0))
                segment_plan.append(events)
        Annotation.objects.bulk_create(annotations, batch_size=BATCH)
        Segment.objects.bulk_create(
            (Segment(annotation=a, label=label, start_s=s, end_s=e)
             for a, events in zip(annotations, segment_plan, strict=True)
             for label, s, e in events),
            batch_size=BATCH,
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counts = {
        "project": project.pk,
        "items": AudioItem.objects.filter(project=project).count(),
        "annotations": Annotation.objects.filter(item__project=project).count(),
        "segments": Segment.objects.filter(annotation__item__project=project).count(),
        "annotators": pool,
        "seed_s": round(time.perf_counter() - started, 1),
    }
    print(JSON_MARKER + json.dumps(counts))


def measure(*, project_id: int, repeat: int, consensus_items: int) -> None:
    """Inside ``manage.py shell``: time the refresh, its parts, and consensus streaming."""
    from backend.agreement.report import build_report
    from backend.agreement.selectors import consensus_for_items, label_groups, project_work
    from backend.agreement.services import agreement_refresh
    from backend.projects.models import Project

    project = Project.objects.get(pk=project_id)
    load, build, total, load_cpu, build_cpu, total_cpu = [], [], [], [], [], []
    report: dict[str, Any] = {}
    for _ in range(repeat):
        # Wall time and this process's CPU time: on a shared, loaded machine the CPU time says
        # what the work costs, the wall time what a user waited.
        t0, c0 = time.perf_counter(), time.process_time()
        work = project_work(project_id=project_id)
        t1, c1 = time.perf_counter(), time.process_time()
        groups, segment_labels = label_groups(project=project)
        build_report(work.annotations, work.segments, groups, segment_labels, truth=work.truth,
                     usernames=work.usernames)  # fmt: skip
        t2, c2 = time.perf_counter(), time.process_time()
        refreshed = agreement_refresh(project_id=project_id, force=True)
        t3, c3 = time.perf_counter(), time.process_time()
        assert refreshed is not None
        report = refreshed.report
        load.append(t1 - t0)
        build.append(t2 - t1)
        total.append(t3 - t2)
        load_cpu.append(c1 - c0)
        build_cpu.append(c2 - c1)
        total_cpu.append(c3 - c2)
    t0 = time.perf_counter()
    streamed = 0
    for _ in consensus_for_items(project, chunk_size=500):
        streamed += 1
        if streamed >= consensus_items:
            break
    consensus_s = time.perf_counter() - t0
    scene = next(g for g in report["clip_groups"] if g["name"] == "scene")
    tags = next(g for g in report["clip_groups"] if g["name"] == "tags")
    out = {
        "load_s": [round(x, 3) for x in load],
        "build_s": [round(x, 3) for x in build],
        "refresh_s": [round(x, 3) for x in total],
        "load_cpu_s": [round(x, 3) for x in load_cpu],
        "build_cpu_s": [round(x, 3) for x in build_cpu],
        "refresh_cpu_s": [round(x, 3) for x in total_cpu],
        "report_bytes": len(json.dumps(report)),
        "consensus_items": streamed,
        "consensus_s": round(consensus_s, 3),
        "figures": {
            "scene_alpha": scene["alpha"],
            "scene_fleiss_kappa": scene["fleiss_kappa"],
            "tags_alpha": tags["alpha"],
            "segment_f1": report["segments"]["f1"],
            "segment_iou": report["segments"]["iou"],
        },
    }
    print(JSON_MARKER + json.dumps(out))


def run(args: argparse.Namespace) -> dict[str, Any]:
    with temp_var_dir() as var_dir, postgres_database("earmark_bench_agreement") as url:
        env = app_env(var_dir=var_dir, port=free_port(), database_url=url, broker_url=None)
        manage(env, "migrate", "--noinput", "-v", "0")
        seeded = django_shell(
            env,
            f"from bench.bench_agreement import seed; seed(items={args.items}, pool={args.pool})",
            timeout_s=7200,
        )
        measured = django_shell(
            env,
            "from bench.bench_agreement import measure; "
            f"measure(project_id={seeded['project']}, repeat={args.repeat}, "
            f"consensus_items={args.consensus_items})",
        )
    return {"seed": seeded, "measured": measured}


def report(result: dict[str, Any], info: dict[str, Any]) -> str:
    s, m = result["seed"], result["measured"]

    def med(xs: list[float]) -> str:
        return f"{statistics.median(xs):.2f} (min {min(xs):.2f})"

    lines = [
        f"# Agreement report: {s['items']:,} items, {s['annotations']:,} annotations "
        f"({PER_ITEM} per item, pool of {s['annotators']}), {s['segments']:,} segments",
        "",
        *machine_lines(info),
        "",
        table(
            ["step", "wall s, median (min)", "worker CPU s, median (min)"],
            [
                ["load columns from Postgres (4 queries)", med(m["load_s"]), med(m["load_cpu_s"])],
                ["build the report (numpy)", med(m["build_s"]), med(m["build_cpu_s"])],
                [
                    "whole refresh as the worker runs it (load + build + save)",
                    med(m["refresh_s"]),
                    med(m["refresh_cpu_s"]),
                ],
                [
                    f"consensus streamed for {m['consensus_items']:,} items",
                    f"{m['consensus_s']:.2f}",
                    "",
                ],
            ],
        ),
        "",
        f"Report JSON: {m['report_bytes']:,} bytes. Figures: {m['figures']}. "
        f"Seeding took {s['seed_s']} s.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--pool", type=int, default=12, help="annotators; 3 of them per item")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--consensus-items", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.pool < PER_ITEM:
        parser.error(f"--pool must be at least {PER_ITEM}")
    info = machine()
    try:
        result = run(args)
    except BenchError as exc:
        print(f"bench_agreement: {exc}", file=sys.stderr)
        return 2
    print(report(result, info))
    write_json(args.json, {"machine": info, "args": vars(args) | {"json": None}, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())

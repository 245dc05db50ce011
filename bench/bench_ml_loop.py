"""Benchmark: loop latency, from the Nth submitted annotation to updated predictions.

    .venv/bin/python -m bench.bench_ml_loop                      # 2,000 items, N = 200
    .venv/bin/python -m bench.bench_ml_loop --items 2000 --labelled 200 --epochs 30
    .venv/bin/python -m bench.bench_ml_loop --embedding-model codebook.pt --order-queue

Needs ``../shared/data/esc10_16k`` (ESC-10, read in place through a server-folder storage
connection: nothing is copied), Postgres and Redis on 127.0.0.1 (a fresh database, Redis db 15).
The project learns the 10 ESC-10 classes; ``--items`` ready items cycle through the 400 clips
(so each clip backs several items), the first ``--labelled - 1`` (distinct clips, so held-out
clips are never copies of training ones) already carry their true label,
and ``auto_train_after`` is ``--labelled``. The run starts ``manage.py serve`` (web, default
worker with beat, ML worker), submits the Nth annotation through the REST API and measures until
the run has stored its predictions for every unfinished item: the wall-clock latency, and where
it went (queue, training, prediction and storing), from the run's own timestamps and progress.

``--embedding-model FILE``: the project gets that TorchScript/ONNX embedding model (5 s windows
at 16 kHz, e.g. the label-free codebook ``python -m ml_worker.features.codebook --window-s 5
--out codebook.pt ../shared/data/esc10_16k/audio`` writes), so a run trains only a small head
on its embeddings (semi-supervised, a project's default; ``--labels-only``: from the
labelled items only). With ``--order-queue`` as well, a cold-start order run is timed first, from
``POST .../queue-order/`` until every unfinished item is ranked. The items here carry no
sha256 (items cycle through 400 clips, and a content cache would embed each clip once), so
every run embeds every item as 2,000 distinct recordings would; in a real project the
training run reuses the order run's cached embeddings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import requests

from bench.harness import (
    REDIS_BENCH_URL,
    REPO_ROOT,
    BenchError,
    app_env,
    django_shell,
    free_port,
    machine,
    machine_lines,
    manage,
    postgres_database,
    purge_redis,
    serve,
    table,
    temp_var_dir,
    write_json,
)

ESC10 = (REPO_ROOT.parent / "shared" / "data" / "esc10_16k").resolve()

SETUP = r"""
import csv, json
from pathlib import Path
from django.utils import timezone
from rest_framework.authtoken.models import Token
from backend.annotations.models import Annotation
from backend.audio.models import AudioItem, StorageConnection
from backend.projects.models import Membership, Project
from backend.users.models import User

root = Path(ROOT)
rows = sorted(csv.DictReader((root / "metadata.csv").open()), key=lambda r: r["filename"])
labels = sorted({r["category"] for r in rows})
user = User.objects.create_user("bench", password="bench-pw-123")
project = Project.objects.create(
    name="ML loop bench",
    label_schema={"clip_groups": [{"name": "sound", "choice": "single", "labels": labels}]},
    queue_policy="diverse",
    training_settings={"auto_train_after": LABELLED, "epochs": EPOCHS, "window_s": 5.0},
)
Membership.objects.create(project=project, user=user, role="manager")
if EMBEDDING:
    from django.core.files import File
    from django.core.files.storage import default_storage
    from backend.projects.training import embedding_models_prefix
    with open(EMBEDDING, "rb") as handle:
        key = default_storage.save(
            embedding_models_prefix(project.pk) + Path(EMBEDDING).name, File(handle)
        )
    project.training_settings = {
        **project.training_settings,
        "embedding_model": {"key": key, "sample_rate_hz": 16000, "window_s": 5.0},
        "semi_supervised": SEMI,
    }
    project.save(update_fields=["training_settings"])
connection = StorageConnection.objects.create(
    project=project, name="esc10", kind="folder", root=str(root)
)
items = []
for n in range(ITEMS):
    row = rows[n % len(rows)]
    items.append(AudioItem(
        project=project, connection=connection, storage_key="audio/" + row["filename"],
        original_name=row["filename"], external_id=f"{row['filename']}#{n}", format="flac",
        content_type="audio/flac", duration_s=5.0, sample_rate_hz=16000, channels=1,
        state="ready",
    ))
items = AudioItem.objects.bulk_create(items, batch_size=2000)
truth = {it.pk: rows[n % len(rows)]["category"] for n, it in enumerate(items)}
# The first LABELLED items: distinct clips (items cycle through the clips), classes mixed, so
# the held-out split never holds a copy of a training clip.
chosen = items[:LABELLED]
now = timezone.now()
Annotation.objects.bulk_create([
    Annotation(
        item=it, annotator=user, state="submitted", clip_labels={"sound": [truth[it.pk]]},
        submitted_at=now,
    )
    for it in chosen[:-1]
])
AudioItem.objects.filter(pk__in=[it.pk for it in chosen[:-1]]).update(submitted_annotations=1)
last = chosen[-1]
print(JSON_MARKER + json.dumps({
    "project": project.pk, "token": Token.objects.get_or_create(user=user)[0].key,
    "last_item": last.pk, "last_label": truth[last.pk],
}))
"""


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not (ESC10 / "metadata.csv").exists():
        raise BenchError(f"needs ESC-10 at {ESC10} (see ../shared/data/README.md)")
    purge_redis()
    with postgres_database("earmark_bench_loop") as db_url, temp_var_dir() as var_dir:
        env = app_env(
            var_dir=var_dir, port=free_port(), database_url=db_url, broker_url=REDIS_BENCH_URL
        )
        env["EARMARK_FOLDER_ROOTS"] = str(ESC10.parent)
        env["EARMARK_TORCH_THREADS"] = str(args.threads)
        manage(env, "migrate", "--noinput")
        code = "from bench.harness import JSON_MARKER\n" + SETUP.replace(
            "ROOT", repr(str(ESC10))
        ).replace("LABELLED", str(args.labelled)).replace("EPOCHS", str(args.epochs)).replace(
            "ITEMS", str(args.items)
        ).replace("EMBEDDING", repr(str(args.embedding_model or ""))).replace(
            "SEMI", str(not args.labels_only)
        )
        setup = django_shell(env, code)
        with serve(env, log_path=var_dir / "serve.log", ml=True) as server:
            api = requests.Session()
            api.headers["Authorization"] = f"Token {setup['token']}"
            base = server.base_url
            order: dict[str, Any] | None = None
            if args.order_queue:
                order = _order_queue(api, base, setup["project"], args.timeout_s, server)
            started = api.post(
                f"{base}/api/items/{setup['last_item']}/annotations/",
                json={"clip_labels": {"sound": [setup["last_label"]]}},
                timeout=30,
            )
            if started.status_code not in (200, 201):
                raise BenchError(f"could not start the annotation: {started.text[:500]}")
            annotation = started.json()
            t0 = time.monotonic()
            submitted = api.post(
                f"{base}/api/annotations/{annotation['id']}/submit/",
                json={"version": annotation["version"]},
                timeout=30,
            )
            if submitted.status_code != 200:
                raise BenchError(f"submit failed: {submitted.text[:500]}")
            run_body: dict[str, Any] = {}
            phases: dict[str, float] = {}
            deadline = t0 + args.timeout_s
            while time.monotonic() < deadline:
                runs = api.get(f"{base}/api/projects/{setup['project']}/training-runs/", timeout=30)
                # newest first; an order run timed before is not the one to wait for
                results = [r for r in runs.json()["results"] if r["purpose"] == "train"]
                if results:
                    run_body = results[0]
                    phase = str(run_body["progress"].get("phase", ""))
                    phases.setdefault(phase, time.monotonic() - t0)
                    if run_body["state"] in ("succeeded", "failed", "cancelled"):
                        break
                time.sleep(0.25)
            latency_s = time.monotonic() - t0
            if run_body.get("state") != "succeeded":
                log = server.log_text()[-4000:]
                raise BenchError(f"the run did not succeed: {run_body}\n{log}")
            versions = api.get(
                f"{base}/api/projects/{setup['project']}/model-versions/", timeout=30
            )
            version = versions.json()["results"][0]
    return {
        "items": args.items,
        "labelled": args.labelled,
        "epochs": args.epochs,
        "torch_threads": args.threads,
        "latency_s": round(latency_s, 2),
        "phase_first_seen_s": {k: round(v, 2) for k, v in phases.items()},
        "predicted": run_body["metrics"].get("predicted"),
        "model": version["kind"],
        "held_out_accuracy": (version["metrics"].get("held_out") or {}).get("accuracy"),
        "training_time_s": version["training_time_s"],
        "embedding_model": str(args.embedding_model) if args.embedding_model else None,
        "semi_supervised": bool(args.embedding_model) and not args.labels_only,
        "trained_on_spread_labels": version["metrics"].get("n_pseudo"),
        "order_run": order,
        "machine": machine(),
    }


def _order_queue(
    api: requests.Session, base: str, project: int, timeout_s: float, server: Any
) -> dict[str, Any]:
    """Time a cold-start order run, from the request until it has ranked every item."""
    t0 = time.monotonic()
    answer = api.post(f"{base}/api/projects/{project}/queue-order/", timeout=30)
    if answer.status_code != 201:
        raise BenchError(f"could not start the order run: {answer.text[:500]}")
    run_id = answer.json()["id"]
    phases: dict[str, float] = {}
    body: dict[str, Any] = {}
    while time.monotonic() < t0 + timeout_s:
        body = api.get(f"{base}/api/training-runs/{run_id}/", timeout=30).json()
        phases.setdefault(str(body["progress"].get("phase", "")), time.monotonic() - t0)
        if body["state"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.25)
    latency_s = time.monotonic() - t0
    if body.get("state") != "succeeded":
        raise BenchError(f"the order run did not succeed: {body}\n{server.log_text()[-4000:]}")
    return {
        "latency_s": round(latency_s, 2),
        "phase_first_seen_s": {k: round(v, 2) for k, v in phases.items()},
        "ordered": body["metrics"].get("ordered"),
        "clusters": body["metrics"].get("clusters"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--labelled", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout-s", type=float, default=1800)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--embedding-model", type=Path, help="a TorchScript/ONNX embedding model for the project"
    )
    parser.add_argument(
        "--order-queue", action="store_true", help="time a cold-start order run first"
    )
    parser.add_argument(
        "--labels-only",
        action="store_true",
        help="the head learns from the labelled items only (semi_supervised: false)",
    )
    args = parser.parse_args(argv)
    if args.labels_only and not args.embedding_model:
        parser.error("--labels-only needs --embedding-model")
    if args.order_queue and not args.embedding_model:
        parser.error("--order-queue needs --embedding-model")
    if args.embedding_model and not args.embedding_model.is_file():
        parser.error(f"--embedding-model: no such file {args.embedding_model}")
    try:
        result = run(args)
    except BenchError as exc:
        print(f"bench_ml_loop: {exc}", file=sys.stderr)
        return 2
    print("\n".join(machine_lines(result["machine"])))
    rows = [[k, v] for k, v in result.items() if k != "machine"]
    print(table(["measure", "value"], rows))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

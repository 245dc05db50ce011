"""Benchmark: what a semi-supervised embedding head costs on a large project, CPU.

    .venv/bin/python -m bench.bench_ml_spread                  # 1,000 / 10,000 / 100,000 items
    .venv/bin/python -m bench.bench_ml_spread --unlabelled 2000 --dim 512

A project with its own embedding model trains a head on the labelled items' embeddings; with
``semi_supervised`` (the default) it also spreads their labels over the unfinished items
(``ml_worker.embeddings.spread``: a 5-nearest-neighbour graph of at most
``SPREAD_MAX_UNLABELLED`` of them) and trains on those too. This times ``train_embedding_head``
without and with the unlabelled items, for each ``--unlabelled`` count, each in its own process
for its peak memory. The embeddings are generated (``--classes`` Gaussian groups of different
sizes in a 64-dimensional subspace plus noise, float32, as in ``bench_ml_order``); the labelled
items are ``--labels`` of them drawn at random, and the accuracy on the unlabelled items (their
group is known) says whether the spreading earned its cost. Needs no data.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_ml_order import grouped_embeddings
from bench.harness import machine, machine_lines, table, write_json
from bench.ml_data import OUT_DIR


def one_case(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from ml_worker.embeddings import HeadConfig, predict_embeddings, train_embedding_head
    from ml_worker.embeddings.spread import pseudo_labels
    from ml_worker.models import EmbeddingHead

    torch.set_num_threads(args.threads)
    total = args.labels + args.case_unlabelled
    x, groups = grouped_embeddings(total, args.dim, args.classes)
    # noisier than an order run's clusters: with few labels a linear head is then unsure
    x += args.noise * np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    rng = np.random.default_rng(2)
    labelled = np.sort(rng.choice(total, size=args.labels, replace=False))
    unlabelled = np.setdiff1d(np.arange(total), labelled)
    names = tuple(f"class{c}" for c in range(args.classes))
    # torch.optim's lazy imports take seconds once per process: not the head's cost
    train_embedding_head(
        x[labelled], groups[labelled], label_names=names, config=HeadConfig(steps=1)
    )
    started = time.perf_counter()
    pseudo = (
        pseudo_labels(x[labelled], groups[labelled], x[unlabelled], args.classes)
        if args.semi
        else None
    )
    spread_s = time.perf_counter() - started
    started = time.perf_counter()
    result = train_embedding_head(
        x[labelled],
        groups[labelled],
        label_names=names,
        config=HeadConfig(),
        unlabelled=x[unlabelled] if args.semi else None,
    )
    head_s = time.perf_counter() - started
    head = result.build_model()
    assert isinstance(head, EmbeddingHead)
    probs = predict_embeddings(head, x[unlabelled])
    return {
        "unlabelled": int(unlabelled.size),
        "semi_supervised": bool(args.semi),
        "spread_s": round(spread_s, 2) if pseudo is not None else None,
        "head_s": round(head_s, 2),
        "n_pseudo": result.n_pseudo,
        "accuracy_unlabelled": round(float((probs.argmax(axis=1) == groups[unlabelled]).mean()), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--unlabelled", default="1000,10000,100000")
    parser.add_argument("--labels", type=int, default=200)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--noise", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--case-unlabelled", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--semi", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=str(OUT_DIR / "ml_spread.json"))
    args = parser.parse_args()
    if args.case_unlabelled is not None:
        print(json.dumps(one_case(args)))
        return
    info = machine()
    results = []
    for count in (int(c) for c in args.unlabelled.split(",")):
        for semi in (0, 1):
            command = [sys.executable, "-m", "bench.bench_ml_spread"]
            command += ["--case-unlabelled", str(count), "--semi", str(semi)]
            for flag in ("labels", "classes", "dim", "noise", "threads"):
                command += [f"--{flag}", str(getattr(args, flag))]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(results[-1], file=sys.stderr, flush=True)
    print(
        f"{args.labels} labels of {args.classes} classes, embeddings of {args.dim} numbers; "
        "head = train_embedding_head (spreading included)\n"
    )
    rows = [
        [
            f"{r['unlabelled']:,}",
            "yes" if r["semi_supervised"] else "no",
            "-" if r["spread_s"] is None else f"{r['spread_s']} s",
            f"{r['head_s']} s",
            f"{r['n_pseudo']:,}",
            f"{100 * r['accuracy_unlabelled']:.1f} %",
            f"{r['peak_rss_mb']} MB",
        ]
        for r in results
    ]
    print(
        table(
            [
                "unlabelled items",
                "semi-supervised",
                "spreading alone",
                "head training",
                "trained on spread labels",
                "accuracy on the unlabelled",
                "peak memory",
            ],
            rows,
        )
    )
    print("\n".join(machine_lines(info)))
    write_json(Path(args.json), {"machine": info, "args": vars(args), "cases": results})


if __name__ == "__main__":
    main()

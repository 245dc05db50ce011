"""Benchmark: the cold-start ranking of a large project (``representative_order``), CPU.

    .venv/bin/python -m bench.bench_ml_order                       # 100,000 x 1,024, 200 clusters
    .venv/bin/python -m bench.bench_ml_order --items 20000 --dim 512 --clusters 20

What an order run does after embedding: project every item on the 16 leading principal
components, k-means into ``--clusters`` groups, rank round-robin. The embeddings are generated
(``--clusters`` Gaussian groups of different sizes in a random 64-dimensional subspace plus
noise, float32, as an embedding model returns them), so this needs no data. Each route runs
in its own process, for its peak memory: ``svd`` (an SVD of the whole matrix, what
``principal_components`` did for every input before) and ``lean`` (the covariance read in
chunks, what it does now above ``LEAN_PCA_ABOVE`` numbers). Both give the same order, which is
checked.
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

from bench.harness import machine, machine_lines, table, write_json
from bench.ml_data import OUT_DIR


def embeddings(items: int, dim: int, clusters: int, seed: int = 0) -> np.ndarray:
    return grouped_embeddings(items, dim, clusters, seed)[0]


def grouped_embeddings(
    items: int, dim: int, clusters: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings (items, dim) float32, the group of each)."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, 64)))
    sizes = rng.dirichlet(np.ones(clusters)) * items
    group = np.minimum(np.searchsorted(np.cumsum(sizes), np.arange(items)), clusters - 1)
    centres = 4.0 * rng.standard_normal((clusters, 64))
    x = np.empty((items, dim), dtype=np.float32)
    for start in range(0, items, 10_000):  # in chunks: only the float32 result stays
        rows = group[start : start + 10_000]
        chunk = (centres[rows] + rng.standard_normal((rows.size, 64))) @ basis.T
        x[start : start + rows.size] = chunk + 0.1 * rng.standard_normal((rows.size, dim))
    return x, group


def one_route(args: argparse.Namespace) -> dict[str, Any]:
    from ml_worker.inference import principal_components, representative_order, uncertainty

    if args.route == "svd":
        uncertainty.LEAN_PCA_ABOVE = 2**62
    x = embeddings(args.items, args.dim, args.clusters)
    started = time.perf_counter()
    principal_components(x, 16)
    pca_s = time.perf_counter() - started
    started = time.perf_counter()
    order = representative_order(x, args.clusters)
    order_s = time.perf_counter() - started
    return {
        "route": args.route,
        "pca_s": round(pca_s, 2),
        "order_s": round(order_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "input_mb": round(x.nbytes / 2**20),
        "head": order[: args.clusters],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--route", choices=("svd", "lean"), help=argparse.SUPPRESS)
    parser.add_argument("--json", default=str(OUT_DIR / "ml_order.json"))
    args = parser.parse_args()
    if args.route:
        print(json.dumps(one_route(args)))
        return
    info = machine()
    results = []
    for route in ("svd", "lean"):
        command = [sys.executable, "-m", "bench.bench_ml_order", "--route", route]
        command += ["--items", str(args.items), "--dim", str(args.dim)]
        command += ["--clusters", str(args.clusters)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    same = results[0].pop("head") == results[1].pop("head")
    print(
        f"{args.items:,} items x {args.dim} numbers, {args.clusters} clusters; "
        f"the same first {args.clusters} items by both routes: {same}\n"
    )
    rows = [
        [r["route"], f"{r['pca_s']} s", f"{r['order_s']} s", f"{r['peak_rss_mb']} MB"]
        for r in results
    ]
    print(table(["route", "principal components", "whole order", "peak memory"], rows))
    print(f"(the embeddings alone: {results[0]['input_mb']} MB)")
    print("\n".join(machine_lines(info)))
    write_json(Path(args.json), {"machine": info, "args": vars(args), "same_order": same,
                                 "routes": results})  # fmt: skip
    if not same:
        raise SystemExit("the two routes ordered the items differently")


if __name__ == "__main__":
    main()

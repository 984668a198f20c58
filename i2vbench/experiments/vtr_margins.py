"""How sure a VTR run's margins over the zero-shot baseline are: a paired bootstrap over queries.

Issue 13 asks every trained method to beat zero-shot by >= 10 text-to-video R@1 points on the
SynthVid MSR-VTT 1k-A test (150 queries: one query is 0.67 points). For each method of a run
folder, the margin is the mean over seeds of (method R@1 - baseline R@1) from the saved
similarity matrices (``predictions/<dataset>/<split>/<method>-seed<s>.npy``, the files
``bench eval`` scores). The bootstrap draws the split's queries with replacement, the same draw
for the method, every seed and the baseline (paired), and reports the margin's 95 % percentile
interval and the share of draws in which the margin clears the line: the sampling noise of a
150-query split that a mean ± std over training seeds does not show::

    python -m i2vbench.experiments.vtr_margins results/runs/<vtr run> [--split test] [--line 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from i2vbench.experiments import run_main
from i2vbench.io import read_json
from i2vbench.metrics.vtr import diagonal_ranks, read_score_matrix


def query_hits(run_dir: Path, split: str) -> dict[str, np.ndarray]:
    """``{method: (seeds, queries) bool}``: whether each query's own video ranks first (t2v R@1)."""
    record = read_json(run_dir / "run.json", "run record")
    out = {}
    for entry in record["results"]:
        if entry["split"] != split:
            continue
        hits = []
        for row in entry["per_seed"]:
            sim = read_score_matrix(run_dir / row["predictions"], "similarity matrix")
            if sim.shape[0] != sim.shape[1]:  # a tie-block expansion would not be one row per query
                raise ValueError(f"{row['predictions']}: expected a square texts x videos matrix, got {sim.shape}")
            hits.append(diagonal_ranks(sim) == 0)
        out[entry["method"]] = np.stack(hits)
    return out


def bootstrap_margins(hits: dict[str, np.ndarray], baseline: str, line: float, resamples: int,
                      seed: int = 0) -> list[dict[str, float | str]]:
    """Per method: margin over ``baseline`` (R@1 points, mean over seeds), its 95 % interval and
    the share of paired bootstrap draws in which it is >= ``line``."""
    base = hits[baseline].mean(0)  # a training-free baseline is the same at every seed
    n = base.shape[0]
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    rows = []
    for method, h in hits.items():
        if method == baseline:
            continue
        per_query = 100.0 * (h.mean(0) - base)  # mean over seeds, per query
        boot = per_query[draws].mean(1)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        rows.append({"method": method, "margin": float(per_query.mean()), "lo": float(lo), "hi": float(hi),
                     "p_line": float(np.mean(boot >= line))})
    return sorted(rows, key=lambda r: -r["margin"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--split", default="test")
    ap.add_argument("--baseline", default="zero_shot")
    ap.add_argument("--line", type=float, default=10.0)
    ap.add_argument("--resamples", type=int, default=10_000)
    args = ap.parse_args(argv)
    hits = query_hits(args.run_dir, args.split)
    n_seeds, n = hits[args.baseline].shape
    print(f"{args.run_dir.name}: {args.split}, {n} queries, margins over {args.baseline} in t2v R@1 points "
          f"(mean over {max(h.shape[0] for h in hits.values())} seeds), paired bootstrap over queries "
          f"({args.resamples} draws)\n")
    print(f"| method | margin | 95 % interval | P(margin >= {args.line:g}) |\n|---|--:|--:|--:|")
    for r in bootstrap_margins(hits, args.baseline, args.line, args.resamples):
        print(f"| {r['method']} | {r['margin']:+.2f} | [{r['lo']:+.2f}, {r['hi']:+.2f}] | {r['p_line']:.3f} |")


if __name__ == "__main__":
    sys.exit(run_main(main))

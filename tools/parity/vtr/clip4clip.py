"""Regenerate the VTR parity literals from CLIP4Clip's own ``metrics.compute_metrics``.

    python tools/parity/vtr/clip4clip.py --clip4clip /path/to/CLIP4Clip [--out FILE] [--check]

``--clip4clip`` is a checkout of ArrowLuo/CLIP4Clip at the commit in README.md; its ``metrics.py``
is imported from there (it needs numpy and torch), nothing of it is copied here.

What it writes (``tests/data/vtr/clip4clip_parity.json``, read by ``tests/test_metrics_vtr.py``):
for each case a texts x videos similarity matrix and what ``compute_metrics`` returns on it
(text -> video) and on its transpose (video -> text, square cases only): R1, R5, R10, MR, MeanR and
the ``cols`` ranks. Cases: the tie example of the tests, 60 seeded random matrices whose entries
come from a few levels (so ties between the diagonal and the rest are frequent), square and wide,
and one seeded 1000 x 1000 matrix stored as its generator (seed, size, levels) instead of its
values; :func:`matrix` rebuilds any case from its record.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[3] / "tests" / "data" / "vtr" / "clip4clip_parity.json"
KEYS = {"R1": "R@1", "R5": "R@5", "R10": "R@10", "MR": "MdR", "MeanR": "MnR"}


def matrix(case: dict) -> np.ndarray:
    """The similarity matrix of a case record: its values, or its seeded generator."""
    if "sim" in case:
        return np.asarray(case["sim"], dtype=np.float64)
    g = case["generator"]
    rng = np.random.default_rng(g["seed"])
    return rng.integers(0, g["levels"], size=(g["rows"], g["cols"])).astype(np.float64) / g["levels"]


def cases() -> dict[str, dict]:
    out: dict[str, dict] = {"ties": {"sim": [[0.9, 0.9, 0.1], [0.5, 0.5, 0.5], [0.2, 0.8, 0.4]]}}
    rng = np.random.default_rng(20261201)
    levels = [0.0, 0.25, 0.5, 1.0, -1.0]
    for i in range(60):
        n = int(rng.integers(1, 13))
        m = n + (int(rng.integers(1, 5)) if i % 3 == 2 else 0)  # every third one wide
        sim = rng.choice(levels if i % 2 else [float(v) for v in rng.standard_normal(8)], size=(n, m))
        out[f"random_{i:02d}"] = {"sim": sim.tolist()}
    out["seeded_1000"] = {"generator": {"seed": 7, "rows": 1000, "cols": 1000, "levels": 50}}
    return out


def reference(compute_metrics, x: np.ndarray) -> dict:
    m = compute_metrics(x)
    return {"R1": float(m["R1"]), "R5": float(m["R5"]), "R10": float(m["R10"]), "MR": float(m["MR"]),
            "MeanR": float(m["MeanR"]), "cols": [int(c) for c in m["cols"]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip4clip", required=True, type=Path, help="checkout of ArrowLuo/CLIP4Clip")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="also print ours vs the reference")
    args = ap.parse_args()
    repo = args.clip4clip.resolve()
    sys.path.insert(0, str(repo))
    from metrics import compute_metrics  # the official function, imported from the checkout

    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    result: dict = {"reference": {"repo": "ArrowLuo/CLIP4Clip", "commit": commit,
                                  "code": "metrics.py compute_metrics(x) and compute_metrics(x.T)"},
                    "cases": {}}
    for name, case in cases().items():
        x = matrix(case)
        expected = {"t2v": reference(compute_metrics, x)}
        if x.shape[0] == x.shape[1]:
            expected["v2t"] = reference(compute_metrics, x.T)
        if "generator" in case:  # 1000 x 1000: the rank list would be most of the file
            for v in expected.values():
                v.pop("cols")
        result["cases"][name] = {**case, "expected": expected}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({len(result['cases'])} cases)")
    if args.check:
        check(result)


def check(result: dict) -> None:
    from i2vbench.metrics.vtr import diagonal_ranks, rank_metrics

    worst = 0.0
    for name, case in result["cases"].items():
        x = matrix(case)
        for direction, ref in case["expected"].items():
            m = x if direction == "t2v" else x.T
            ranks = diagonal_ranks(m)
            ours = rank_metrics(ranks)
            diff = max(abs(ours[k] - ref[r]) for r, k in KEYS.items())
            if "cols" in ref and sorted(ranks.tolist()) != sorted(ref["cols"]):
                diff = float("inf")
            worst = max(worst, diff)
            if name in ("ties", "seeded_1000"):
                print(f"{name} {direction}: " + "  ".join(f"{k} ours {ours[k]:.6f} ref {ref[r]:.6f}"
                                                        for r, k in KEYS.items()))
    print(f"{len(result['cases'])} cases; largest |ours - reference| = {worst:.2e}")


if __name__ == "__main__":
    main()

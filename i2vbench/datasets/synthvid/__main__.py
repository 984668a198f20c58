"""``python -m i2vbench.datasets.synthvid --task tvg --out DIR --seed N``: write a SynthVid benchmark."""

from __future__ import annotations

import argparse
import sys
import time

from i2vbench.errors import BenchError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m i2vbench.datasets.synthvid", description=__doc__)
    ap.add_argument("--task", choices=["tvg"], default="tvg")
    ap.add_argument("--out", default=None, help="output folder (default: the cache folder)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--n-val", type=int, default=None)
    ap.add_argument("--n-test", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--force", action="store_true", help="rebuild if the folder exists")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    from i2vbench.datasets.synthvid.tvg import build_tvg

    t0 = time.perf_counter()
    try:
        ds = build_tvg(a.out, seed=a.seed, n_train=a.n_train, n_val=a.n_val, n_test=a.n_test,
                       force=a.force, progress=not a.quiet, workers=a.workers)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    counts = ", ".join(f"{split} " + " / ".join(f"{n} {what}" for what, n in c.items())
                       for split, c in ds.counts.items())
    print(f"{ds.root}: {counts} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

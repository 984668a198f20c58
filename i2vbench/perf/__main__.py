"""``python -m i2vbench.perf metrics [--quick] [--only NAME] [--no-reference]``, ``... train [--quick]``
or ``... features [--quick]``."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from tabulate import tabulate

from i2vbench.perf import measure

# one module per metric family; each exposes cases(quick: bool) -> list[Case]
SUITES = {
    "metrics": ["i2vbench.perf.tvg", "i2vbench.perf.stvg", "i2vbench.perf.coarse", "i2vbench.perf.ovmot"],
}
# whole-pipeline benchmarks; each module exposes main(quick: bool) -> int and prints its own tables
SCRIPTS = {
    "train": "i2vbench.perf.training",  # training cost per method; side by side vs one after another
    "features": "i2vbench.perf.features",  # feature extraction in one process vs in forked workers
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m i2vbench.perf", description=__doc__)
    ap.add_argument("suite", choices=sorted([*SUITES, *SCRIPTS]))
    ap.add_argument("--quick", action="store_true", help="small inputs (smoke test), not full scale")
    ap.add_argument("--only", default=None, help="run only cases whose name contains this")
    ap.add_argument("--no-reference", action="store_true", help="skip timing the reference")
    ap.add_argument("--json", action="store_true", help="print rows as JSON")
    args = ap.parse_args(argv)
    if args.suite in SCRIPTS:
        return importlib.import_module(SCRIPTS[args.suite]).main(args.quick)
    rows = []
    for modname in SUITES[args.suite]:
        for case in importlib.import_module(modname).cases(args.quick):
            if args.only and args.only not in case.name:
                continue
            ours = measure(case.ours)
            row = {"case": case.name, "input": case.size, "ours_s": round(ours.seconds, 3),
                   "ours_peak_MB": round(ours.peak_mb, 1), "ref_s": None, "ref_peak_MB": None,
                   "speedup": None, "note": case.note}
            if case.reference is not None and not args.no_reference:
                ref = measure(case.reference)
                row.update(ref_s=round(ref.seconds, 3), ref_peak_MB=round(ref.peak_mb, 1),
                           speedup=round(ref.seconds / max(ours.seconds, 1e-9), 2))
            rows.append(row)
            print(f"done: {case.name}", file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2) if args.json else tabulate(rows, headers="keys", tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

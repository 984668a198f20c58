"""``python -m i2vbench.perf train [--quick]``: what one epoch of each TVG method costs, and why
``bench run`` trains them side by side.

On a small SynthVid, each trained method runs one epoch of its own recipe (batch size, adapter
pre-encoding and all) with one intra-op thread and with two; then all of them at once in forked
workers, one thread each (``bench run``'s default). Printed: seconds per step per thread count,
and the wall time of one-after-another (two threads each) against side by side, as a ratio.
"""

from __future__ import annotations

import time

from tabulate import tabulate


def _splits(quick: bool):  # noqa: ANN202
    from i2vbench.benchmarks.tvg import TVGRunConfig, build_splits, load_annotations
    from i2vbench.methods.backbones import load_backbone

    cfg = TVGRunConfig(synthvid={"n_train": 40 if quick else 150, "n_val": 4, "n_test": 4})
    moments, paths, _ = load_annotations(cfg, progress=False)
    splits = build_splits(cfg, load_backbone(cfg.backbone), moments, paths, progress=False)
    return cfg, splits["train"]


def run(quick: bool = False) -> tuple[list[dict], dict]:
    import torch

    from i2vbench.benchmarks.runner import seed_everything, select_methods
    from i2vbench.benchmarks.tvg import constructor_args
    from i2vbench.parallel import map_in_workers

    cfg, train = _splits(quick)
    provided = constructor_args(cfg, train)

    def one_epoch(spec) -> tuple[float, int]:  # noqa: ANN001
        seed_everything(0)
        method = spec.build(provided, {"epochs": 1})
        start = time.perf_counter()
        method.fit(train, progress=False)
        return time.perf_counter() - start, method.steps_per_epoch(len(train))

    specs = [s for s in select_methods(cfg) if s.name != "prior"]
    rows, one_after_another = [], 0.0
    for spec in specs:
        one_epoch(spec)  # warm-up: first-call allocations and kernel selection are not a step's cost
        timings = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            timings[threads], steps = one_epoch(spec)
        one_after_another += timings[2]
        rows.append({"method": spec.name, "steps": steps, "s/step 1 thread": round(timings[1] / steps, 4),
                     "s/step 2 threads": round(timings[2] / steps, 4),
                     "2 threads speed-up": round(timings[1] / timings[2], 2)})
    start = time.perf_counter()
    map_in_workers(one_epoch, specs, jobs=len(specs), threads=1)
    side_by_side = time.perf_counter() - start
    summary = {"methods": len(specs), "train queries": len(train),
               "one after another, 2 threads each (s)": round(one_after_another, 2),
               "side by side, 1 thread each (s)": round(side_by_side, 2),
               "speed-up": round(one_after_another / side_by_side, 2)}
    return rows, summary


def main(quick: bool = False) -> int:
    rows, summary = run(quick)
    print(tabulate(rows, headers="keys", tablefmt="github"))
    print()
    print(tabulate([summary], headers="keys", tablefmt="github"))
    return 0

"""Where a VAR method's training time goes, and whether a speed-up kept its numbers to the bit.

Builds the default run's SynthVid set (features from the cache), then for each named method trains
``--epochs`` epochs (seed 0, one thread, as a worker of ``bench run`` does) under cProfile, prints
CPU-seconds per step and the top functions by own time, and scores val and test. ``--save F``
writes every method's val/test class scores to ``F`` (.npz); ``--compare F`` checks them against
an earlier save, element by element, so a change meant to keep results (same function, cheaper)
is checked to the bit on the same code path with a short schedule::

    PYTHONPATH=/work/main python tools/timing/var_epoch_profile.py dist aim --epochs 2 --save /tmp/before.npz
    PYTHONPATH=. python tools/timing/var_epoch_profile.py dist aim --epochs 2 --compare /tmp/before.npz
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("methods", nargs="+")
    ap.add_argument("--dataset", default="synthvid-ssv2")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--ops", action="store_true", help="torch.profiler's table of ops (forward and backward) too")
    ap.add_argument("--save")
    ap.add_argument("--compare")
    a = ap.parse_args()

    from i2vbench.benchmarks.runner import configure_threads, seed_everything
    from i2vbench.benchmarks.var import VARRunConfig, task_data
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.registry import get_method

    configure_threads(1)
    torch.set_num_threads(1)
    cfg = VARRunConfig(dataset=a.dataset, threads=1)
    seed_everything(cfg.resolved_data_seed)
    backbone = load_backbone(cfg.backbone, cfg.pretrained)
    data = task_data(cfg, a.dataset, backbone, progress=False)
    out: dict[str, np.ndarray] = {}
    for name in a.methods:
        spec = get_method("var", name)
        seed_everything(a.seed)
        method = spec.build(data.provided, {"epochs": a.epochs}, data.dataset)
        seed_everything(a.seed)
        prof = cProfile.Profile()
        c0, w0 = time.process_time(), time.perf_counter()
        ops = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if a.ops else None
        if ops is not None:
            ops.__enter__()
        if not a.no_profile:
            prof.enable()
        method.fit(data.train, seed=a.seed, progress=False)
        prof.disable()
        if ops is not None:
            ops.__exit__(None, None, None)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        steps = a.epochs * method.steps_per_epoch(len(data.train))
        prefix = ""
        if hasattr(method, "_encode_prefix"):  # adapters: the frozen prefix, computed once per split in fit
            c2 = time.process_time()
            method._encode_prefix(data.train)
            pre = time.process_time() - c2
            prefix = f"; without its frozen prefix ({pre:.2f} CPU-s, timed again) {1000 * (cpu - pre) / steps:.1f}"
        c1 = time.process_time()
        for split, s in data.eval_splits.items():
            out[f"{name}/{split}"] = method.predict(s)
        print(f"== {name}: fit {cpu:.2f} CPU-s ({wall:.2f} s wall), {steps} steps, {1000 * cpu / steps:.1f} "
              f"CPU-ms/step{prefix}; predict val+test {time.process_time() - c1:.2f} CPU-s")
        for split in data.eval_splits:
            top1 = float((out[f"{name}/{split}"].argmax(1) == data.eval_splits[split].labels).mean() * 100)
            print(f"   {split} Top-1 {top1:.2f}")
        if not a.no_profile:
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(a.top)
            print("\n".join(buf.getvalue().splitlines()[6:]))
        if ops is not None:
            print(ops.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.top))
    if a.save:
        np.savez(a.save, **out)
    if a.compare:
        ref = np.load(a.compare)
        for k, v in out.items():
            if k not in ref:
                print(f"{k}: not in {a.compare}")
                continue
            same = np.array_equal(ref[k], v)
            print(f"{k}: {'bit-identical' if same else f'DIFFERS, max |d| {np.abs(ref[k] - v).max():.3g}'}")


if __name__ == "__main__":
    main()

"""Where a VTR method's training time goes: the first ``--steps`` optimiser steps of each method,
trained exactly as ``bench run --task vtr --seed S`` trains it (same data, same build, same seeds,
one intra-op thread as in the run's forked workers), timed in CPU seconds and profiled.

Prints, per method: CPU-s per step (``time.process_time``), the losses of those steps (to compare,
bit for bit, with a run record's ``loss_curve``: ``--record DIR``), and with ``--profile`` the
top functions of a cProfile by own time::

    OMP_NUM_THREADS=1 python tools/timing/vtr_profile.py --steps 19 --record results/runs/<vtr run>
    OMP_NUM_THREADS=1 python tools/timing/vtr_profile.py --methods vop --steps 5 --profile 25

Measured 2026-12-02 (issue 13; 10 steps a method, seed 0, one thread, on the 2-core machine shared
with other helpers' runs: CPU-s are comparable, wall is not), against the default run's record
``20261202-023852-vtr-synthvid-msrvtt-seed0`` (every method's 10 losses equal to the record's):
CPU-s a step TeachCLIP 0.59 (and 5.7 for its teacher's 20 epochs on frozen features), CLIP4Clip
meanP 0.58, seqTransf 0.63, DiscoVLA 0.59, VoP 0.51, MV-Adapter 0.44. Of meanP's profiled time the
backward pass is 59 %, the forward's linear layers 13 %, attention 8 %, GELU 5 %, softmax 4 %,
layer norms 3 %; turning uint8 frames into the ILFM's input 1.6 %, the patch embedding 0.8 %,
AdamW 1.1 %, batching under 1 %: the step is the ILFM's forward and backward on 32 × 8 frames.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
from pathlib import Path

import torch


class _Stop(Exception):
    pass


def run_data(seed: int):  # noqa: ANN201 - a TaskData
    """The TaskData ``bench run --task vtr`` builds (its features from the cache)."""
    import i2vbench.benchmarks.vtr as vtr

    captured = []

    def capture(cfg, datasets, progress):  # noqa: ANN001, ANN202
        captured.extend(datasets)
        return []

    original, vtr.train_and_evaluate = vtr.train_and_evaluate, capture
    try:
        vtr.run_vtr(vtr.VTRRunConfig(seeds=[seed]), progress=False)
    finally:
        vtr.train_and_evaluate = original
    return captured[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="teachclip,clip4clip_meanp,clip4clip_seqtransf,discovla,vop,mv_adapter")
    ap.add_argument("--steps", type=int, default=19, help="optimiser steps per method (19 = one epoch)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", type=int, default=0, help="print this many cProfile rows by own time")
    ap.add_argument("--record", type=Path, help="a vtr run folder whose loss curves (same seed) the steps must match")
    args = ap.parse_args()

    from i2vbench.benchmarks.runner import seed_everything
    from i2vbench.methods.registry import get_method

    torch.set_num_threads(1)
    data = run_data(args.seed)
    curves = {}
    if args.record:
        for e in json.loads((args.record / "run.json").read_text())["results"]:
            for ps in e["per_seed"]:
                if ps["seed"] == args.seed and e["split"] == "val":
                    curves[e["method"]] = ps.get("loss_curve") or []
    for name in args.methods.split(","):
        seed_everything(args.seed)
        method = get_method("vtr", name).build(data.provided, None, data.dataset)
        seed_everything(args.seed)
        steps, batch = [0], method.batch

        def counted(split, idx, batch=batch, steps=steps):  # noqa: ANN001, ANN202
            if steps[0] == args.steps:
                raise _Stop
            steps[0] += 1
            return batch(split, idx)

        method.batch = counted
        teacher_s = [0.0]
        if hasattr(method, "teacher"):  # TeachCLIP: its teacher's fit, timed apart (its steps are not counted)
            def timed_fit(*a, fit=method.teacher.fit, teacher_s=teacher_s, **k):  # noqa: ANN002, ANN003, ANN202
                t = time.process_time()
                out = fit(*a, **k)
                teacher_s[0] = time.process_time() - t
                return out

            method.teacher.fit = timed_fit
        prof = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        try:
            method.fit(data.train, seed=args.seed, progress=False)
        except _Stop:
            pass
        if prof:
            prof.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        losses = [round(v, 6) for v in method.loss_curve]
        same = ""
        if name in curves:
            ref = curves[name][:len(losses)]
            same = f"  loss curve {'== record' if ref == losses else '!= record: ' + str(ref[:3])}"
        print(f"{name}: {steps[0]} steps, {cpu:.1f} CPU-s ({(cpu - teacher_s[0]) / max(1, steps[0]):.3f}/step incl. "
              f"setup; teacher fit {teacher_s[0]:.1f}), {wall:.1f} s wall{same}\n  losses {losses[:4]} ... {losses[-2:]}", flush=True)
        if prof:
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(args.profile)
            print(s.getvalue(), flush=True)


if __name__ == "__main__":
    main()

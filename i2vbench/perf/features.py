"""``python -m i2vbench.perf features [--quick]``: feature extraction in one process vs in workers.

Extracts the frozen ILFM features of a small SynthVid twice into empty caches: once in one
process with two intra-op threads, once shared by two forked workers with one thread each
(``bench run``'s default). Printed: videos, frames, both wall times and their ratio.
"""

from __future__ import annotations

import os
import tempfile
import time

from tabulate import tabulate


def run(quick: bool = False) -> dict:
    import torch

    from i2vbench.benchmarks.tvg import TVGRunConfig, load_annotations
    from i2vbench.datasets.features import Sampling, extract_video_features
    from i2vbench.methods.backbones import load_backbone

    cfg = TVGRunConfig(synthvid={"n_train": 24 if quick else 150, "n_val": 0, "n_test": 8 if quick else 50})
    _, paths, _ = load_annotations(cfg, progress=False)
    backbone = load_backbone(cfg.backbone)
    sampling = Sampling(fps=cfg.fps)
    timings, frames = {}, 0
    previous, previous_threads = os.environ.get("I2VBENCH_CACHE"), torch.get_num_threads()
    try:
        for label, jobs, threads in (("one process, 2 threads", 1, 2), ("2 workers, 1 thread each", 2, 1)):
            with tempfile.TemporaryDirectory() as cache:
                os.environ["I2VBENCH_CACHE"] = cache
                torch.set_num_threads(threads)
                start = time.perf_counter()
                feats = extract_video_features(backbone, backbone.backbone_id, paths, sampling,
                                               progress=False, jobs=jobs)
                timings[label] = time.perf_counter() - start
                frames = sum(len(f.pooled) for f in feats.values())
    finally:
        if previous is None:
            os.environ.pop("I2VBENCH_CACHE", None)
        else:
            os.environ["I2VBENCH_CACHE"] = previous
        torch.set_num_threads(previous_threads)
    one, two = timings.values()
    return {"videos": len(paths), "frames": frames, **{f"{k} (s)": round(v, 2) for k, v in timings.items()},
            "speed-up": round(one / two, 2)}


def main(quick: bool = False) -> int:
    print(tabulate([run(quick)], headers="keys", tablefmt="github"))
    return 0

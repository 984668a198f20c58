"""Does importing ``torch._dynamo`` in the parent before the worker pool forks change the workers'
speed? (``i2vbench.parallel.map_in_workers`` does it once, instead of every worker paying ~1.8 CPU-s
on its first optimiser.) Two forked workers each train a small MLP with AdamW for 1,500 steps on one
thread; printed: each worker's training seconds and the pool's wall time::

    python tools/timing/dynamo_import_ab.py none
    python tools/timing/dynamo_import_ab.py import

Measured 2026-12-02, idle 2-core machine, alternating twice: none [3.88, 3.96] 5.33 s and [3.86,
3.85] 5.16 s; import [3.96, 3.97] 4.03 s and [3.91, 3.86] 3.97 s: the same training speed, and the
pool's wall time without the workers' own imports.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time

import torch


def train(_: int) -> float:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.GELU(), torch.nn.Linear(512, 256))
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x = torch.randn(64, 256)
    start = time.perf_counter()
    for _ in range(1500):
        loss = net(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main(mode: str) -> None:
    if mode == "import":
        import torch._dynamo  # noqa: F401
    start = time.perf_counter()
    with mp.get_context("fork").Pool(2) as pool:
        per_worker = pool.map(train, range(2))
    print(mode, [round(v, 2) for v in per_worker], round(time.perf_counter() - start, 2))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("none", "import"):
        sys.exit("usage: python tools/timing/dynamo_import_ab.py none|import")
    main(sys.argv[1])

"""Run independent jobs (one method's training each) side by side in forked worker processes.

Training a small TVG head is bound by per-operator overhead, not arithmetic: measured on a
2-core CPU, an R²-Tuning step takes the same 0.158 s with one intra-op thread as with two.
So two methods trained at once, one thread each, finish in about the time of one. Workers are
forked, so they share the parent's features copy-on-write instead of receiving a pickled copy.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_job: Callable | None = None  # what the forked workers run; set just before they are forked
_slot = 0  # 0 in the main process, i in the pool's i-th worker


def worker_slot() -> int:
    """0 in the main process, i in the i-th worker: the row a worker's progress bar draws on."""
    return _slot


def _init_worker(threads: int, counter) -> None:  # noqa: ANN001 - a multiprocessing.Value
    global _slot
    import torch

    torch.set_num_threads(threads)
    with counter.get_lock():
        counter.value += 1
        _slot = counter.value


def _run(item: object) -> object:
    assert _job is not None
    return _job(item)


def map_in_workers(fn: Callable[[T], R], items: list[T], jobs: int, threads: int) -> list[R]:
    """``[fn(x) for x in items]``, with up to ``jobs`` items in flight in forked workers.

    Items start in list order as workers free up, so put the longest first. Each worker runs
    with ``threads`` intra-op threads. An exception in ``fn`` is raised here. With ``jobs <= 1``
    or off Linux (fork is unsafe with macOS system libraries, absent on Windows) or on a GPU run
    (a CUDA or MPS context does not survive a fork; :mod:`i2vbench.devices`) everything runs in
    this process, in order.
    """
    from i2vbench.devices import current

    global _job
    jobs = min(jobs, len(items))
    if jobs <= 1 or not sys.platform.startswith("linux") or current().type != "cpu":
        return [fn(x) for x in items]
    # torch's optimisers import torch._dynamo on their first construction (1.8 CPU-s, measured):
    # once here, before the fork, rather than once in every worker
    import torch._dynamo  # noqa: F401

    _job = fn
    ctx = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(threads, ctx.Value("i", 0))) as pool:
            return list(pool.map(_run, items))
    finally:
        _job = None

"""Forked workers: results in input order, errors surface in the caller, one progress row each."""

from __future__ import annotations

import os
import sys

import pytest

from i2vbench.errors import BenchError
from i2vbench.parallel import map_in_workers, worker_slot

forks = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
BIG = list(range(100_000))  # inherited by the forked workers, never pickled to them


def _where(x: int) -> tuple[int, int, int, int]:
    import torch

    return x * x + len(BIG), os.getpid(), worker_slot(), torch.get_num_threads()


@forks
def test_results_keep_input_order_and_run_in_workers_with_their_threads():
    out = map_in_workers(_where, [3, 1, 2, 5], jobs=2, threads=1)
    assert [r[0] for r in out] == [9 + len(BIG), 1 + len(BIG), 4 + len(BIG), 25 + len(BIG)]
    assert os.getpid() not in {r[1] for r in out}
    assert {r[2] for r in out} <= {1, 2}  # progress rows 1..jobs; row 0 is the main process
    assert {r[3] for r in out} == {1}


def test_one_job_runs_in_this_process():
    out = map_in_workers(_where, [2, 4], jobs=1, threads=1)
    assert [r[0] for r in out] == [4 + len(BIG), 16 + len(BIG)]
    assert {r[1] for r in out} == {os.getpid()} and {r[2] for r in out} == {0}


def _fail_on_two(x: int) -> int:
    if x == 2:
        raise BenchError("method 2: bad config")
    return x


@forks
def test_an_error_in_a_worker_is_raised_in_the_caller():
    with pytest.raises(BenchError, match="method 2: bad config"):
        map_in_workers(_fail_on_two, [1, 2, 3], jobs=2, threads=1)


@forks
def test_closures_work_because_workers_are_forked():
    offset = 7
    assert map_in_workers(lambda x: x + offset, [1, 2, 3], jobs=2, threads=1) == [8, 9, 10]

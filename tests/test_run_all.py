"""`bench run --task all` iterates the runner registry (no task named in the command): here a
registry holding only the toy task of tests/toy_task.py, so the sweep is fast. It runs each
task's default, writes each run record, prints Tables II/III with the runs and the wall times."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ONLY_TOY = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import i2vbench.benchmarks.runner as r; "
            "r.RUNNER_MODULES = (); import toy_task; from i2vbench.cli import main; sys.exit(main(sys.argv[1:]))")


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ONLY_TOY, str(TESTS), *args], capture_output=True, text=True,
                          env={**os.environ, "I2VBENCH_CACHE": str(tmp_path)}, timeout=300)


def test_run_all_runs_every_registered_task_then_the_tables(tmp_path):
    out = _bench(tmp_path, "run", "--task", "all", "--out", str(tmp_path / "runs"), "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "TOY, backbone" in out.stdout  # the task's own table
    tables = out.stdout.split("run record:")[-1]
    assert "| TVG |" in tables and "| VAR |" in tables  # the survey's Tables II/III follow the runs
    assert "wall time per task: toy " in out.stdout
    assert len(list((tmp_path / "runs").iterdir())) == 1


def test_run_all_refuses_one_tasks_options(tmp_path):
    out = _bench(tmp_path, "run", "--task", "all", "--methods", "probe", "--out", str(tmp_path / "runs"))
    assert out.returncode == 2 and "--methods" in out.stderr and "run that task alone" in out.stderr

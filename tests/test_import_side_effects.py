"""`import i2vbench` (and its CLI module) changes nothing in the host process's environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_import_sets_no_environment_variable():
    code = ("import os, json; before = dict(os.environ); import i2vbench, i2vbench.cli, i2vbench.metrics.evaluate;"
            " print(json.dumps({k: v for k, v in os.environ.items() if before.get(k) != v}))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {}


def test_the_bench_entry_point_sets_the_thread_policy():
    code = "import os; from i2vbench.cli import main; main(['list', 'tasks']); print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "PASSIVE"

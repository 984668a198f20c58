"""The run spine is generic: a task defined only in tests/toy_task.py runs through the real
`bench run` command end to end (config, overrides, seeds, val/test records, run folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BENCH_WITH_TOY = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import toy_task; "
                  "from i2vbench.cli import main; sys.exit(main(sys.argv[1:]))")


def bench_with_toy(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BENCH_WITH_TOY, str(TESTS), *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_toy_task_runs_through_bench_run(tmp_path):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text("n_train: 96\noverrides: {probe: {hidden: 4, epochs: 40}}\njobs: 1\nthreads: 1\n")
    out = bench_with_toy("run", "--task", "toy", "--config", str(cfg), "--seeds", "0,1", "--out",
                         str(tmp_path / "runs"), "--json", "--no-progress", env={"I2VBENCH_CACHE": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["task"] == "toy" and res["seeds"] == [0, 1]
    assert res["datasets"][0]["skipped"] == {"pixels": "needs the decoded frames (pixels), which the toy's "
                                                       "event-count features do not have"}
    by = {(r["method"], r["split"]): r for r in res["results"]}
    assert set(by) == {(m, s) for m in ("prior", "probe") for s in ("val", "test")}
    assert by["probe", "test"]["metrics"]["Acc"] > by["prior", "test"]["metrics"]["Acc"] + 10
    assert [p["seed"] for p in by["probe", "val"]["per_seed"]] == [0, 1]

    run_dir = Path(res["run_dir"])
    record = json.loads((run_dir / "run.json").read_text())
    assert record["config"]["overrides"] == {"probe": {"hidden": 4, "epochs": 40}}
    assert {(r["task"], r["method_id"], r["split"]) for r in record["records"]} == \
        {("toy", m, s) for m in ("prior", "probe") for s in ("val", "test")}
    assert (run_dir / "predictions" / "synthvid-toy" / "val" / "probe-seed1.jsonl").is_file()
    table = (run_dir / "table.md").read_text()
    assert "Feature probe" in table and "val Acc" in table and " ± " in table


def test_toy_task_lookups_are_within_the_task(tmp_path):
    """Both tasks have a method named "prior"; overrides and --methods look up the run's task."""
    listed = bench_with_toy("list", "methods", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {("tvg", "prior"), ("toy", "prior")} <= {(r["task"], r["method"]) for r in json.loads(listed.stdout)}
    bad = bench_with_toy("run", "--task", "toy", "--methods", "moment_detr", "--out", str(tmp_path))
    assert bad.returncode == 2 and "unknown toy method 'moment_detr'; known: pixels, prior, probe" in bad.stderr
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("overrides: {probe: {enc_layers: 2}}\n")
    bad = bench_with_toy("run", "--task", "toy", "--config", str(cfg), "--out", str(tmp_path))
    assert bad.returncode == 2
    assert "unknown keys ['enc_layers'] for method 'probe' (toy); valid keys: hidden, epochs" in bad.stderr
    bad = bench_with_toy("run", "--task", "toy", "--videos", "/tmp", "--out", str(tmp_path))
    assert bad.returncode == 2 and "--videos: not an option of task 'toy'" in bad.stderr


def test_a_sets_numbers_do_not_depend_on_the_sets_beside_it(tmp_path):
    """Several sets train in one pool of workers (longest job first across all of them); each
    set's numbers are those of the set run alone, and the records keep them apart."""
    def run(n_sets: int) -> dict:
        cfg = tmp_path / f"toy{n_sets}.yaml"
        cfg.write_text(f"n_sets: {n_sets}\noverrides: {{probe: {{hidden: 4, epochs: 20}}}}\njobs: 2\nthreads: 2\n")
        out = bench_with_toy("run", "--task", "toy", "--config", str(cfg), "--seeds", "0,1", "--out",
                             str(tmp_path / "runs"), "--json", "--no-progress", env={"I2VBENCH_CACHE": str(tmp_path)})
        assert out.returncode == 0, out.stderr
        return {(r["dataset"], r["method"], r["split"]): r["per_seed"] for r in json.loads(out.stdout)["results"]}

    alone, together = run(1), run(3)
    assert {d for d, _, _ in together} == {"synthvid-toy", "synthvid-toy-1", "synthvid-toy-2"}
    assert {k: v for k, v in together.items() if k[0] == "synthvid-toy"} == alone

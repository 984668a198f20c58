"""Run folders: runs that finish in the same second get their own folders, a failed write leaves none."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from i2vbench.benchmarks.runner import DatasetResult, MethodResult, RunResult, SeedResult, write_run
from i2vbench.io import atomic_dir, claim_dir


def _run(i: int) -> tuple[RunResult, dict]:
    seed = SeedResult(0, {"test": {"R@1": float(i)}}, {"test": []}, 1.0, 1.0)
    m = MethodResult("zero_shot", "Zero-shot", None, None, 0, 0, [seed])
    run_json = {"provenance": {"created": "2026-12-01T20:56:55Z"}, "config": {"seeds": [0]}, "i": i}
    return RunResult("vtr", "tinyclip", [DatasetResult("synthvid-msrvtt", {}, [m], {})]), run_json


def test_runs_finishing_in_the_same_second_get_their_own_folders(tmp_path):
    def write(i: int):
        result, run_json = _run(i)
        return write_run(result, run_json, tmp_path, f"table {i}\n")

    with ThreadPoolExecutor(8) as pool:
        folders = list(pool.map(write, range(8)))
    assert len(set(folders)) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in folders)  # no temporary left
    assert "20261201-205655-vtr-synthvid-msrvtt-seed0" in {p.name for p in folders}
    for i, p in enumerate(folders):
        assert (p / "table.md").read_text() == f"table {i}\n" and f'"i": {i}' in (p / "run.json").read_text()


def test_a_failed_write_into_a_claimed_folder_leaves_nothing(tmp_path):
    final = claim_dir(tmp_path, "run")
    assert claim_dir(tmp_path, "run").name == "run-2"
    with pytest.raises(RuntimeError), atomic_dir(final, claimed=True) as tmp:
        (tmp / "run.json").write_text("{}")
        raise RuntimeError("disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-2"]

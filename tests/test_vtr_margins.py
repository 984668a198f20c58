"""The VTR margin bootstrap: paired over queries, read from a run folder's similarity matrices."""

from __future__ import annotations

import json

import numpy as np
import pytest

from i2vbench.experiments.vtr_margins import bootstrap_margins, query_hits


def test_margins_are_paired_over_queries():
    base = np.array([[1, 0, 0, 0] * 25], dtype=bool)  # R@1 25
    same = np.repeat(base, 3, axis=0)
    better = same.copy()
    better[:, 1::4] = True  # R@1 50 at every seed: +25 on every draw that keeps some of those queries
    rows = {r["method"]: r for r in bootstrap_margins({"zero_shot": base, "same": same, "better": better},
                                                      "zero_shot", line=10, resamples=2000)}
    assert rows["same"]["margin"] == 0 and rows["same"]["lo"] == rows["same"]["hi"] == 0
    assert rows["same"]["p_line"] == 0
    assert rows["better"]["margin"] == pytest.approx(25)
    assert 10 < rows["better"]["lo"] < 25 < rows["better"]["hi"] < 40 and rows["better"]["p_line"] > 0.99


def test_query_hits_read_the_runs_matrices(tmp_path):
    sim = np.eye(3)
    sim[2, 0] = 2.0  # query 2 ranks video 0 first
    pred = tmp_path / "predictions" / "synthvid-msrvtt" / "test"
    pred.mkdir(parents=True)
    np.save(pred / "m-seed0.npy", sim)
    (tmp_path / "run.json").write_text(json.dumps({"results": [
        {"split": "test", "method": "m", "per_seed": [{"predictions": "predictions/synthvid-msrvtt/test/m-seed0.npy"}]},
        {"split": "val", "method": "m", "per_seed": [{"predictions": "missing.npy"}]}]}))
    assert query_hits(tmp_path, "test")["m"].tolist() == [[True, True, False]]


def test_a_missing_prediction_file_is_one_line_and_exit_code(tmp_path, capsys):
    """A run folder whose matrices were not copied with it (results/runs keeps run.json only):
    one line on stderr naming the file, bench's exit code, no traceback."""
    from i2vbench.experiments import run_main
    from i2vbench.experiments.vtr_margins import main

    (tmp_path / "run.json").write_text(json.dumps({"results": [
        {"split": "test", "method": "m", "per_seed": [{"predictions": "predictions/m-seed0.npy"}]}]}))
    code = run_main(lambda: main([str(tmp_path)]))
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("error: similarity matrix not found:") and "m-seed0.npy" in err

"""``bench eval --engine official``: the task's official package on the user's files, beside ours."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

OVMOT = Path(__file__).parent / "data" / "ovmot"


def test_ovmot_prints_trackeval_beside_ours(bench):
    args = ("eval", "--task", "ovmot", "--gt", str(OVMOT / "edge_gt.json"), "--pred", str(OVMOT / "edge_pred.json"))
    code, out, err = bench(*args, "--engine", "official")
    assert code == 0, err
    header, rule, *rows = out.strip().splitlines()
    assert header.split() == ["metric", "ours", "official", "|diff|"]
    assert [r.split()[0] for r in rows] == ["HOTA", "DetA", "AssA"]
    assert all(r.split()[1] == r.split()[2] and r.split()[3] == "0.0e+00" for r in rows)
    assert err.count("1 of 16 results are on images without GT boxes") == 1  # our reader's warning, once
    assert "TETA not run (SysCV/tet's 'teta' package is not installed" in err
    code, out, err = bench(*args, "--engine", "official", "--json", "--option", "hota_max_dets=1")
    got = json.loads(out)
    assert code == 0 and set(got) == {"ours", "official"}
    assert got["official"] == {k: got["ours"][k] for k in ("HOTA", "DetA", "AssA")}


def test_missing_package_is_named_before_any_work(bench, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mmaction", None)  # as if mmaction2 were not installed
    np.save(tmp_path / "s.npy", np.eye(3))
    (tmp_path / "y.json").write_text("[0, 1, 2]")
    code, out, err = bench("eval", "--task", "var", "--gt", str(tmp_path / "y.json"), "--pred",
                           str(tmp_path / "s.npy"), "--engine", "official")
    assert code == 2 and out == ""
    assert "runs the package 'mmaction2' (import mmaction.evaluation)" in err and "pip install mmaction2" in err
    code, _, err = bench("eval", "--task", "var", "--gt", str(tmp_path / "nope.json"), "--pred",
                         str(tmp_path / "s.npy"), "--engine", "official")
    assert code == 2 and "mmaction2" in err  # said first, not "labels file not found"


def test_tasks_whose_official_code_is_a_repository_point_at_the_parity_harness(bench):
    code, _, err = bench("eval", "--task", "tvg", "--gt", "x", "--pred", "y", "--engine", "official")
    assert code == 2 and "tools/parity/tvg/" in err and "captioning, ovmot, var" in err
    code, _, err = bench("eval", "--task", "vtr", "--pred", "y", "--engine", "theirs")
    assert code == 2 and "expected ours or official" in err

"""`bench leaderboard` ranking, and the committed static site being up to date with the records."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from i2vbench.results.leaderboard import rank_rows
from i2vbench.results.schema import ResultRecord
from i2vbench.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def empty_results(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("I2VBENCH_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


def test_terminal_ranking_by_main_column(bench, empty_results):
    code, out, err = bench("leaderboard", "--task", "var")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "VAR (Video action recognition), ranked by K400 Top-1"
    ranked = [ln.split("|")[2].strip() for ln in lines[3:]]
    # K400 Top-1: DiST 88.0, MoMa 87.8, DualPath 87.7, AIM 87.5, EVL 87.3, ZeroI2V 87.2
    assert ranked == ["DiST", "MoMa", "DualPath", "AIM", "EVL", "ZeroI2V"]


def test_json_ranks_rows_without_main_value_last(bench, empty_results):
    code, out, _ = bench("leaderboard", "--task", "videoqa", "--format", "json")
    rows = json.loads(out)
    # NExT-QA: SG-VLM 85.1, BIMBA 83.7, LeAdQA 80.6, Q-ViD 66.3, ATP 54.3; three rows have no NExT-QA value
    assert [(r["rank"], r["method"]) for r in rows] == [
        (1, "SG-VLM"), (2, "BIMBA"), (3, "LeAdQA"), (4, "Q-ViD"), (5, "ATP"),
        (None, "Tem-Adapter"), (None, "ViTiS"), (None, "VideoDistill")]
    assert {r["main_column"] for r in rows} == {"NEXt-QA"}
    code, out, _ = bench("leaderboard", "--format", "json")
    assert len(json.loads(out)) == 52


def test_reproduced_rows_rank_within_their_own_dataset_and_ties_share_a_rank(empty_results):
    def rec(method, ds, miou, kind="reproduced"):
        return ResultRecord.model_validate({
            "task": "tvg", "dataset": ds, "method": method, "paradigm": "side_tuning", "ilfm": "tinyclip",
            "citation": {"ref": 67, "title": "t"}, "metrics": {"mIoU": miou}, "kind": kind})

    from i2vbench.results.reported import reported_records

    recs = reported_records("tvg") + [rec("R²-Tuning", "synthvid-tvg", 41.04),
                                      rec("Prior", "synthvid-tvg", 20.0), rec("Other", "synthvid-tvg", 40.96)]
    ranked = rank_rows(recs, TASKS.get("tvg"))
    synth = [(x.rank, x.row.method) for x in ranked if x.dataset == "synthvid-tvg"]
    assert synth == [(1, "R²-Tuning"), (1, "Other"), (3, "Prior")]  # 41.04 and 40.96 both print 41.0
    assert [x.dataset for x in ranked][:7] == ["charades-sta"] * 7  # the survey's dataset first


def test_run_records_join_tables_and_leaderboard(bench, empty_results):
    run = empty_results / "runs" / "20261122T010000-tvg"
    run.mkdir(parents=True)
    record = {
        "task": "tvg", "dataset": "synthvid-tvg", "split": "test", "method": "R²-Tuning",
        "method_id": "r2_tuning", "paradigm": "side_tuning", "ilfm": "tinyclip",
        "citation": {"ref": 67, "title": "R²-Tuning"}, "kind": "reproduced",
        "metrics": {"R1@0.3": 80.25, "R1@0.5": 66.0, "R1@0.7": 41.5, "mIoU": 60.0},
        "provenance": {"code_version": "abc", "seed": 0},
    }
    (run / "run.json").write_text(json.dumps({"task": "tvg", "records": [record]}))
    code, out, _ = bench("tables", "--task", "tvg", "--format", "json", "--with-runs")
    rows = json.loads(out)
    i = next(i for i, r in enumerate(rows) if r["method"] == "R²-Tuning")
    assert rows[i + 1]["kind"] == "reproduced" and rows[i + 1]["dataset"] == "synthvid-tvg"
    assert rows[i + 1]["metrics"]["m_IoU"] == 60.0
    assert rows[i + 1]["best"] == []  # a SynthVid number never takes a Charades-STA bold
    assert [r["method"] for r in rows if "m_IoU" in r["best"]] == ["VideoTG-R1"]
    code, out, _ = bench("tables", "--task", "tvg", "--format", "md", "--with-runs")
    assert "|  | Side-Tuning | ↳ R²-Tuning (reproduced, synthvid-tvg) | - | tinyclip | 80.2 | 66.0 | 41.5 | 60.0 |" in out
    code, out, _ = bench("leaderboard", "--task", "tvg", "--format", "json")
    assert any(r["kind"] == "reproduced" and r["rank"] == 1 and r["ranked_on"] == "synthvid-tvg"
               for r in json.loads(out))
    code, out, _ = bench("leaderboard", "--task", "tvg", "--format", "json", "--no-runs")
    assert all(r["kind"] == "reported" for r in json.loads(out))

    # a later run of the same method on Charades-STA itself is its own row, and competes for bold
    run2 = empty_results / "runs" / "20261122T020000-tvg"
    run2.mkdir()
    real = dict(record, dataset="charades-sta", metrics={"R1@0.3": 81.0, "mIoU": 50.0})
    (run2 / "run.json").write_text(json.dumps({"records": [real]}))
    rows = json.loads(bench("tables", "--task", "tvg", "--format", "json", "--with-runs")[1])
    mine = [r for r in rows if r["kind"] == "reproduced"]
    assert [(r["dataset"], r["metrics"]["R@0.3"], r["best"]) for r in mine] == [
        ("synthvid-tvg", 80.25, []), ("charades-sta", 81.0, ["R@0.3"])]
    assert rows.index(mine[0]) == i + 1 and rows.index(mine[1]) == i + 2


def test_committed_site_is_up_to_date(bench, tmp_path, monkeypatch):
    """Rebuild from the committed records (reported + results/submissions, no local runs) and compare."""
    monkeypatch.setenv("I2VBENCH_RESULTS", str(ROOT / "results"))
    out = tmp_path / "site"
    code, _, err = bench("leaderboard", "build", "--out", str(out), "--no-runs")
    assert code == 0, err
    built = {p.name: p.read_text(encoding="utf-8") for p in sorted(out.iterdir())}
    committed = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "leaderboard").iterdir())}
    assert built.keys() == committed.keys()
    stale = [name for name in built if built[name] != committed[name]]
    assert not stale, f"leaderboard/ is out of date ({stale}); run: bench leaderboard build --no-runs"


def test_site_is_deterministic_offline_and_complete(bench, empty_results, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert bench("leaderboard", "build", "--out", str(a))[0] == 0
    assert bench("leaderboard", "build", "--out", str(b))[0] == 0
    files = sorted(p.name for p in a.iterdir())
    assert files == ["README.md", "captioning.html", "index.html", "ovmot.html", "site.css", "site.js",
                     "stvg.html", "tvg.html", "var.html", "videoqa.html", "vtr.html"]
    for name in files:
        text = (a / name).read_text()
        assert text == (b / name).read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), f"{name} loads something remote"
    page = (a / "tvg.html").read_text()
    assert page.count("<tr class=") == 11 and page.count("<svg") == 2
    assert '<select id="filter-paradigm" data-filter="paradigm">' in page
    assert '<td class="num best" data-v="55.9">55.9</td>' in page
    index = (a / "index.html").read_text()
    assert all(f'href="{t}.html"' in index for t in TASKS.names())

"""`bench tables` against the survey itself: every value, every bold cell, row order and names."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from i2vbench.tasks import TASKS

# Tables II and III as the survey's markdown prints them (tab-separated; see tests/data/annotations/SOURCE.md)
SURVEY = Path(__file__).resolve().parent / "data" / "survey_tables.md"

# The survey's bold cells, read off the printed tables by hand: (task, method as printed, column).
# Kept as literals: a second reading, independent of the markdown's <b> tags.
SURVEY_BOLD = {
    ("ovmot", "NefTrack", "ClsA"), ("ovmot", "OVSORT", "TETA"), ("ovmot", "OVSORT", "LocA"),
    ("ovmot", "OVSORT", "AssocA"),
    *(("stvg", "CoSTA", c) for c in ("m_vIoU", "vIoU@0.3", "vIoU@0.5", "m_tIoU")),
    *(("tvg", "VideoTG-R1", c) for c in ("R@0.3", "R@0.5", "R@0.7", "m_IoU")),
    *(("vtr", "DiscoVLA", c) for c in ("R@1", "R@5", "R@10", "R@sum")),
    ("var", "DiST", "K400 Top-1"), ("var", "MoMa", "K400 Top-5"), ("var", "MoMa", "SSv2 Top-1"),
    ("var", "MoMa", "SSv2 Top-5"),
    ("videoqa", "Q-Vid", "How2QA"), ("videoqa", "VideoDistill", "MSRVTT"),
    ("videoqa", "VideoDistill", "MSVD-QA"), ("videoqa", "SG-VLM", "NEXt-QA"),
    ("captioning", "MAMS", "BLEU4"), ("captioning", "MAMS", "ROUGE-L"), ("captioning", "MAMS", "CIDEr"),
    ("captioning", "HierarQ", "METEOR"),
}


def parse_survey_tables(text: str) -> list[dict]:
    """Rows of Tables II/III from the survey markdown (tab-separated lines, <b> for bold).

    Written independently of the YAML transcription: a block starts at a "Task" header line, the
    first row carries the task label, later rows start with an empty cell, and one row (MoMa)
    lost its empty Task cell, so a row is read right-aligned against its header.
    """
    label_to_task = {t.label: t.id for _, t in TASKS.items()}
    rows, header, task, table = [], None, None, None
    for line in text.splitlines():
        if line.startswith("TABLE II:"):
            table = "II"
        elif line.startswith("TABLE III:"):
            table = "III"
        if table is None or "\t" not in line:
            continue
        cells = line.split("\t")
        while cells and cells[-1] == "":
            cells.pop()
        if cells[0] == "Task":
            header = [h.replace("↑", "").strip() for h in cells]
            continue
        if cells[0] in label_to_task:
            task = label_to_task[cells[0]]
        cells = [""] * (len(header) - len(cells)) + cells  # right-align (the MoMa row)
        meth = re.fullmatch(r"(.*) \[(\d+)\]", cells[2])
        values, bold = {}, []
        for h, c in zip(header[5:], cells[5:], strict=True):
            if c.startswith("<b>"):
                bold.append(h)
            c = re.sub(r"</?b>", "", c)
            values[h] = None if c == "-" else float(c)
        rows.append({"table": table, "task": task, "category": cells[1], "printed": meth.group(1),
                     "ref": int(meth.group(2)), "venue": cells[3], "ilfm": cells[4],
                     "metrics": values, "best": bold})
    return rows


@pytest.fixture(scope="module")
def survey_rows() -> list[dict]:
    return parse_survey_tables(SURVEY.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def json_rows() -> list[dict]:
    from conftest import run_bench

    code, out, err = run_bench("tables", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_row_counts(json_rows, survey_rows):
    assert sum(r["table"] == "II" for r in json_rows) == 25
    assert sum(r["table"] == "III" for r in json_rows) == 27
    assert len(survey_rows) == 52


def test_every_value_and_bold_cell_matches_the_survey(json_rows, survey_rows):
    assert len(json_rows) == len(survey_rows)
    for ours, theirs in zip(json_rows, survey_rows, strict=True):
        where = f"{theirs['task']} {theirs['printed']}"
        assert ours["task"] == theirs["task"], where
        assert ours["table"] == theirs["table"], where
        assert (ours["printed_as"] or ours["method"]) == theirs["printed"], where
        assert ours["ref"] == theirs["ref"], where
        assert ours["venue"] == theirs["venue"], where
        assert ours["ilfm"] == theirs["ilfm"], where
        assert ours["category"] == theirs["category"], where
        assert ours["metrics"] == theirs["metrics"], where
        assert ours["best"] == theirs["best"], where
        assert ours["kind"] == "reported"


def test_bold_cells_pinned_by_hand(json_rows):
    ours = {(r["task"], r["printed_as"] or r["method"], c) for r in json_rows for c in r["best"]}
    assert ours == SURVEY_BOLD


def test_corrected_names_keep_how_the_table_printed_them(json_rows):
    fixed = {r["printed_as"]: r["method"] for r in json_rows if r["printed_as"]}
    assert fixed["NefTrack"] == "NetTrack"
    assert fixed["R <sup>2</sup> -tuning"] == "R²-Tuning"
    assert fixed["Vtimellm"] == "VTimeLLM"
    assert fixed["MomentDETR"] == "Moment-DETR"


def test_markdown_renders_bold_and_dashes(bench, json_rows):
    code, out, _ = bench("tables", "--format", "md")
    assert code == 0
    assert out.startswith("**TABLE II: Experimental results of representative methods in fine-grained")
    assert "| Task | Category | Method | Venue | ILFM | TETA↑ | LocA↑ | AssocA↑ | ClsA↑ |" in out
    assert "| Task | Category | Method | Publication | ILFM | R@0.3↑ | R@0.5↑ | R@0.7↑ | m_IoU↑ |" in out
    assert ("|  | F.Tuning with Extra Models | NetTrack [42] | CVPR 2024 | G-DINO | 33.0 | 45.7 | 28.6 "
            "| **24.8** |") in out
    assert ("|  | F.Tuning with Extra Models | VDI [68] | CVPR 2023 | CLIP | - | 52.3 | 31.4 | - |") in out
    assert ("| VAR | Side-Tuning | EVL [72] | ECCV 2022 | CLIP | 87.3 | - | 66.7 | - |") in out
    assert out.count("**") // 2 == len(SURVEY_BOLD) + 2  # + the two table captions
    # each task block is its own table with the task label on its first row only
    assert sum(line.startswith("| Task |") for line in out.splitlines()) == 7


def test_latex_is_booktabs_with_textbf(bench):
    code, out, _ = bench("tables", "--table", "II", "--format", "latex")
    assert code == 0
    assert out.count(r"\begin{tabular}") == 1 and r"\toprule" in out and r"\bottomrule" in out
    assert out.count(r"\textbf{") == sum(t == "ovmot" or t == "stvg" or t == "tvg"
                                         for t, _, _ in SURVEY_BOLD)
    assert (r" & Side-Tuning & R\textsuperscript{2}-Tuning [67] & ECCV 2024 & CLIP & 70.9 & 59.8 & "
            r"37.0 & 50.9 \\") in out
    assert r"m\_vIoU$\uparrow$" in out
    assert "coarse-grained" not in out and "CLIP4Clip" not in out


def test_html_and_csv(bench):
    code, out, _ = bench("tables", "--task", "vtr", "--format", "html")
    assert code == 0
    assert out.count("<b>") == 4 and "<b>209.9</b>" in out and "<td>DiscoVLA [125]</td>" in out
    code, out, _ = bench("tables", "--table", "III", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 27
    moma = next(r for r in rows if r["Method"] == "MoMa")
    assert (moma["K400 Top-1"], moma["K400 Top-5"], moma["R@1"]) == ("87.8", "98.0", "")
    assert moma["best"] == "K400 Top-5;SSv2 Top-1;SSv2 Top-5"


def test_table_and_task_filters(bench):
    code, out, _ = bench("tables", "--table", "II", "--format", "json")
    assert {r["task"] for r in json.loads(out)} == {"ovmot", "stvg", "tvg"}
    code, out, err = bench("tables", "--table", "II", "--task", "vtr")
    assert code == 2 and "task 'vtr' is in Table III, not Table II" in err
    code, out, err = bench("tables", "--task", "nope")
    assert code == 2 and "unknown task 'nope'" in err
    code, out, err = bench("tables", "--format", "docx")
    assert code == 2 and "unknown format 'docx'" in err
    code, out, err = bench("tables", "--table", "IV")
    assert code == 2 and "unknown table 'IV'" in err


def test_tables_and_leaderboard_do_not_import_torch():
    """`bench tables` / `bench leaderboard` must start fast: no torch behind them."""
    import subprocess
    import sys

    code = ("import sys, contextlib, io\nfrom i2vbench.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['tables', '--format', 'json']) == 0\n"
            "    assert main(['leaderboard', '--no-runs']) == 0\n"
            "print(sorted(m for m in ('torch', 'open_clip', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_runs_over_several_seeds_print_mean_and_std_and_val_records_stay_out(bench, tmp_path, monkeypatch):
    """A reproduced record over seeds prints ``mean ± std``; val records (choices) are not rows."""
    monkeypatch.setenv("I2VBENCH_RESULTS", str(tmp_path / "results"))
    run = tmp_path / "results" / "runs" / "20261201T010000-tvg"
    run.mkdir(parents=True)
    record = {
        "task": "tvg", "dataset": "synthvid-tvg", "split": "test", "method": "R²-Tuning",
        "method_id": "r2_tuning", "paradigm": "side_tuning", "ilfm": "tinyclip-0123456789ab",
        "citation": {"ref": 67, "title": "R²-Tuning"}, "kind": "reproduced",
        "metrics": {"R1@0.3": 80.25, "R1@0.5": 66.0, "R1@0.7": 41.5, "mIoU": 60.0},
        "metrics_std": {"R1@0.3": 1.0, "R1@0.5": 2.0, "R1@0.7": 0.5, "mIoU": 1.5},
        "per_seed": [{"seed": 0, "metrics": {"mIoU": 58.5}}, {"seed": 1, "metrics": {"mIoU": 61.5}}],
    }
    val = dict(record, split="val", metrics={"mIoU": 99.0}, metrics_std={"mIoU": 0.0})
    (run / "run.json").write_text(json.dumps({"records": [record, val]}))
    code, out, err = bench("tables", "--task", "tvg", "--format", "md", "--with-runs")
    assert code == 0, err
    assert "| ↳ R²-Tuning (reproduced, synthvid-tvg) | - | tinyclip-0123456789ab | 80.2 ± 1.0 | 66.0 ± 2.0 " \
           "| 41.5 ± 0.5 | 60.0 ± 1.5 |" in out
    assert "99.0" not in out and out.count("↳ R²-Tuning") == 1
    rows = json.loads(bench("tables", "--task", "tvg", "--format", "json", "--with-runs")[1])
    mine = [r for r in rows if r["kind"] == "reproduced"]
    assert len(mine) == 1 and mine[0]["metrics_std"]["m_IoU"] == 1.5
    assert r"$\pm$" in bench("tables", "--task", "tvg", "--format", "latex", "--with-runs")[1]


def test_a_later_one_seed_run_does_not_replace_a_mean_over_seeds(bench, tmp_path, monkeypatch):
    """The row shows the newest record over the most seeds: a timing run of seed 0 made after the
    three-seed run does not replace its mean, a newer three-seed run does."""
    monkeypatch.setenv("I2VBENCH_RESULTS", str(tmp_path / "results"))

    def write(run_id: str, miou: float, seeds: int) -> None:
        run = tmp_path / "results" / "runs" / run_id
        run.mkdir(parents=True)
        record = {"task": "tvg", "dataset": "synthvid-tvg", "split": "test", "method": "R²-Tuning",
                  "method_id": "r2_tuning", "paradigm": "side_tuning", "ilfm": "tinyclip-0123456789ab",
                  "citation": {"ref": 67, "title": "R²-Tuning"}, "kind": "reproduced",
                  "metrics": {"mIoU": miou}, "metrics_std": {"mIoU": 1.0} if seeds > 1 else None,
                  "per_seed": [{"seed": s, "metrics": {"mIoU": miou}} for s in range(seeds)]}
        (run / "run.json").write_text(json.dumps({"records": [record]}))

    def shown() -> str:
        code, out, err = bench("tables", "--task", "tvg", "--format", "md", "--with-runs")
        assert code == 0, err
        return next(line for line in out.splitlines() if "↳ R²-Tuning" in line)

    write("20261201T010000-tvg-seeds0-2x3", 60.0, 3)
    write("20261201T020000-tvg-seed0", 55.0, 1)
    assert "60.0 ± 1.0" in shown() and "55.0" not in shown()
    write("20261201T030000-tvg-seeds0-2x3", 62.0, 3)
    assert "62.0 ± 1.0" in shown()

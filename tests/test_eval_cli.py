"""``bench eval`` as a user runs it, on the sample files in tests/data/tvg/.

Expected numbers: UniVTG ``eval/eval.py`` (showlab/UniVTG @ 32659ac) on the same files, run
outside this repo by ``tools/parity/tvg/univtg.py`` into ``data/tvg/univtg_parity.json``; the txt
GT was given to it as the moment_detr jsonl our loader produces (``moments_to_jsonl_rows``: qids
test0.., ends clipped to the csv length).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from i2vbench.errors import BenchError
from i2vbench.metrics.cli import parse_option

D = Path(__file__).parent / "data" / "tvg"
TXT, CSV = str(D / "charades_sta_test.txt"), str(D / "Charades_v1_test.csv")

PARITY = json.loads((D / "univtg_parity.json").read_text())["cases"]
# UniVTG unrounded (rounding removed) on charades_sta_test.txt + csv vs pred.jsonl
SAMPLE = PARITY["charades_txt_sample"]["unrounded"]
# UniVTG unrounded on gt_moments.jsonl (several GT windows per query) vs pred_moments.jsonl
MOMENTS = PARITY["moment_jsonl_sample"]["unrounded"]


def _close(got, want):
    # R1/R5/mIoU first, then moment_detr's MR-mAP keys (tested in test_metrics_tvg_map.py)
    assert list(got)[: len(want)] == list(want)
    assert all(k.startswith("MR-") for k in list(got)[len(want):])
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=1e-6), k


def test_json_output_on_charades_txt_with_durations(bench):
    code, out, err = bench("eval", "--task", "tvg", "--gt", TXT, "--durations", CSV,
                           "--pred", str(D / "pred.jsonl"), "--json")
    assert code == 0, err
    _close(json.loads(out), SAMPLE)
    assert err.strip() == f"warning: {TXT}: clipped 1 kept windows ending past the video's duration to the duration"


def test_table_output_rounds_like_the_reference(bench):
    code, out, _ = bench("eval", "--task", "tvg", "--gt", TXT, "--durations", CSV,
                         "--pred", str(D / "pred.jsonl"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["metric", "value"]
    rows = {k: v for k, v in (line.split() for line in lines[2:]) if not k.startswith("MR-")}
    # UniVTG printed: 70.0 70.0 50.0 100.0 100.0 70.0 and mIoU 59.92
    assert rows == {k: f"{v:.2f}" for k, v in PARITY["charades_txt_sample"]["rounded"].items()}
    assert rows["mIoU"] == "59.92"


def test_moment_jsonl_gt_with_several_windows(bench):
    code, out, err = bench("eval", "-t", "tvg", "-g", str(D / "gt_moments.jsonl"),
                           "-p", str(D / "pred_moments.jsonl"), "--json")
    assert code == 0 and err == ""
    _close(json.loads(out), MOMENTS)


def test_without_durations_nothing_is_clipped(bench):
    code, out, err = bench("eval", "--task", "tvg", "--gt", TXT, "--pred", str(D / "pred.jsonl"), "--json")
    assert code == 0 and err == ""
    got = json.loads(out)
    # test9's GT stays [12.7, 19.9]: its top-1 [12.7, 18.58] has IoU 5.88/7.2 instead of 1.0
    assert got["mIoU"] == pytest.approx(SAMPLE["mIoU"] - (1 - 5.88 / 7.2) * 10, abs=1e-9)


def test_missing_predictions(bench):
    args = ("eval", "--task", "tvg", "--gt", TXT, "--durations", CSV, "--pred", str(D / "pred_missing.jsonl"))
    code, out, err = bench(*args)
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == (f"error: {D / 'pred_missing.jsonl'}: no prediction for 3 of 10 queries "
                                    "(first: test7, test8, test9); pass --allow-missing to score them as misses")
    code, out, err = bench(*args, "--allow-missing", "--json")
    assert code == 0
    assert "3 of 10 queries have no prediction; scored as misses" in err
    got = json.loads(out)
    # test7-9 now score 0: test7 hit only in R5 (its 2nd window), test8/test9 had top-1 IoU 1.0
    assert got["R1@0.7"] == pytest.approx(30.0) and got["R5@0.7"] == pytest.approx(40.0)
    assert got["mIoU"] == pytest.approx(SAMPLE["mIoU"] - 20.0, abs=1e-9)


@pytest.mark.parametrize("args, message", [
    (("--gt", TXT, "--pred", str(D / "pred_unknown.jsonl")),
     f"error: {D / 'pred_unknown.jsonl'}: 1 prediction(s) for qids not in the ground truth (first: test99)"),
    (("--gt", TXT, "--pred", str(D / "pred_malformed.jsonl")),
     f"error: {D / 'pred_malformed.jsonl'}:4: malformed JSON (Expecting ',' delimiter)"),
    (("--gt", str(D / "nope.txt"), "--pred", str(D / "pred.jsonl")),
     f"error: Charades-STA annotation file not found: {D / 'nope.txt'}"),
    (("--gt", TXT, "--pred", str(D / "nope.jsonl")),
     f"error: TVG prediction file not found: {D / 'nope.jsonl'}"),
    (("--gt", TXT, "--pred", str(D / "pred.jsonl"), "--durations", str(D / "gt_moments.jsonl")),
     f"error: {D / 'gt_moments.jsonl'}: expected a Charades csv with columns 'id' and 'length', got "),
    (("--gt", TXT, "--pred", str(D / "pred.jsonl"), "--option", "novalue"),
     "error: --option 'novalue': expected key=value (e.g. --option dataset=nextqa)"),
])
def test_bad_input_exits_2_with_one_line(bench, args, message):
    code, out, err = bench("eval", "--task", "tvg", *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.strip().startswith(message)
    assert "Traceback" not in err


def test_empty_files(bench, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = bench("eval", "--task", "tvg", "--gt", TXT, "--pred", str(empty))
    assert code == 2 and "no prediction for 10 of 10 queries" in err
    code, _, err = bench("eval", "--task", "tvg", "--gt", str(empty), "--pred", str(D / "pred.jsonl"))
    assert code == 2 and err.strip() == f"error: {empty}: no ground-truth queries"


def test_unknown_task(bench):
    code, _, err = bench("eval", "--task", "nope", "--gt", TXT, "--pred", str(D / "pred.jsonl"))
    assert code == 2 and err.strip().startswith("error: unknown task 'nope'; known: captioning")


def test_missing_required_flag_is_a_usage_error(bench):
    code, _, _ = bench("eval", "--task", "tvg", "--gt", TXT)
    assert code == 2


def test_options_are_passed_through(bench, monkeypatch):
    from i2vbench.metrics import evaluate as ev

    seen = {}

    def fake(gt, pred, **options):
        seen.update(gt=gt, pred=pred, **options)
        return {"Acc": 12.5}

    monkeypatch.setitem(ev.EVALUATORS._entries, "videoqa", fake)
    code, out, _ = bench("eval", "--task", "videoqa", "--gt", "g.csv", "--pred", "p.json", "--json",
                         "--dataset", "nextqa", "-o", "top-k=5", "-o", "strict=true", "-o", "name=a=b")
    assert code == 0 and json.loads(out) == {"Acc": 12.5}
    assert seen == {"gt": Path("g.csv"), "pred": Path("p.json"), "dataset": "nextqa", "top_k": 5,
                    "strict": True, "name": "a=b"}
    seen.clear()
    code, _, _ = bench("eval", "--task", "videoqa", "--pred", "p.json")  # no --gt (e.g. vtr)
    assert code == 0 and seen == {"gt": None, "pred": Path("p.json")}


def test_undefined_values_print_as_null(bench, monkeypatch):
    from i2vbench.metrics import evaluate as ev

    monkeypatch.setitem(ev.EVALUATORS._entries, "var", lambda gt, pred, **o: {"Top-1": float("nan"), "n": 3})
    code, out, _ = bench("eval", "--task", "var", "--gt", "g", "--pred", "p", "--json")
    assert code == 0 and json.loads(out) == {"Top-1": None, "n": 3}
    code, out, _ = bench("eval", "--task", "var", "--gt", "g", "--pred", "p")
    assert out.split()[-4:] == ["Top-1", "nan", "n", "3"]


def test_parse_option():
    assert parse_option("a=1.5") == ("a", 1.5)
    assert parse_option("a=[1]") == ("a", "[1]")
    assert parse_option("a=") == ("a", "")
    with pytest.raises(BenchError):
        parse_option("=3")


def test_eval_modules_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, i2vbench.metrics.cli, i2vbench.metrics.tvg, i2vbench.datasets.charades_sta;"
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---------------------------------------------------------------- one entry point, declared keys

def test_every_evaluator_declares_keys_and_options():
    from i2vbench.metrics.evaluate import EVALUATOR_MODULES, get_evaluator

    for task in EVALUATOR_MODULES:
        spec = get_evaluator(task)
        assert spec.task == task and spec.keys and all(isinstance(k, str) for k in spec.keys)
        assert "gt" not in spec.options and "pred" not in spec.options


def test_unknown_option_is_refused_with_the_valid_ones(bench):
    from i2vbench.errors import BenchError
    from i2vbench.metrics.evaluate import evaluate

    gt, pred = D / "gt_moments.jsonl", D / "pred_moments.jsonl"
    with pytest.raises(BenchError, match=r"tvg evaluator: unknown option\(s\) 'mr_mapp'; valid: durations, "
                                         r"allow_missing, mr_map"):
        evaluate("tvg", gt, pred, mr_mapp=False)
    code, _, err = bench("eval", "--task", "tvg", "--gt", str(gt), "--pred", str(pred), "--option", "mr_mapp=false")
    assert code == 2 and "unknown option(s) 'mr_mapp'" in err and "valid: durations" in err
    code, _, err = bench("eval", "--task", "tvg", "--gt", str(gt), "--pred", str(pred), "--dataset", "x")
    assert code == 2 and "unknown option(s) 'dataset'" in err
    # --strict where extras are refused anyway is accepted, and changes nothing
    a = bench("eval", "--task", "tvg", "--gt", str(gt), "--pred", str(pred), "--json")
    b = bench("eval", "--task", "tvg", "--gt", str(gt), "--pred", str(pred), "--json", "--strict")
    assert a[0] == b[0] == 0 and a[1] == b[1]

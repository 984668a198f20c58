"""VideoQA accuracy: NExT-QA ``eval_mc.py`` parity (type folding, averaging, units) and the four GT formats.

NExT-QA values: doc-doc/NExT-QA @ 6b92588 ``eval_mc.accuracy_metric``, run outside the repository
by ``tools/parity/videoqa/nextqa.py`` on the small csv here and on the real val/test csv with the
seeded predictions that :func:`_seeded_predictions` rebuilds; its unrounded values are read from
the function's locals (it only prints two decimals) into ``data/videoqa/nextqa_parity.json``.
Largest difference from ours at the last run: 0.0.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.errors import BenchError
from i2vbench.metrics.evaluate import evaluate
from i2vbench.metrics.videoqa import NEXTQA_TYPES, QAItem, is_correct, nextqa_breakdown

DATA = Path(__file__).parent / "data" / "videoqa"
NEXTQA_PARITY = json.loads((DATA / "nextqa_parity.json").read_text())["cases"]


def test_nextqa_small_hand_computed():
    # correct = [1, 1, 0, 1, 0, 1]; types CW CW CH TP→TN TN DC.
    m = evaluate("videoqa", DATA / "nextqa_small.csv", DATA / "nextqa_small_result.json")
    assert m == pytest.approx(NEXTQA_PARITY["small"]["expected"], abs=1e-9)  # eval_mc's own counts
    assert m["Acc"] == pytest.approx(400 / 6)  # over questions (a mean over types would be 62.5)
    assert m["Acc_C"] == pytest.approx(200 / 3)  # pooled CW+CH questions (mean of CW, CH would be 50)
    assert m["Acc_T"] == 50.0  # TP folded into TN
    assert m["TN"] == 50.0 and m["CW"] == 100.0 and m["CH"] == 0.0 and m["DC"] == 100.0
    assert m["Acc_D"] == 100.0
    # types with no question (TC, DL, DO) divide by zero in the reference; we leave them out
    assert not {"TC", "DL", "DO"} & set(m)
    assert list(m) == ["Acc", "Acc_C", "Acc_T", "Acc_D", "CW", "CH", "TN", "DC"]


def _seeded_predictions(items, seed, p_correct):
    rng = np.random.default_rng(seed)
    out = {}
    for it in items:
        pred = it.answer if rng.random() < p_correct else int(rng.integers(0, 5))
        out[it.key] = {"prediction": pred, "answer": it.answer}
    return out


@pytest.mark.parametrize("split", ["val", "test"])
def test_nextqa_real_csv_parity(tmp_path, full_annotations, split):
    from i2vbench.datasets.nextqa import load_nextqa_csv

    case = NEXTQA_PARITY[f"{split}_seeded"]
    csv = full_annotations / case["gt"]
    items = load_nextqa_csv(csv)
    assert len(items) == case["questions"]
    f = tmp_path / "result.json"
    f.write_text(json.dumps(_seeded_predictions(items, case["seed"], case["p_correct"])))
    m = evaluate("videoqa", csv, f)
    expected = case["expected"]
    assert set(m) == set(expected)
    for k, v in expected.items():
        assert m[k] == pytest.approx(v, abs=1e-9), k


def test_nextqa_prediction_forms_and_errors(tmp_path, bench):
    gt = DATA / "nextqa_small.csv"
    want = evaluate("videoqa", gt, DATA / "nextqa_small_result.json")
    res = json.loads((DATA / "nextqa_small_result.json").read_text())
    lines = [json.dumps({"video": k.split("_")[0], "qid": int(k.split("_")[1]), "prediction": v["prediction"]})
             for k, v in res.items()]
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    assert evaluate("videoqa", gt, tmp_path / "p.jsonl") == want
    (tmp_path / "keyed.jsonl").write_text("".join(json.dumps({"qid": k, "prediction": v["prediction"]}) + "\n"
                                                  for k, v in res.items()))
    assert evaluate("videoqa", gt, tmp_path / "keyed.jsonl") == want
    code, out, err = bench("eval", "--task", "videoqa", "--gt", str(gt), "--pred", str(tmp_path / "p.jsonl"), "--json")
    assert code == 0, err
    assert json.loads(out) == pytest.approx(want)

    bad = dict(res)
    bad["1001_0"] = {"prediction": 0, "answer": 3}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(BenchError, match=r"\[1001_0\]: 'answer' 3 disagrees with the GT answer 0"):
        evaluate("videoqa", gt, tmp_path / "bad.json")
    # eval_mc.py loops over the csv's questions: extras are ignored (counted), --strict refuses them
    extra = dict(res, **{"9999_0": {"prediction": 1}, "9999_1": {"prediction": 2, "answer": 4}})
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    with pytest.warns(UserWarning, match=r"2 prediction\(s\) for questions not in the ground truth"):
        assert evaluate("videoqa", gt, tmp_path / "extra.json") == want
    with pytest.raises(BenchError, match="question '9999_0' is not in the ground truth"):
        evaluate("videoqa", gt, tmp_path / "extra.json", strict=True)
    code, out, err = bench("eval", "--task", "videoqa", "--gt", str(gt), "--pred", str(tmp_path / "extra.json"),
                           "--json")
    assert code == 0 and json.loads(out) == pytest.approx(want) and "2 prediction(s)" in err
    code, _, err = bench("eval", "--task", "videoqa", "--gt", str(gt), "--pred", str(tmp_path / "extra.json"),
                         "--strict")
    assert code == 2 and "9999_0" in err
    partial = {k: v for k, v in res.items() if k != "1002_2"}
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    with pytest.raises(BenchError, match="no prediction for question '1002_2'.*allow_missing"):
        evaluate("videoqa", gt, tmp_path / "partial.json")
    with pytest.warns(UserWarning, match="1 of 6 questions"):
        m = evaluate("videoqa", gt, tmp_path / "partial.json", allow_missing=True)
    assert m["n_missing"] == 1.0 and m["Acc"] == pytest.approx(300 / 6) and m["DC"] == 0.0
    code, out, err = bench("eval", "--task", "videoqa", "--gt", str(gt), "--pred", str(tmp_path / "partial.json"),
                           "--allow-missing", "--json")
    assert code == 0 and json.loads(out)["n_missing"] == 1 and "1 of 6 questions" in err
    code, _, err = bench("eval", "--task", "videoqa", "--gt", str(gt), "--pred", str(tmp_path / "partial.json"))
    assert code == 2 and "1002_2" in err


def test_msrvtt_mc_real_jsonl(tmp_path, full_annotations):
    gt = full_annotations / "msrvtt" / "msrvtt_mc_test.jsonl"
    lines = [json.loads(x) for x in gt.read_text().splitlines() if x.strip()]
    assert len(lines) == 2990
    # the answer is a *string* index in the file; predictions may be ints or digit strings
    preds = [{"qid": r["qid"], "prediction": int(r["answer"]) if i % 4 else (int(r["answer"]) + 1) % 5}
             for i, r in enumerate(lines)]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    m = evaluate("videoqa", gt, tmp_path / "p.jsonl")
    assert m == {"Acc": pytest.approx(100.0 * (2990 - 748) / 2990)}  # every 4th (748 of 2990) wrong
    by_text = {r["qid"]: {"prediction": r["options"][int(r["answer"])]} for r in lines}
    (tmp_path / "t.json").write_text(json.dumps(by_text))
    assert evaluate("videoqa", gt, tmp_path / "t.json", dataset="msrvtt-mc") == {"Acc": 100.0}


def test_how2qa_crlf_quoted_and_label_noise(tmp_path):
    gt = DATA / "how2qa_small.csv"
    from i2vbench.datasets.how2qa import load_how2qa_csv

    items = load_how2qa_csv(gt)
    assert [it.options for it in items][1] == ("red, white", "blue", "green", "black, gold")
    # row 2 lists the correct answer "dog" also as a distractor: the string is correct, index 1 is not
    (tmp_path / "p.json").write_text(json.dumps({"0": "1", "1": 3, "2": "dog"}))
    assert evaluate("videoqa", gt, tmp_path / "p.json") == {"Acc": 100.0}
    (tmp_path / "p.json").write_text(json.dumps({"0": " 1 ", "1": "black, gold", "2": 1}))
    assert evaluate("videoqa", gt, tmp_path / "p.json")["Acc"] == pytest.approx(200 / 3)


def test_how2qa_real_files_score_their_own_answers(tmp_path, full_annotations):
    from i2vbench.datasets.how2qa import load_how2qa_csv

    for name, n in (("how2QA_val_release.csv", 2852), ("how2QA_test_public_release.csv", 2937)):
        real = load_how2qa_csv(full_annotations / "how2qa" / name)
        assert len(real) == n  # no header row is swallowed
        (tmp_path / "r.json").write_text(json.dumps({it.key: it.options[it.answer] for it in real}))
        assert evaluate("videoqa", full_annotations / "how2qa" / name, tmp_path / "r.json") == {"Acc": 100.0}


def test_msvd_qa_open_ended(tmp_path):
    gt = DATA / "msvd_small.json"
    (tmp_path / "p.json").write_text(json.dumps({"10": "Man ", "11": "guitars", "12": "dance", "13": 2}))
    # exact match after lower-casing and whitespace trimming: "Man " ok, "guitars" wrong, 2 (not a string) wrong
    assert evaluate("videoqa", gt, tmp_path / "p.json") == {"Acc": 50.0}


def test_msvd_qa_real_test_file(tmp_path, full_annotations):
    real = full_annotations / "msvd_qa" / "msvd_test_qa_encode.json"
    recs = json.loads(real.read_text())
    assert len(recs) == 13157
    preds = {str(r["id"]): (r["answer"] if r["id"] % 2 else "zzz") for r in recs}
    (tmp_path / "r.json").write_text(json.dumps(preds))
    n_right = sum(r["id"] % 2 for r in recs)
    assert evaluate("videoqa", real, tmp_path / "r.json")["Acc"] == pytest.approx(100.0 * n_right / 13157)


def test_detection_and_bad_files(tmp_path):
    p = tmp_path / "gt.txt"
    p.write_text("x")
    with pytest.raises(BenchError, match="cannot tell the VideoQA dataset"):
        evaluate("videoqa", p, DATA / "nextqa_small_result.json")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n")
    with pytest.raises(BenchError, match=r"bad.csv:1: expected 7 fields"):
        evaluate("videoqa", bad, DATA / "nextqa_small_result.json")
    with pytest.raises(BenchError, match="unknown VideoQA dataset 'foo'"):
        evaluate("videoqa", bad, DATA / "nextqa_small_result.json", dataset="foo")
    t = tmp_path / "types.csv"
    t.write_text((DATA / "nextqa_small.csv").read_text().replace(",DC,", ",XX,"))
    with pytest.raises(BenchError, match=r"types.csv:7: question type 'XX' is not one of"):
        evaluate("videoqa", t, DATA / "nextqa_small_result.json")


@given(st.lists(st.tuples(st.sampled_from(NEXTQA_TYPES + ("TP",)), st.booleans()), min_size=1, max_size=60),
       st.randoms(use_true_random=False))
@settings(max_examples=100, deadline=None)
def test_breakdown_invariants(rows, rnd):
    types, correct = [t for t, _ in rows], np.array([c for _, c in rows])
    m = nextqa_breakdown(correct, types)
    perm = list(range(len(rows)))
    rnd.shuffle(perm)
    assert nextqa_breakdown(correct[perm], [types[i] for i in perm]) == m
    assert m["Acc"] == pytest.approx(100.0 * correct.mean())
    # Acc is the question-weighted mean of the per-type accuracies (not their plain mean)
    folded = ["TN" if t == "TP" else t for t in types]
    counts = {t: folded.count(t) for t in set(folded)}
    assert m["Acc"] == pytest.approx(sum(m[t] * c for t, c in counts.items()) / len(rows))


def test_is_correct_rules():
    mc = QAItem("q", 2, None, "v", "", ("a", "b", "c"))
    assert is_correct(mc, 2) and not is_correct(mc, 1) and is_correct(mc, " c") and not is_correct(mc, "C")
    oe = QAItem("q", "two", None, "v", "", None)
    assert is_correct(oe, "Two") and is_correct(oe, " two ") and not is_correct(oe, "2")


MSVD_HQGA = Path(__file__).parent / "data" / "videoqa" / "msvd_hqga"


def test_msvd_qa_nextqa_family_csv_with_vocabulary_indices(bench):
    """HQGA's MSVD-QA csv + its result.json of answer indices + ans_word.json, read as they are."""
    csv, res, vocab = MSVD_HQGA / "test.csv", MSVD_HQGA / "result.json", MSVD_HQGA / "ans_word.json"
    m = evaluate("videoqa", csv, res, vocab=vocab)
    assert m == {"Acc": 20 * 100.0 / 40, "Acc_what": 6 * 100.0 / 23, "Acc_who": 14 * 100.0 / 17}
    # HQGA's eval_oe.classified_metric on the same files (tools/parity/videoqa/hqga_msvd.py)
    hqga = json.loads((DATA / "msvd_hqga_parity.json").read_text())["cases"]["excerpt"]
    assert m == pytest.approx(hqga["expected"], abs=1e-9)
    code, out, err = bench("eval", "--task", "videoqa", "--gt", str(csv), "--pred", str(res),
                           "--option", f"vocab={vocab}", "--json")
    assert code == 0, err
    assert json.loads(out) == pytest.approx(m)


def test_msvd_qa_csv_without_vocabulary_names_the_option(bench):
    csv, res = MSVD_HQGA / "test.csv", MSVD_HQGA / "result.json"
    with pytest.raises(BenchError, match=r"answer-vocabulary index.*--option vocab=ans_word.json"):
        evaluate("videoqa", csv, res)


def test_msvd_qa_csv_refuses_extras_as_eval_oe_asserts(tmp_path):
    res = json.loads((MSVD_HQGA / "result.json").read_text())
    res["1"] = {"prediction": 1, "answer": 1}
    (tmp_path / "r.json").write_text(json.dumps(res))
    with pytest.raises(BenchError, match="question '1' is not in the ground truth"):
        evaluate("videoqa", MSVD_HQGA / "test.csv", tmp_path / "r.json", vocab=MSVD_HQGA / "ans_word.json")


def test_a_guessed_dataset_is_named_in_the_error(tmp_path):
    p = tmp_path / "gt.csv"
    p.write_text("vid,question,answer\nv1,what is it,cat\n")
    with pytest.raises(BenchError, match=r"guessed as 'how2qa' \(a csv without a NExT-QA-family header\).*"
                                         r"--dataset nextqa\|msrvtt-mc\|how2qa\|msvd-qa"):
        evaluate("videoqa", p, tmp_path / "x.json")

"""`bench submit`: valid results land in results/submissions/ and in the tables and site; every
invalid one is refused with a located message and leaves results/ byte-for-byte unchanged."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.results.schema import ResultRecord
from i2vbench.results.submit import safe_name

DATA = Path(__file__).parent / "data" / "results"

VALID = {
    "task": "tvg", "dataset": "charades-sta", "split": "test", "method": "TempoNet",
    "paradigm": "adapter", "ilfm": "CLIP", "venue": "CVPR", "year": 2026,
    "citation": {"title": "TempoNet: temporal adapters for grounding", "url": "https://example.org/temponet"},
    "metrics": {"R1@0.3": 71.25, "R1@0.5": 58.5, "R1@0.7": 36.0, "mIoU": 50.0},
    "provenance": {"submitter": "A. Researcher <a@example.org>"},
}


@pytest.fixture
def results(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "results"
    (root / "submissions").mkdir(parents=True)
    (root / "submissions" / ".gitkeep").write_text("")
    monkeypatch.setenv("I2VBENCH_RESULTS", str(root))
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write(tmp_path: Path, data, name="result.yaml") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return p


def with_(**over):
    d = json.loads(json.dumps(VALID))
    for k, v in over.items():
        d[k] = v
    return d


def test_valid_submission_is_stored_and_shown(bench, results, tmp_path):
    code, out, err = bench("submit", str(write(tmp_path, VALID)))
    assert code == 0, err
    files = sorted((results / "submissions").glob("*.yaml"))
    assert len(files) == 1 and out == f"accepted: {files[0]}\n"
    assert re.fullmatch(r"tvg--charades-sta--test--temponet--[0-9a-f]{10}\.yaml", files[0].name)
    stored = yaml.safe_load(files[0].read_text())
    assert stored["kind"] == "self-reported" and stored["provenance"]["created"].endswith("Z")
    ResultRecord.model_validate(stored)

    code, out, _ = bench("tables", "--task", "tvg", "--format", "json", "--with-submissions")
    rows = json.loads(out)
    mine = rows[-1]
    assert (mine["method"], mine["kind"], mine["dataset"]) == ("TempoNet", "self-reported", "charades-sta")
    assert mine["metrics"] == {"R@0.3": 71.25, "R@0.5": 58.5, "R@0.7": 36.0, "m_IoU": 50.0}
    assert mine["best"] == []  # VideoTG-R1 stays best in every column
    code, out, _ = bench("tables", "--task", "tvg", "--format", "md", "--with-submissions")
    assert "|  | F.Tuning with Adapter | TempoNet (self-reported) | CVPR 2026 | CLIP | 71.2 | 58.5 | 36.0 | 50.0 |" in out
    code, out, _ = bench("tables", "--task", "tvg", "--format", "json")  # not without the flag
    assert "TempoNet" not in out

    code, out, _ = bench("leaderboard", "--task", "tvg", "--format", "json")
    ranked = json.loads(out)
    assert [(r["rank"], r["method"]) for r in ranked[:5]] == [
        (1, "VideoTG-R1"), (2, "UniTime"), (3, "R²-Tuning"), (4, "UniVTG"), (5, "TempoNet")]

    site = tmp_path / "site"
    code, _, err = bench("leaderboard", "build", "--out", str(site), "--no-runs")
    assert code == 0, err
    page = (site / "tvg.html").read_text()
    assert 'data-paradigm="adapter" data-ilfm="CLIP" data-kind="self-reported"' in page
    assert "TempoNet" in page and "self-reported" in (site / "index.html").read_text()


def test_a_better_submission_takes_the_bold(bench, results, tmp_path):
    assert bench("submit", str(write(tmp_path, with_(metrics={"mIoU": 60.0}))))[0] == 0
    rows = json.loads(bench("tables", "--task", "tvg", "--format", "json", "--with-submissions")[1])
    assert rows[-1]["best"] == ["m_IoU"]
    assert [r["method"] for r in rows if "m_IoU" in r["best"]] == ["TempoNet"]
    assert "R@0.3" in rows[-2]["best"]  # VideoTG-R1 keeps the other columns


@pytest.mark.parametrize("data, message", [
    (with_(metrics={"R1@0.3": 70.0, "Recall@1": 50.0}),
     "result.yaml [metrics.Recall@1]: unknown metric name for task tvg; expected one of R1@0.3, R1@0.5"),
    (with_(metrics={"R1@0.3": 170.0}),
     "result.yaml [metrics.R1@0.3]: 170 is out of range; expected a value in [0, 100]"),
    (with_(metrics={"R1@0.3": -0.5}), "result.yaml [metrics.R1@0.3]: -0.5 is out of range"),
    ("task: tvg\ndataset: charades-sta\nmethod: X\nparadigm: adapter\nilfm: CLIP\n"
     "citation: {title: T, url: 'https://x.org'}\nprovenance: {submitter: me}\nmetrics: {mIoU: .nan}\n",
     "result.yaml [metrics.mIoU]: expected a finite number, got nan"),
    (with_(metrics={"mIoU": float("inf")}), "result.yaml [metrics.mIoU]: expected a finite number, got inf"),
    (with_(metrics={"mIoU": "50.0"}), "result.yaml [metrics.mIoU]: Input should be a valid number"),
    (with_(paradigm="magic_tuning"), "result.yaml [paradigm]: unknown paradigm 'magic_tuning'; expected one of"),
    (with_(paradigm="other"), "paradigm 'other' needs a paradigm_description"),
    (with_(method="../../evil"), "result.yaml [method]: '../../evil' contains path characters"),
    (with_(method="a/b"), "result.yaml [method]: 'a/b' contains path characters"),
    (with_(method="a\\b"), "result.yaml [method]: 'a\\\\b' contains path characters"),
    (with_(method=".hidden"), "contains path characters"),
    ("task: tvg\nmethod: a: b\n", "result.yaml:2: malformed YAML (mapping values are not allowed here)"),
    ("task: tvg\nmethod: [unclosed\n", "result.yaml:3: malformed YAML"),
    ("- just\n- a list of strings\n", "result.yaml [0]: expected a mapping of result fields"),
    ("", "result.yaml: expected a mapping of result fields"),
    (with_(task="tvgg"), "result.yaml [task]: unknown task 'tvgg'; expected one of"),
    (with_(dataset="imagenet"), "result.yaml [dataset]: unknown dataset 'imagenet' for task tvg; expected one of charades-sta"),
    (with_(citation={"url": "https://x.org"}), "result.yaml [citation.title]: required field is missing"),
    (with_(citation={"title": "T"}), "result.yaml [citation.url]: required field is missing"),
    (with_(citation={"title": "T", "url": "javascript:alert(1)"}), "result.yaml [citation.url]: expected an http(s) URL"),
    (with_(provenance={}), "result.yaml [provenance.submitter]: required field is missing"),
    (with_(kind="verified"), "result.yaml [kind]: a submission of numbers is 'self-reported', not 'verified'"),
    (with_(score_card="x"), "result.yaml [score_card]: unknown field"),
    (with_(metrics={"mIoU": None}), "result.yaml [metrics]: every value is null"),
    (with_(method="Moment-DETR", dataset="charades-sta"),
     "'Moment-DETR' on tvg/charades-sta/test is a reported row of the survey"),
])
def test_invalid_submissions_are_refused_and_change_nothing(bench, results, tmp_path, data, message):
    before = snapshot(results)
    code, out, err = bench("submit", str(write(tmp_path, data)))
    assert code == 2, (out, err)
    assert message in err, err
    assert out == ""
    assert snapshot(results) == before


def test_every_problem_is_reported_on_its_own_line(bench, results, tmp_path):
    data = with_(paradigm="magic", metrics={"R1@0.3": 101.0, "nope": 1.0}, method="x/y")
    code, _, err = bench("submit", str(write(tmp_path, data)))
    assert code == 2
    lines = err.removeprefix("error: ").splitlines()
    assert len(lines) == 4
    assert {ln.split(": ", 1)[0].rsplit(" ", 1)[-1] for ln in lines} == {
        "[method]", "[metrics.nope]", "[paradigm]", "[metrics.R1@0.3]"}


def test_duplicates_need_replace(bench, results, tmp_path):
    assert bench("submit", str(write(tmp_path, VALID)))[0] == 0
    before = snapshot(results)
    again = with_(method="temponet", metrics={"mIoU": 51.0})  # same method up to case
    code, _, err = bench("submit", str(write(tmp_path, again)))
    assert code == 2 and "'temponet' on tvg/charades-sta/test is already submitted" in err
    assert "pass --replace" in err and snapshot(results) == before
    code, _, err = bench("submit", str(write(tmp_path, again)), "--replace")
    assert code == 0, err
    files = list((results / "submissions").glob("*.yaml"))
    assert len(files) == 1 and yaml.safe_load(files[0].read_text())["metrics"] == {"mIoU": 51.0}
    # another split is another result
    assert bench("submit", str(write(tmp_path, with_(split="val"))))[0] == 0
    assert len(list((results / "submissions").glob("*.yaml"))) == 2


def test_a_list_of_records_is_all_or_nothing(bench, results, tmp_path):
    base = with_(task="var", paradigm="side_tuning", citation={"title": "T", "url": "https://x.org"})
    k400 = dict(base, dataset="kinetics400", metrics={"Top-1": 88.5, "Top-5": 98.1})
    ssv2 = dict(base, dataset="ssv2", metrics={"Top-1": 74.0})
    bad = dict(base, dataset="ssv2", metrics={"Top-1": 740.0})
    before = snapshot(results)
    code, _, err = bench("submit", str(write(tmp_path, [k400, bad])))
    assert code == 2 and "result.yaml [1] [metrics.Top-1]: 740 is out of range" in err
    assert snapshot(results) == before
    code, _, err = bench("submit", str(write(tmp_path, [k400, k400])))
    assert code == 2 and "appears twice in this submission" in err and snapshot(results) == before
    code, out, err = bench("submit", str(write(tmp_path, [k400, ssv2])))
    assert code == 0, err
    assert out.count("accepted:") == 2
    rows = json.loads(bench("tables", "--task", "var", "--format", "json", "--with-submissions")[1])
    assert rows[-1]["metrics"] == {"K400 Top-1": 88.5, "K400 Top-5": 98.1, "SSv2 Top-1": 74.0, "SSv2 Top-5": None}
    assert rows[-1]["best"] == ["K400 Top-1", "K400 Top-5", "SSv2 Top-1"]


def test_oversized_result_file_is_refused(bench, results, tmp_path):
    p = tmp_path / "big.yaml"
    p.write_text("# " + "x" * (1 << 20) + "\n")
    before = snapshot(results)
    code, _, err = bench("submit", str(p))
    assert code == 2 and "a result file may have at most 1048576 bytes" in err
    assert snapshot(results) == before


def test_yaml_tags_are_not_executed(bench, results, tmp_path):
    p = write(tmp_path, "!!python/object/apply:os.system ['touch pwned']\n")
    code, _, err = bench("submit", str(p))
    assert code == 2 and "malformed YAML" in err
    assert not Path("pwned").exists()


def test_predictions_on_unregistered_gt_are_self_scored(bench, results, tmp_path):
    gt, pred = DATA / "tvg_gt.jsonl", DATA / "tvg_pred.jsonl"
    args = ["submit", "--predictions", str(pred), "--gt", str(gt), "--task", "tvg",
            "--dataset", "charades-sta", "--method", "TempoNet-V", "--paradigm", "side_tuning",
            "--ilfm", "tinyclip", "--title", "TempoNet", "--url", "https://example.org/t",
            "--submitter", "tester"]
    code, out, err = bench(*args)
    assert code == 0, err
    assert "stored as self-scored, not verified: the ground truth (gt) is not registered for charades-sta/test" in err
    (f,) = (results / "submissions").glob("*.yaml")
    rec = yaml.safe_load(f.read_text())
    assert rec["kind"] == "self-scored"
    assert rec["provenance"]["config"]["gt_registered"] is False
    assert rec["provenance"]["config"]["gt_not_registered"] == ["gt"]
    assert rec["provenance"]["predictions_sha256"] == hashlib.sha256(pred.read_bytes()).hexdigest()
    assert rec["provenance"]["config"]["gt"] == "tvg_gt.jsonl"
    # Hand-computed: top-1 IoUs 1, 1/3, 0.6, 0 -> R1@0.3 3/4, R1@0.5 2/4, R1@0.7 1/4,
    # mIoU (1 + 1/3 + 0.6 + 0) / 4 = 0.48333...; R5 adds the 2nd window of qid 3 (IoU 1).
    expect = {"R1@0.3": 75.0, "R1@0.5": 50.0, "R1@0.7": 25.0, "R5@0.3": 100.0, "R5@0.5": 75.0,
              "R5@0.7": 50.0, "mIoU": 48.333333333333336}
    assert expect.keys() <= rec["metrics"].keys()  # + moment_detr's MR-mAP keys
    for k, v in expect.items():
        assert rec["metrics"][k] == pytest.approx(v, abs=1e-9)
    rows = json.loads(bench("tables", "--task", "tvg", "--format", "json", "--with-submissions")[1])
    assert rows[-1]["kind"] == "self-scored" and rows[-1]["metrics"]["m_IoU"] == pytest.approx(48.3333333333)
    board = json.loads(bench("leaderboard", "--task", "tvg", "--format", "json", "--no-runs")[1])
    assert [r["kind"] for r in board if r["method"] == "TempoNet-V"] == ["self-scored"]

    before = snapshot(results)
    code, _, err = bench(*args)  # the same again: a duplicate
    assert code == 2 and "already submitted" in err and snapshot(results) == before


@pytest.mark.parametrize("drop, message", [
    ("--gt", "--gt is required with --predictions"),
    ("--method", "--method is required with --predictions"),
])
def test_predictions_need_their_fields(bench, results, drop, message):
    args = {"--predictions": str(DATA / "tvg_pred.jsonl"), "--gt": str(DATA / "tvg_gt.jsonl"),
            "--task": "tvg", "--dataset": "charades-sta", "--method": "M", "--paradigm": "adapter",
            "--ilfm": "CLIP", "--title": "T", "--url": "https://x.org", "--submitter": "me"}
    del args[drop]
    before = snapshot(results)
    code, _, err = bench("submit", *[x for kv in args.items() for x in kv])
    assert code == 2 and message in err and snapshot(results) == before


def test_bad_predictions_are_refused_before_anything_is_written(bench, results, tmp_path):
    bad = tmp_path / "pred.jsonl"
    bad.write_text('{"qid": 0, "pred_relevant_windows": [[0, 10, 0.9]]}\nnot json\n')
    before = snapshot(results)
    code, _, err = bench("submit", "--predictions", str(bad), "--gt", str(DATA / "tvg_gt.jsonl"),
                         "--task", "tvg", "--dataset", "charades-sta", "--method", "M", "--paradigm",
                         "adapter", "--ilfm", "CLIP", "--title", "T", "--url", "https://x.org",
                         "--submitter", "me")
    assert code == 2 and "pred.jsonl:2" in err and snapshot(results) == before


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=200).filter(lambda s: s.strip()))
def test_safe_name_is_one_plain_file_name(method):
    rec = ResultRecord.model_validate(dict(with_(method=method), kind="self-reported"))
    name = safe_name(rec)
    assert re.fullmatch(r"[a-z0-9+-]+\.yaml", name)
    assert ".." not in name.removesuffix(".yaml") and not name.startswith(".")
    assert len(name) < 255


# ---------------------------------------------------------------- hostile YAML, partial writes

_ANCHOR_BOMB = """task: tvg
dataset: charades-sta
method: Bomb
paradigm: adapter
ilfm: CLIP
citation: {title: t, url: "https://example.org"}
metrics: {R1@0.3: 1.0}
provenance:
  submitter: x
  notes: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: [*e, *e, *e, *e, *e, *e, *e, *e, *e]
"""


@pytest.mark.parametrize("text,message", [
    (_ANCHOR_BOMB, "once YAML aliases are expanded"),
    ("&a [*a]\n", "refers to itself"),  # an alias cycle
    ("[" * 100_000, "nested more than"),
    ("- " * 5000 + "x\n", "nested more than|unreadable YAML"),
    ("task: tvg\nyear: " + "9" * 5000 + "\n", "result.yaml"),
    (b"task: tvg\nmethod: \xff\xfe\n", "not UTF-8"),
])
def test_hostile_yaml_is_refused_and_changes_nothing(bench, results, tmp_path, text, message):
    before = snapshot(results)
    p = tmp_path / "result.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    code, _, err = bench("submit", str(p))
    assert code == 2 and re.search(message, err) and "result.yaml" in err, err
    assert err.count("Traceback") == 0
    assert snapshot(results) == before


def test_right_to_left_override_in_a_method_name_is_refused(bench, results, tmp_path):
    code, _, err = bench("submit", str(write(tmp_path, with_(method="Temp\u202eoNet"))))
    assert code == 2 and "right-to-left override" in err and "\\u202e" in err


def test_a_failure_while_storing_leaves_the_store_as_it_was(bench, results, tmp_path, monkeypatch):
    """Records are written beside their targets and renamed together; a failed rename puts back
    what was there (here: the second of three renames fails)."""
    import os

    from i2vbench.results import submit

    assert bench("submit", str(write(tmp_path, with_(method="Old"), "old.yaml")))[0] == 0
    before = snapshot(results)
    calls = {"n": 0}
    real = os.replace

    def flaky(a, b):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(a, b)

    monkeypatch.setattr(submit.os, "replace", flaky)
    three = [with_(method="Old", metrics={"R1@0.3": 1.0}), with_(method="New1"), with_(method="New2")]
    with pytest.raises(OSError, match="disk full"):
        submit.submit_file(write(tmp_path, three, "three.yaml"), replace=True)
    assert snapshot(results) == before

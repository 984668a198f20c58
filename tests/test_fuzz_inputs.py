"""Property-based tests of every input format: malformed files end in one BenchError naming the file.

Each case starts from a valid (ground truth, prediction) pair of a task, mutates one of the two
files and runs the task's evaluator (``bench eval``'s code path). Mutations are the classes an
outside check found to end in tracebacks, hangs or broken stores: a JSON value replaced by a
hostile one (an integer longer than Python's int-string limit, 10**30, NaN, 1e308, negative
sizes, numbers as strings, nesting 100,000 deep, a top level that is a number or null, ids that
look like paths), bytes that are not UTF-8, a CSV field over the csv module's limit, truncation,
an ``.npz`` where an ``.npy`` is expected, an ``.npy`` header claiming a huge shape; result YAML
for ``bench submit`` with alias cycles, tags, deep nesting and bidi characters. The only allowed
outcomes: metrics (a dict of floats) or one BenchError whose message names the file, and no
file written (for submit: the whole submission stored and readable back, or nothing).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from i2vbench.errors import BenchError
from i2vbench.metrics.evaluate import evaluate

DATA = Path(__file__).parent / "data"
EXAMPLES = 120  # per test (60 for real-format GT, 40 for box formats): 28 tests, 2,740 cases a run (~20 s)

DEEP = "[" * 100_000 + "]" * 100_000
NEAR_LIMIT = "[" * 960 + "]" * 960  # parses (json's limit is the interpreter's ~1,000), then breaks any repr
HOSTILE_JSON = [  # raw JSON text spliced in place of one value
    "1" * 5000, str(10**30), "-" + str(10**30), "NaN", "Infinity", "-1", "1e308", "-1e308", "0",
    "null", "true", '""', '"1"', '"../../x"', '"\\u202eevil"', "[]", "{}", DEEP, '"' + "a" * 300_000 + '"',
    "[1e308, 1e308, -5, -5]", "[NaN, 0, 1, 1]", NEAR_LIMIT,
]
HOSTILE_BYTES = [b"\xff\xfe\xfa", b"\x00", b"\n", b"\r", b'"', b",", b"," + b"x" * 200_000, b"\xc3", DEEP.encode()]


def _scalar_paths(obj, path=()):
    """Every path to a scalar or container inside a JSON value (the root too)."""
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _scalar_paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _scalar_paths(v, (*path, i))


_MARK = "\u0000HOSTILE\u0000"


def _replace_json(text: str, data, which: int, raw: str) -> str:
    """``text``'s JSON with the ``which``-th value (mod the count) replaced by raw JSON ``raw``."""
    paths = list(_scalar_paths(data))
    path = paths[which % len(paths)]
    if not path:
        return raw
    obj = json.loads(text)
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = _MARK
    return json.dumps(obj).replace(json.dumps(_MARK), raw)


@st.composite
def mutated_text(draw, original: bytes, is_json: bool, is_jsonl: bool = False):
    kind = draw(st.sampled_from(["value", "bytes", "truncate", "whole"] if is_json or is_jsonl
                                else ["bytes", "truncate", "whole"]))
    if kind == "whole":
        return draw(st.sampled_from([b"5", b"null", b"", b"\xff", DEEP.encode(), b"1" * 5000, b"[]", b"{}"]))
    if kind == "truncate":
        return original[:draw(st.integers(0, max(0, len(original) - 1)))]
    if kind == "bytes":
        at = draw(st.integers(0, len(original)))
        return original[:at] + draw(st.sampled_from(HOSTILE_BYTES)) + original[at:]
    raw = draw(st.sampled_from(HOSTILE_JSON))
    which = draw(st.integers(0, 10_000))
    text = original.decode("utf-8")
    if is_jsonl:
        lines = text.splitlines()
        i = which % len(lines)
        lines[i] = _replace_json(lines[i], json.loads(lines[i]), which // len(lines), raw)
        return ("\n".join(lines) + "\n").encode("utf-8")
    return _replace_json(text, json.loads(text), which, raw).encode("utf-8")


def _check(task: str, gt: Path | None, pred: Path, bad: Path, **options) -> None:
    """Metrics or one BenchError naming an input file (the mutated one, or the other where the
    mutation shows as a mismatch); nothing else, and nothing written next to the inputs."""
    before = sorted(p.name for p in bad.parent.iterdir())
    try:
        out = evaluate(task, gt, pred, **options)
    except BenchError as e:
        names = [f.name for f in (gt, pred) if f is not None]
        assert any(n in str(e) for n in names), f"error names no input file: {e}"
    else:
        assert isinstance(out, dict) and all(isinstance(v, float) for v in out.values())
    assert sorted(p.name for p in bad.parent.iterdir()) == before  # no partial write next to inputs


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


def _case(tmp_path_factory, files: dict[str, bytes]) -> Path:
    d = tmp_path_factory.mktemp("fuzz")
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


# ---------------------------------------------------------------- JSON / JSON-lines formats

JSON_CASES = {
    # task: (gt name, gt bytes, pred name, pred bytes, options)
    "tvg": ("gt.jsonl", (DATA / "tvg" / "gt_moments.jsonl").read_bytes(),
            "pred.jsonl", (DATA / "tvg" / "pred_moments.jsonl").read_bytes(), {}),
    "videoqa": ("gt.csv", (DATA / "videoqa" / "nextqa_small.csv").read_bytes(),
                "result.json", (DATA / "videoqa" / "nextqa_small_result.json").read_bytes(), {}),
    "videoqa-msvd": ("gt.json", (DATA / "videoqa" / "msvd_small.json").read_bytes(),
                     "pred.json", json.dumps({"10": "man", "11": "guitar", "12": "dance", "13": "x"}).encode(), {}),
    "ovmot": ("gt.json", (DATA / "ovmot" / "edge_gt.json").read_bytes(),
              "pred.json", (DATA / "ovmot" / "edge_pred.json").read_bytes(), {"hota": False}),
}


def _stvg_pair() -> tuple[bytes, bytes]:
    gt = (DATA / "annotations" / "vidstg" / "test_annotations.json").read_bytes()
    from i2vbench.datasets.vidstg import load_vidstg

    p = DATA / "annotations" / "vidstg" / "test_annotations.json"
    ann = load_vidstg(p)
    videos = [{"video_id": int(v), "sted": [int(s), int(e)], "qtype": q}
              for v, s, e, q in zip(ann.video_ids, ann.tube_start, ann.tube_end, ann.qtypes, strict=True)]
    return gt, json.dumps({"videos": videos, "boxes": []}).encode()


@pytest.mark.parametrize("name", sorted(JSON_CASES) + ["stvg"])
@pytest.mark.parametrize("side", ["gt", "pred"])
def test_json_formats_fail_cleanly(name, side, tmp_path_factory):
    if name == "stvg":
        g, p = _stvg_pair()
        gname, pname, options, task = "gt.json", "pred.json", {}, "stvg"
    else:
        gname, g, pname, p, options = JSON_CASES[name]
        task = name.split("-")[0]
    base = {"gt": g, "pred": p}[side]
    fname = {"gt": gname, "pred": pname}[side]
    is_jsonl = fname.endswith(".jsonl")
    is_json = fname.endswith(".json")

    @FUZZ
    @given(mutated_text(base, is_json, is_jsonl))
    def run(data: bytes) -> None:
        d = _case(tmp_path_factory, {gname: g, pname: p})
        (d / fname).write_bytes(data)
        _check(task, d / gname, d / pname, d / fname, **options)
        shutil.rmtree(d, ignore_errors=True)

    run()


# ---------------------------------------------------------------- CSV formats (GT)

@pytest.mark.parametrize("name,pred", [
    ("nextqa_small.csv", (DATA / "videoqa" / "nextqa_small_result.json").read_bytes()),
    ("how2qa_small.csv", json.dumps({"0": "1", "1": 3, "2": "dog"}).encode()),
])
def test_csv_gt_fails_cleanly(name, pred, tmp_path_factory):
    base = (DATA / "videoqa" / name).read_bytes()

    @FUZZ
    @given(mutated_text(base, False))
    def run(data: bytes) -> None:
        d = _case(tmp_path_factory, {name: data, "pred.json": pred})
        _check("videoqa", d / name, d / "pred.json", d / name)
        shutil.rmtree(d, ignore_errors=True)

    run()


# ---------------------------------------------------------------- arrays (VAR scores, VTR matrices)

def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _huge_header(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\x00" * 64


@st.composite
def score_files(draw):
    kind = draw(st.sampled_from(["npy", "huge", "npz", "json", "bytes"]))
    n = draw(st.integers(0, 6))
    c = draw(st.integers(0, 6))
    if kind == "npy":
        vals = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=n * c,
                             max_size=n * c))
        dtype = draw(st.sampled_from(["<f4", "<f8", "<i8", "|b1", "<U3"]))
        arr = np.array(vals, dtype=np.float32).reshape(n, c) if dtype != "<U3" else np.full((n, c), "a")
        return _npy_bytes(arr.astype(dtype) if dtype != "<U3" else arr)
    if kind == "huge":
        return _huge_header(draw(st.sampled_from([(10**6, 10**6), (2**40,), (10**9, 400), (3, 10**12)])))
    if kind == "npz":
        buf = io.BytesIO()
        np.savez(buf, scores=np.zeros((3, 3)))
        return buf.getvalue()
    if kind == "json":
        return draw(st.sampled_from([b"[[1, 2], [3]]", b"[[NaN, 1], [1, 0]]", b"5", b"null", b"{}",
                                     b"[[1e999, 0], [0, 1]]", ("[" * 100_000).encode(), b"[[\"1\", 2], [3, 4]]",
                                     b"[[" + b"1" * 5000 + b", 0], [0, 1]]"]))
    return draw(st.binary(max_size=200))


def test_var_scores_fail_cleanly(tmp_path_factory):
    labels = json.dumps([0, 1, 2]).encode()

    @FUZZ
    @given(score_files(), st.sampled_from(["s.npy", "s.json"]))
    def run(data: bytes, name: str) -> None:
        d = _case(tmp_path_factory, {"labels.json": labels, name: data})
        _check("var", d / "labels.json", d / name, d / name)
        shutil.rmtree(d, ignore_errors=True)

    run()


def test_var_labels_fail_cleanly(tmp_path_factory):
    scores = _npy_bytes(np.eye(3, dtype=np.float32))

    @FUZZ
    @given(mutated_text(json.dumps([0, 1, 2]).encode(), True))
    def run(data: bytes) -> None:
        d = _case(tmp_path_factory, {"labels.json": data, "s.npy": scores})
        _check("var", d / "labels.json", d / "s.npy", d / "labels.json")
        shutil.rmtree(d, ignore_errors=True)

    run()


def test_vtr_matrices_fail_cleanly(tmp_path_factory):
    @FUZZ
    @given(score_files(), st.sampled_from(["sim.npy", "sim.json"]))
    def run(data: bytes, name: str) -> None:
        d = _case(tmp_path_factory, {name: data})
        _check("vtr", None, d / name, d / name)
        shutil.rmtree(d, ignore_errors=True)

    run()


# ---------------------------------------------------------------- captioning (scorers stubbed)

@pytest.mark.parametrize("side", ["gt", "pred"])
def test_captioning_files_fail_cleanly(side, tmp_path_factory, monkeypatch):
    """The readers and checks of captioning files; the Java scorers are replaced by a constant (a
    valid case would cost seconds of Java each, and the scorers are tested in their own module)."""
    from i2vbench.metrics import captioning

    monkeypatch.setattr(captioning, "caption_metrics", lambda refs, cands: {"BLEU4": 1.0})
    monkeypatch.setattr(captioning, "score_tokenized", lambda gts, res: {"BLEU4": 0.01})
    g = (DATA / "captioning" / "refs.json").read_bytes()
    p = (DATA / "captioning" / "cands.json").read_bytes()
    base, fname = (g, "refs.json") if side == "gt" else (p, "cands.json")

    @FUZZ
    @given(mutated_text(base, True))
    def run(data: bytes) -> None:
        d = _case(tmp_path_factory, {"refs.json": g, "cands.json": p})
        (d / fname).write_bytes(data)
        _check("captioning", d / "refs.json", d / "cands.json", d / fname)
        shutil.rmtree(d, ignore_errors=True)

    run()


def test_captioning_lines_fail_cleanly(tmp_path_factory, monkeypatch):
    from i2vbench.metrics import captioning

    monkeypatch.setattr(captioning, "score_tokenized", lambda gts, res: {"BLEU4": 0.01})
    nlg = DATA / "captioning" / "nlgeval"
    hyp, ref = (nlg / "hyp.txt").read_bytes(), (nlg / "ref1.txt").read_bytes()

    @FUZZ
    @given(mutated_text(hyp, False))
    def run(data: bytes) -> None:
        d = _case(tmp_path_factory, {"ref.txt": ref, "hyp.txt": data})
        _check("captioning", d / "ref.txt", d / "hyp.txt", d / "hyp.txt")
        shutil.rmtree(d, ignore_errors=True)

    run()


# ---------------------------------------------------------------- bench submit (result YAML)

_RESULT = b"""task: tvg
dataset: charades-sta
split: test
method: FuzzNet
paradigm: adapter
ilfm: CLIP
year: 2026
citation: {title: FuzzNet, url: "https://example.org/fuzz"}
metrics: {R1@0.3: 70.0, R1@0.5: 55.5, R1@0.7: 30.0, mIoU: 48.0}
provenance: {submitter: tester}
"""
_YAML_HOSTILE = [b"&a [*a]", b"*x", b"!!python/object/apply:os.system [ls]", b"[" * 50_000, b"- " * 3000,
                 b"9" * 5000, b"1e999", b".nan", b"-5", b"\xff\xfe", b"\t", b": :", b"'", b"{", b"\x00",
                 "m\u202eethod".encode(), b"../../x", b"~", b"null", b"[]", b"{}"]


@st.composite
def mutated_yaml(draw):
    kind = draw(st.sampled_from(["value", "bytes", "truncate", "whole"]))
    if kind == "whole":
        return draw(st.sampled_from(_YAML_HOSTILE + [b"", b"5", _RESULT * 2]))
    if kind == "truncate":
        return _RESULT[:draw(st.integers(0, len(_RESULT) - 1))]
    if kind == "bytes":
        at = draw(st.integers(0, len(_RESULT)))
        return _RESULT[:at] + draw(st.sampled_from(_YAML_HOSTILE)) + _RESULT[at:]
    lines = _RESULT.splitlines(keepends=True)
    i = draw(st.integers(0, len(lines) - 1))
    key = lines[i].split(b":")[0]
    lines[i] = key + b": " + draw(st.sampled_from(_YAML_HOSTILE)) + b"\n"
    return b"".join(lines)


def test_submit_result_files_fail_cleanly_and_atomically(tmp_path_factory):
    """``bench submit RESULT.yaml``: stored whole and readable back, or refused with one error naming
    the file; the store is never left with part of a submission or a file it cannot read."""
    import os

    from i2vbench.results.store import load_submissions
    from i2vbench.results.submit import submit_file

    @FUZZ
    @given(mutated_yaml(), st.booleans())
    def run(data: bytes, as_list: bool) -> None:
        d = _case(tmp_path_factory, {})
        results = d / "results"
        (results / "submissions").mkdir(parents=True)
        p = d / "result.yaml"
        p.write_bytes(b"- " + data.replace(b"\n", b"\n  ") if as_list else data)
        old = os.environ.get("I2VBENCH_RESULTS")
        os.environ["I2VBENCH_RESULTS"] = str(results)
        try:
            try:
                written = submit_file(p, submitter="fuzz")
            except BenchError as e:
                assert "result.yaml" in str(e), e
                assert list((results / "submissions").iterdir()) == []
            else:
                assert [q for q, _ in load_submissions(results)] == sorted(written)
        finally:
            if old is None:
                del os.environ["I2VBENCH_RESULTS"]
            else:
                os.environ["I2VBENCH_RESULTS"] = old
        shutil.rmtree(d, ignore_errors=True)

    run()


# ---------------------------------------------------------------- more real GT formats (the excerpts)

def _more_gt_cases() -> dict[str, tuple]:
    """(task, GT name, GT bytes, other files, prediction name, options): real-format GT files."""
    ann = DATA / "annotations"
    k = ann / "kinetics400" / "kinetics-400_val.csv"
    from i2vbench.datasets.kinetics import load_kinetics_csv

    k400 = load_kinetics_csv(k, ann / "kinetics400" / "label_map_k400.txt")
    ssv2 = json.loads((ann / "ssv2" / "something-something-v2-validation.json").read_text())
    mc = [json.loads(x) for x in (ann / "msrvtt" / "msrvtt_mc_test.jsonl").read_text().splitlines()]
    return {
        "tvg-txt": ("tvg", "charades_sta_test.txt", (DATA / "tvg" / "charades_sta_test.txt").read_bytes(),
                    {"pred.jsonl": (DATA / "tvg" / "pred.jsonl").read_bytes(),
                     "durations.csv": (DATA / "tvg" / "Charades_v1_test.csv").read_bytes()},
                    "pred.jsonl", {"durations": "durations.csv"}),
        "var-kinetics": ("var", "kinetics-400_val.csv", k.read_bytes(),
                         {"s.npy": _npy_bytes(np.eye(400, dtype=np.float32)[k400.labels])}, "s.npy", {}),
        "var-ssv2": ("var", "something-something-v2-validation.json",
                     (ann / "ssv2" / "something-something-v2-validation.json").read_bytes(),
                     {"something-something-v2-labels.json":
                      (ann / "ssv2" / "something-something-v2-labels.json").read_bytes(),
                      "s.npy": _npy_bytes(np.zeros((len(ssv2), 174), np.float32))}, "s.npy", {}),
        "videoqa-mc": ("videoqa", "msrvtt_mc_test.jsonl", (ann / "msrvtt" / "msrvtt_mc_test.jsonl").read_bytes(),
                       {"p.json": json.dumps({r["qid"]: int(r["answer"]) for r in mc}).encode()}, "p.json", {}),
        "vtr-csv": ("vtr", "MSRVTT_JSFUSION_test.csv", (ann / "msrvtt" / "MSRVTT_JSFUSION_test.csv").read_bytes(),
                    {"sim.npy": _npy_bytes(np.eye(50, dtype=np.float32))}, "sim.npy", {}),
    }


@pytest.mark.parametrize("name", ["tvg-txt", "var-kinetics", "var-ssv2", "videoqa-mc", "vtr-csv"])
def test_real_gt_formats_fail_cleanly(name, tmp_path_factory):
    task, gname, g, others, pname, options = _more_gt_cases()[name]

    @settings(FUZZ, max_examples=60)
    @given(mutated_text(g, gname.endswith(".json"), gname.endswith(".jsonl")))
    def run(data: bytes) -> None:
        d = _case(tmp_path_factory, {gname: data, **others})
        opts = {k: d / v for k, v in options.items()}
        _check(task, d / gname, d / pname, d / gname, **opts)
        shutil.rmtree(d, ignore_errors=True)

    run()


@pytest.mark.parametrize("name,gname,pname,options", [
    ("stvg-boxes", "cases_gt.json", "cases_pred.json", {}),  # TubeDETR's processed form, with boxes
    ("ovmot-hota", "edge_gt.json", "edge_pred.json", {"hota": True}),  # TrackEval's HOTA path too
])
@pytest.mark.parametrize("side", ["gt", "pred"])
def test_box_formats_fail_cleanly(name, gname, pname, options, side, tmp_path_factory):
    folder = DATA / ("stvg" if name.startswith("stvg") else "ovmot")
    g, p = (folder / gname).read_bytes(), (folder / pname).read_bytes()
    base, fname = (g, gname) if side == "gt" else (p, pname)

    @settings(FUZZ, max_examples=40)
    @given(mutated_text(base, True))
    def run(data: bytes) -> None:
        d = _case(tmp_path_factory, {gname: g, pname: p})
        (d / fname).write_bytes(data)
        _check(name.split("-")[0], d / gname, d / pname, d / fname, **options)
        shutil.rmtree(d, ignore_errors=True)

    run()

"""Regenerate the NExT-QA parity literals from NExT-QA's own ``eval_mc.accuracy_metric``.

    python tools/parity/videoqa/nextqa.py --nextqa /path/to/NExT-QA \
        [--annotations ../shared/data/annotations] [--out FILE] [--check]

``--nextqa`` is a checkout of doc-doc/NExT-QA at the commit in README.md; ``eval_mc`` and its
``utils.load_file`` (pandas) are imported from there, nothing of them is copied here.

``accuracy_metric`` prints its numbers with two decimals only; the harness reads the unrounded
counts from the function's own locals (``group_acc``, ``group_cnt``, ``all_acc``, ``all_cnt``) as
it returns, through ``sys.settrace``, without touching its code. Where the reference divides by
zero while printing (a question type with no question), the counts it had computed are still read
and the crash is recorded.

What it writes (``tests/data/videoqa/nextqa_parity.json``, read by ``tests/test_metrics_videoqa.py``):
* ``small``: ``tests/data/videoqa/nextqa_small.csv`` with ``nextqa_small_result.json``;
* with ``--annotations``: the real ``nextqa/val.csv`` and ``test.csv`` with seeded predictions
  (each question right with probability p, else a uniformly random option: :func:`seeded_result`,
  built from the csv rows as ``eval_mc`` reads them); the tests rebuild the same predictions from
  our loader, so a loader that reads a row differently fails there.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "data" / "videoqa" / "nextqa_parity.json"
SMALL = ROOT / "tests" / "data" / "videoqa"
SEEDED = {"val": (0, 0.5), "test": (1, 0.3)}  # split: (seed, probability of a correct prediction)


def seeded_result(rows: list[tuple[str, int]], seed: int, p_correct: float) -> dict:
    """``{video_qid: {prediction, answer}}`` for (key, answer) rows in csv order."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, answer in rows:
        pred = answer if rng.random() < p_correct else int(rng.integers(0, 5))
        out[key] = {"prediction": pred, "answer": answer}
    return out


def reference(eval_mc, csv: Path, result: Path) -> dict:
    """Run ``accuracy_metric`` and return percent per type / group / overall from its locals."""
    seen: dict = {}

    def tracer(frame, event, arg):  # noqa: ANN001 (sys.settrace protocol)
        if frame.f_code is eval_mc.accuracy_metric.__code__:
            def local(frame, event, arg):  # noqa: ANN001
                if event == "return":
                    seen.update({k: frame.f_locals[k] for k in ("group_acc", "group_cnt", "all_acc", "all_cnt")})
                return local
            return local
        return None

    crash = None
    sys.settrace(tracer)
    try:
        eval_mc.accuracy_metric(str(csv), str(result))
    except ZeroDivisionError as e:  # printing a type with no question
        crash = f"ZeroDivisionError: {e}"
    finally:
        sys.settrace(None)
    out = {"Acc": 100.0 * seen["all_acc"] / seen["all_cnt"]}
    for t, acc in seen["group_acc"].items():
        n = seen["group_cnt"][t]
        if n:
            out[f"Acc_{t}" if len(t) == 1 else t] = 100.0 * acc / n
    return {"expected": out, **({"reference_crash": crash} if crash else {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nextqa", required=True, type=Path, help="checkout of doc-doc/NExT-QA")
    ap.add_argument("--annotations", type=Path, help="folder with nextqa/val.csv and nextqa/test.csv")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="also print ours vs the reference")
    args = ap.parse_args()
    repo = args.nextqa.resolve()
    sys.path.insert(0, str(repo))
    import eval_mc  # the official evaluator, imported from the checkout
    from utils import load_file

    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    result: dict = {"reference": {"repo": "doc-doc/NExT-QA", "commit": commit,
                                  "code": "eval_mc.py accuracy_metric(sample_list_file, result_file)"},
                    "cases": {}}
    small = {"gt": "nextqa_small.csv", "pred": "nextqa_small_result.json"}
    result["cases"]["small"] = {**small, **reference(eval_mc, SMALL / small["gt"], SMALL / small["pred"])}
    if args.annotations:
        with tempfile.TemporaryDirectory() as tmp:
            for split, (seed, p) in SEEDED.items():
                csv = args.annotations / "nextqa" / f"{split}.csv"
                rows = [(f"{r['video']}_{r['qid']}", int(r["answer"])) for _, r in load_file(str(csv)).iterrows()]
                res = Path(tmp) / f"{split}.json"
                res.write_text(json.dumps(seeded_result(rows, seed, p)))
                result["cases"][f"{split}_seeded"] = {"gt": f"nextqa/{split}.csv", "seed": seed, "p_correct": p,
                                                      "questions": len(rows), **reference(eval_mc, csv, res)}
                if args.check:
                    result["cases"][f"{split}_seeded"]["_result"] = res.read_text()
    checked = {k: v.pop("_result", None) for k, v in result["cases"].items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({len(result['cases'])} cases)")
    if args.check:
        check(result, checked, args.annotations)


def check(result: dict, results: dict, annotations: Path | None) -> None:
    from i2vbench.metrics.evaluate import evaluate

    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, case in result["cases"].items():
            if name == "small":
                gt, pred = SMALL / case["gt"], SMALL / case["pred"]
            else:
                gt, pred = annotations / case["gt"], Path(tmp) / f"{name}.json"
                pred.write_text(results[name])
            ours = evaluate("videoqa", gt, pred)
            ref = case["expected"]
            assert set(ours) == set(ref), (name, sorted(ours), sorted(ref))
            diff = max(abs(ours[k] - v) for k, v in ref.items())
            worst = max(worst, diff)
            print(f"{name:12s} Acc ours {ours['Acc']:.10f} ref {ref['Acc']:.10f}; max |diff| {diff:.2e}")
    print(f"largest |ours - reference| = {worst:.2e}")


if __name__ == "__main__":
    main()

"""Regenerate the MSVD-QA (csv form) parity values from HQGA's own ``eval_oe.classified_metric``.

    python tools/parity/videoqa/hqga_msvd.py --hqga /path/to/HQGA [--out FILE] [--check]

``--hqga`` is a checkout of doc-doc/HQGA at the commit in README.md; ``eval_oe`` is imported from
there. It imports ``utils`` (skimage, torchvision) and nltk's wordnet, none of which
``classified_metric`` uses: the harness stubs ``skimage`` and ``nltk`` when they are not installed.
Nothing of HQGA is copied here.

``classified_metric`` keeps its counts in module globals and converts them to percent in place
while printing; the harness re-imports the module for every case and reads the counts, ``cnt`` and ``sp_num`` as
they are just before that loop (``sys.settrace`` on the loop's line). On a file without a question of some type (the 40-row excerpt has no ``how``)
the reference stops with a ZeroDivisionError in that loop; the counts are read before it.

What it writes (``tests/data/videoqa/msvd_hqga_parity.json``, read by
``tests/test_metrics_videoqa.py``): All (``cnt * 100 / sp_num``) and the accuracy per question word
with questions, for ``tests/data/videoqa/msvd_hqga`` (the excerpt) and for the checkout's own full
``dataset/msvd/test.csv`` with ``results/msvd/HQGA-bert-8c10b-2L05GCN-FCV-AC-VM-test.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import inspect
import io
import json
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
EXCERPT = ROOT / "tests" / "data" / "videoqa" / "msvd_hqga"
OUT = ROOT / "tests" / "data" / "videoqa" / "msvd_hqga_parity.json"
FULL = ("dataset/msvd/test.csv", "results/msvd/HQGA-bert-8c10b-2L05GCN-FCV-AC-VM-test.json")


def _stub_unused_imports() -> None:
    """Empty modules for what eval_oe imports but classified_metric never calls (when not installed)."""
    stubs = {"skimage": ("skimage.io", "skimage.transform"), "nltk": ("nltk.corpus",)}
    for top, subs in stubs.items():
        if importlib.util.find_spec(top) is None:
            for name in (top, *subs):
                mod = types.ModuleType(name)
                mod.resize = mod.wordnet = None  # the names imported from them
                sys.modules[name] = mod


def reference(csv: Path, result: Path) -> dict:
    sys.modules.pop("eval_oe", None)
    import eval_oe  # fresh module: its counters are globals

    fn = eval_oe.classified_metric
    lines, first = inspect.getsourcelines(fn)
    loop = first + next(i for i, x in enumerate(lines) if "qns_type_right[qtype] = value*100" in x) - 1
    seen: dict = {}

    def tracer(frame, event, arg):  # noqa: ANN001 (sys.settrace protocol)
        if frame.f_code is not fn.__code__:
            return None

        def local(frame, event, arg):  # noqa: ANN001
            if event == "line" and frame.f_lineno == loop and "right" not in seen:
                # (cnt is read here too: the function later reuses the name for another loop)
                seen.update(right=dict(eval_oe.qns_type_right), cnt=frame.f_locals["cnt"],
                            sp_num=frame.f_locals["sp_num"])
            return local
        return local

    crash = None
    sys.settrace(tracer)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            fn(str(csv), str(result))
    except ZeroDivisionError as e:
        crash = f"ZeroDivisionError: {e}"
    finally:
        sys.settrace(None)
    total = eval_oe.qns_type_total
    out = {"Acc": seen["cnt"] * 100 / seen["sp_num"]}
    out.update({f"Acc_{t}": seen["right"][t] * 100 / total[t] for t in total if total[t]})
    return {"expected": out, **({"reference_crash": crash} if crash else {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hqga", required=True, type=Path, help="checkout of doc-doc/HQGA")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="also print ours vs the reference")
    args = ap.parse_args()
    repo = args.hqga.resolve()
    _stub_unused_imports()
    sys.path.insert(0, str(repo))
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    result: dict = {"reference": {"repo": "doc-doc/HQGA", "commit": commit,
                                  "code": "eval_oe.py classified_metric(gt_file, pred_file)"}, "cases": {}}
    inputs = {"excerpt": (EXCERPT / "test.csv", EXCERPT / "result.json", EXCERPT / "ans_word.json")}
    if all((repo / f).is_file() for f in FULL):
        inputs["full_test"] = (repo / FULL[0], repo / FULL[1], repo / "dataset/msvd/ans_word.json")
    for name, (csv, res, _) in inputs.items():
        where = {"gt": csv.name, "pred": res.name} if name == "excerpt" else {"gt": FULL[0], "pred": FULL[1]}
        result["cases"][name] = {**where, **reference(csv, res)}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({len(result['cases'])} cases)")
    if args.check:
        from i2vbench.metrics.evaluate import evaluate

        worst = 0.0
        for name, (csv, res, vocab) in inputs.items():
            ours = evaluate("videoqa", csv, res, vocab=vocab)
            ref = result["cases"][name]["expected"]
            assert set(ours) == set(ref), (name, sorted(ours), sorted(ref))
            diff = max(abs(ours[k] - v) for k, v in ref.items())
            worst = max(worst, diff)
            print(f"{name:10s} Acc ours {ours['Acc']:.10f} ref {ref['Acc']:.10f}; max |diff| {diff:.2e}")
        print(f"largest |ours - reference| = {worst:.2e}")


if __name__ == "__main__":
    main()

"""Regenerate the STVG parity literals from TubeDETR's own VidSTG evaluator.

    python tools/parity/stvg/tubedetr.py --tubedetr /path/to/TubeDETR [--out FILE] [--check]

``--tubedetr`` is a checkout of antoyang/TubeDETR at the commit in README.md. Its
``datasets/vidstg_eval.py`` is loaded from there by file (the ``datasets`` package's ``__init__``
would import the video-loading stack, which the evaluator does not use); it imports
``util.dist`` (torch.distributed, and ``hostlist``, which is stubbed when not installed: only
SLURM set-up uses it) and ``util.box_ops`` (torch, torchvision). Nothing of it is copied here.

It runs ``VidSTGEvaluator(dir, "test", fps=..., video_max_len=...)`` with ``update(boxes)``,
``video_update(videos)``, ``summarize()`` on the files of ``tests/data/stvg`` (built by
``make_cases.py``), and writes ``tests/data/stvg/tubedetr_parity.json`` (read by
``tests/test_metrics_stvg.py``): per case, TubeDETR's per-query vIoU and tIoU (from
``evaluator.evaluator.evaluate``) and its per-question-type summary x 100 in our key names; the
all-queries numbers, which TubeDETR does not print, are the means of its per-query values.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "stvg"
OUT = DATA / "tubedetr_parity.json"
THRESHOLDS = (0.3, 0.5)


def _read(name: str) -> dict:
    raw = (DATA / name).read_bytes()
    return json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)


def all_frames_prediction() -> dict:
    """The hand-built cases' boxes on every native frame (for the sampling options case)."""
    spec = importlib.util.spec_from_file_location("make_cases", DATA / "make_cases.py")
    mc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mc)
    videos, boxes = [], []
    for i, (_, vid, tid, seg, _, qtype, sted, mode) in enumerate(mc.CASES):
        videos.append({"video_id": i, "sted": sted, "qtype": qtype})
        boxes += [{"image_id": f"{i}_{f}", "boxes": mc.pred_box(mode, mc.gt_box(vid, tid, f), f)}
                  for f in range(seg[0], seg[1])]
    return {"videos": videos, "boxes": boxes}


# name: (GT file, prediction file or None for all_frames_prediction(), TubeDETR fps, video_max_len)
CASES = {
    "cases": ("cases_gt.json", "cases_pred.json", 5, 200),
    "random": ("random_gt.json.gz", "random_pred.json.gz", 5, 200),
    "all_frames_fps2_len50": ("cases_gt.json", None, 2, 50),
}


def load_evaluator(repo: Path):
    sys.path.insert(0, str(repo))
    if importlib.util.find_spec("hostlist") is None:
        sys.modules["hostlist"] = types.ModuleType("hostlist")
    spec = importlib.util.spec_from_file_location("vidstg_eval", repo / "datasets" / "vidstg_eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.VidSTGEvaluator


def reference(evaluator_cls, gt: dict, pred: dict, fps: int, max_len: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "test.json").write_text(json.dumps(gt))
        ev = evaluator_cls(d, "test", iou_thresholds=list(THRESHOLDS), fps=fps, video_max_len=max_len)
    ev.update({b["image_id"]: {"boxes": b["boxes"]} for b in pred["boxes"]})
    ev.video_update({v["video_id"]: {"sted": v["sted"], "qtype": v["qtype"]} for v in pred["videos"]})
    summary = ev.summarize()
    per_query = [ev.results[v["video_id"]] for v in gt["videos"]]
    out: dict[str, float] = {}

    def block(prefix: str, rows: list[dict]) -> None:
        n = len(rows)
        out[f"{prefix}m_vIoU"] = 100 * sum(r["viou"] for r in rows) / n
        for t in THRESHOLDS:
            out[f"{prefix}vIoU@{t}"] = 100 * sum(r[f"viou@{t}"] for r in rows) / n
        out[f"{prefix}m_tIoU"] = 100 * sum(r["tiou"] for r in rows) / n

    block("", per_query)
    for q in sorted({r["qtype"] for r in per_query}):
        block(f"{q}/", [r for r in per_query if r["qtype"] == q])
        # the per-type numbers are TubeDETR's own summary; the means above must equal them
        assert abs(out[f"{q}/m_vIoU"] - 100 * summary[f"{q}_viou"]) < 1e-9
        assert abs(out[f"{q}/m_tIoU"] - 100 * summary[f"{q}_tiou"]) < 1e-9
    return {"expected": out, "viou": [float(r["viou"]) for r in per_query],
            "tiou": [float(r["tiou"]) for r in per_query]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tubedetr", required=True, type=Path, help="checkout of antoyang/TubeDETR")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="also print ours vs the reference")
    args = ap.parse_args()
    repo = args.tubedetr.resolve()
    evaluator_cls = load_evaluator(repo)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    result: dict = {"reference": {"repo": "antoyang/TubeDETR", "commit": commit,
                                  "code": "datasets/vidstg_eval.py VidSTGEvaluator summarize() and "
                                          "evaluator.evaluate() per query, fractions x 100"},
                    "cases": {}}
    for name, (gt_name, pred_name, fps, max_len) in CASES.items():
        pred = _read(pred_name) if pred_name else all_frames_prediction()
        ref = reference(evaluator_cls, _read(gt_name), pred, fps, max_len)
        result["cases"][name] = {"gt": gt_name, "pred": pred_name, "sample_fps": fps, "video_max_len": max_len,
                                 **ref}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({len(result['cases'])} cases)")
    if args.check:
        check(result)


def check(result: dict) -> None:
    from i2vbench.metrics.evaluate import evaluate

    worst = 0.0
    with tempfile.TemporaryDirectory() as d:
        for name, case in result["cases"].items():
            paths = []
            for key, obj in (("gt", _read(case["gt"])),
                             ("pred", _read(case["pred"]) if case["pred"] else all_frames_prediction())):
                p = Path(d) / f"{name}_{key}.json"
                p.write_text(json.dumps(obj))
                paths.append(p)
            ours = evaluate("stvg", *paths, sample_fps=case["sample_fps"], video_max_len=case["video_max_len"])
            diff = max(abs(ours[k] - v) for k, v in case["expected"].items())
            worst = max(worst, diff)
            print(f"{name:24s} m_vIoU ours {ours['m_vIoU']:.10f} ref {case['expected']['m_vIoU']:.10f}; "
                  f"max |diff| {diff:.2e}")
    print(f"largest |ours - reference| = {worst:.2e}")


if __name__ == "__main__":
    main()

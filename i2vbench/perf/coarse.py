"""Speed of the coarse-grained metrics (VTR, VAR, VideoQA) against their references' logic.

* VTR, MSR-VTT 1k-A scale (1000 × 1000 similarities, both directions): ours counts larger and
  equal entries; CLIP4Clip's ``compute_metrics`` sorts every row (re-stated here: CLIP4Clip is
  not a package, and its ``metrics.py`` imports torch).
* VAR, Kinetics-400-val scale (20,000 × 400 scores): mmaction2's ``top_k_accuracy`` (k = 1, 5)
  and ``mean_class_accuracy`` when ``mmaction`` is installed in the environment (it is never a
  dependency of the package), else a re-statement of their argsort / confusion-matrix logic.
* VideoQA, NExT-QA-test scale (8,564 questions, csv + result.json on disk, end to end): ours
  (``bench eval``'s evaluator) vs NExT-QA's ``eval_mc.accuracy_metric`` logic re-stated (pandas
  ``read_csv``, ``iterrows``, per-type lists of keys, json lookups); its printing is left out.

Each case's ``extra`` records whether the two produced the same numbers.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from i2vbench.perf import Case

NEXTQA_TYPES = ("CW", "CH", "TN", "TC", "DC", "DL", "DO")


# ------------------------------------------------------------------------------------- VTR


def clip4clip_restated(x: np.ndarray) -> dict[str, float]:
    """CLIP4Clip ``compute_metrics``: sort each row of -x, find the diagonal value by equality."""
    sorted_neg = np.sort(-x, axis=1)
    diag = -np.diag(x)[:, None]
    ranks = np.where(sorted_neg - diag == 0)[1]
    return {"R@1": float(np.sum(ranks == 0)) * 100 / len(ranks),
            "R@5": float(np.sum(ranks < 5)) * 100 / len(ranks),
            "R@10": float(np.sum(ranks < 10)) * 100 / len(ranks),
            "MdR": float(np.median(ranks)) + 1, "MnR": float(np.mean(ranks)) + 1}


def _vtr_case(quick: bool) -> Case:
    from i2vbench.metrics.vtr import retrieval_metrics

    n = 200 if quick else 1000
    rng = np.random.default_rng(0)
    sim = (rng.standard_normal((n, n)) + 2.5 * np.eye(n)).astype(np.float32)

    def reference() -> dict[str, float]:
        out = {}
        for prefix, m in (("t2v", sim), ("v2t", sim.T)):
            out.update({f"{prefix}/{k}": v for k, v in clip4clip_restated(m).items()})
        return out

    ours = retrieval_metrics(sim)
    same = all(abs(ours[k] - v) <= 1e-9 for k, v in reference().items())
    return Case("vtr R@K/MdR/MnR (MSR-VTT 1k-A scale)", f"{n}x{n} similarities, t2v+v2t",
                lambda: retrieval_metrics(sim), reference,
                f"reference: CLIP4Clip compute_metrics re-stated (np.sort + np.where); identical: {same}",
                {"identical": same})


# ------------------------------------------------------------------------------------- VAR


def _mmaction() -> Any | None:
    try:
        from mmaction.evaluation.functional import accuracy  # type: ignore[import-not-found]
    except Exception:  # not installed here (it is never a dependency): use the re-statement
        return None
    return accuracy


def mmaction_restated(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """mmaction2's top_k_accuracy (one argsort per k) and mean_class_accuracy (confusion matrix)."""
    out = {}
    for k in (1, 5):
        top = np.argsort(scores, axis=1)[:, -k:][:, ::-1]
        out[f"Top-{k}"] = float(np.logical_or.reduce(top == labels[:, None], axis=1).mean())
    pred = np.argmax(scores, axis=1)
    classes = np.unique(np.concatenate((pred, labels)))
    lut = np.zeros(classes[-1] + 1, dtype=np.int64)
    for i, c in enumerate(classes):
        lut[c] = i
    cm = np.bincount(len(classes) * lut[labels] + lut[pred], minlength=len(classes) ** 2)
    cm = cm.reshape(len(classes), len(classes)).astype(float)
    cnt, hit = cm.sum(axis=1), np.diag(cm)
    out["mean_class_accuracy"] = float(np.mean([h / c if c else 0.0 for c, h in zip(cnt, hit, strict=True)]))
    return out


def _var_case(quick: bool) -> Case:
    from i2vbench.metrics.var import var_metrics

    n, c = (2000, 400) if quick else (20000, 400)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, c, n)
    scores = rng.random((n, c)).astype(np.float32)
    scores[np.arange(n), labels] += rng.random(n).astype(np.float32)  # ~60 % top-1
    mm = _mmaction()
    if mm is not None:
        def reference() -> dict[str, float]:
            t1, t5 = mm.top_k_accuracy(scores, labels, (1, 5))
            return {"Top-1": t1, "Top-5": t5, "mean_class_accuracy": mm.mean_class_accuracy(scores, labels)}
        note = "reference: mmaction2 top_k_accuracy + mean_class_accuracy"
    else:
        def reference() -> dict[str, float]:
            return mmaction_restated(scores, labels)
        note = "reference: mmaction2's logic re-stated (mmaction not importable)"
    ours = var_metrics(scores, labels)
    same = all(abs(ours[k] - 100 * v) <= 1e-9 for k, v in reference().items())
    return Case("var Top-1/Top-5/mean-class (K400-val scale)", f"{n}x{c} scores",
                lambda: var_metrics(scores, labels), reference, f"{note}; identical: {same}", {"identical": same})


# --------------------------------------------------------------------------------- VideoQA


def nextqa_restated(csv_path: Path, result_path: Path) -> dict[str, float]:
    """NExT-QA ``eval_mc.accuracy_metric``: per-type key lists from pandas rows, json lookups."""
    import pandas as pd

    sample_list = pd.read_csv(csv_path, delimiter=",")
    group: dict[str, list[str]] = {t: [] for t in NEXTQA_TYPES}
    for _, row in sample_list.iterrows():
        qtype = str(row["type"])
        group["TN" if qtype == "TP" else qtype].append(str(row["video"]) + "_" + str(row["qid"]))
    preds = json.loads(Path(result_path).read_text())
    out: dict[str, float] = {}
    pooled = {"C": [0, 0], "T": [0, 0], "D": [0, 0]}
    right = total = 0
    for qtype, keys in group.items():
        acc = sum(preds[k]["answer"] == preds[k]["prediction"] for k in keys)
        out[qtype] = acc * 100.0 / len(keys)
        pooled[qtype[0]][0] += acc
        pooled[qtype[0]][1] += len(keys)
        right, total = right + acc, total + len(keys)
    out.update({f"Acc_{g}": a * 100.0 / c for g, (a, c) in pooled.items()})
    out["Acc"] = right * 100.0 / total
    return out


def write_nextqa_like(folder: Path, n: int, seed: int = 2) -> tuple[Path, Path]:
    """A NExT-QA-format csv of ``n`` questions and a result.json with ~50 % correct predictions."""
    rng = np.random.default_rng(seed)
    types = rng.choice(np.array(NEXTQA_TYPES + ("TP",)), n, p=[.39, .14, .16, .14, .04, .06, .06, .01])
    videos = 2_000_000_000 + rng.integers(0, max(n // 9, 1), n)
    answers = rng.integers(0, 5, n)
    lines = ["video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4"]
    result, next_qid = {}, {}
    for i in range(n):
        v = int(videos[i])
        q = next_qid.get(v, 0)
        next_qid[v] = q + 1
        lines.append(f"{v},900,640,480,what does the person do {i},{answers[i]},{q},{types[i]},a,b,c,d,e")
        pred = int(answers[i]) if rng.random() < 0.5 else int(rng.integers(0, 5))
        result[f"{v}_{q}"] = {"prediction": pred, "answer": int(answers[i])}
    csv_path, res_path = folder / "test.csv", folder / "result.json"
    csv_path.write_text("\n".join(lines) + "\n")
    res_path.write_text(json.dumps(result))
    return csv_path, res_path


def _videoqa_case(quick: bool) -> Case:
    from i2vbench.metrics.videoqa import evaluate_files

    n = 1000 if quick else 8564
    folder = Path(tempfile.mkdtemp(prefix="i2vbench-perf-videoqa-"))
    csv_path, res_path = write_nextqa_like(folder, n)
    ours = evaluate_files(csv_path, res_path)
    ref = nextqa_restated(csv_path, res_path)
    same = set(ours) == set(ref) and all(abs(ours[k] - v) <= 1e-9 for k, v in ref.items())
    return Case("videoqa NExT-QA Acc + types (test scale, files)", f"{n} questions",
                lambda: evaluate_files(csv_path, res_path), lambda: nextqa_restated(csv_path, res_path),
                f"reference: NExT-QA eval_mc.accuracy_metric re-stated (pandas iterrows); identical: {same}",
                {"identical": same})


def cases(quick: bool) -> list[Case]:
    return [_vtr_case(quick), _var_case(quick), _videoqa_case(quick)]

"""STVG at VidSTG-test scale: ``python -m i2vbench.perf metrics --only stvg``.

Input like the real VidSTG test split (10,303 queries, ~45 % declarative, the split's frame
rates, used segments and GT moments of similar length: ~1.1 M sampled frames with a predicted box,
~0.4 M GT frames) written as TubeDETR's processed ``test.json`` and a ``bench eval`` prediction
file. GT boxes are stored on the sampled frames only (the only ones either evaluator reads), which
keeps the GT file small; the timing is file → metrics for both sides.

The reference is TubeDETR's own ``datasets/vidstg_eval.py``, imported from a checkout named by
``$I2VBENCH_TUBEDETR`` (no default: code is run only from a path the user names, never from a
world-writable place such as ``/tmp`` that another user could fill); it needs ``torch`` and ``python-hostlist``
(imported by its ``util/dist.py``). Where it cannot be imported the case runs without it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from i2vbench.perf import Case

FULL_QUERIES = 10303
QUICK_QUERIES = 500
FPS_CHOICES = (29.97002997002997, 23.976023976023978, 29.97, 24.0, 25.0, 30.0, 15.0)


def make_inputs(n: int, folder: Path, seed: int = 0) -> tuple[Path, Path, int]:
    """Write ``test.json`` (TubeDETR form) and ``pred.json`` for ``n`` queries into ``folder``.

    Returns the two paths and the number of predicted boxes."""
    from i2vbench.datasets.vidstg import sample_frames

    rng = np.random.default_rng(seed)
    fps = np.array(FPS_CHOICES)[rng.integers(0, len(FPS_CHOICES), n)]
    length = (rng.gamma(2.0, 11.0, n).clip(3, 60) * fps).astype(np.int64)  # ~22 s mean, like VidSTG
    start = rng.integers(0, 600, n)
    end = start + length
    ts = start + (rng.random(n) * 0.6 * length).astype(np.int64)
    te = np.minimum(ts + 1 + (rng.random(n) * (end - ts)).astype(np.int64), end + 1)
    frames, off = sample_frames(start, end, fps)
    q = np.repeat(np.arange(n), np.diff(off))
    in_gt = (ts[q] <= frames) & (frames < te[q])
    xy = rng.integers(0, 400, (len(frames), 2)).astype(np.float64)
    wh = rng.integers(8, 200, (len(frames), 2)).astype(np.float64)
    good = rng.random(len(frames)) < 0.85
    jit = np.where(good[:, None], rng.normal(0, 6, (len(frames), 4)), rng.normal(0, 150, (len(frames), 4)))
    p = np.concatenate([xy, xy + wh], 1) + jit
    p = np.round(np.concatenate([np.minimum(p[:, :2], p[:, 2:]), np.maximum(p[:, :2], p[:, 2:])], 1), 1)
    qtype = np.where(rng.random(n) < 0.45, "declarative", "interrogative")
    ps = ts + rng.normal(0, 20, n).round()
    pe = te + rng.normal(0, 20, n).round()

    videos, trajectories = [], {}
    fl, ql, gl, xyl, whl = frames.tolist(), q.tolist(), in_gt.tolist(), xy.tolist(), wh.tolist()
    for i in range(n):
        vid = f"{1000000 + i // 2}"  # two queries per video, as VidSTG has
        videos.append({"video_id": i, "original_video_id": vid, "frame_count": int(end[i]) + 1, "fps": float(fps[i]),
                       "width": 640, "height": 480, "start_frame": int(start[i]), "end_frame": int(end[i]),
                       "tube_start_frame": int(ts[i]), "tube_end_frame": int(te[i]), "target_id": i % 2,
                       "qtype": str(qtype[i]), "caption": f"query {i}", "type": "person"})
        trajectories.setdefault(vid, {})[str(i % 2)] = {}
    for f, qi, g, a, b in zip(fl, ql, gl, xyl, whl, strict=True):
        if g:
            trajectories[f"{1000000 + qi // 2}"][str(qi % 2)][str(f)] = {"bbox": [a[0], a[1], b[0], b[1]]}
    gt_path = folder / "test.json"
    gt_path.write_text(json.dumps({"videos": videos, "trajectories": trajectories}))
    pred = {"videos": [{"video_id": i, "sted": [float(ps[i]), float(pe[i])], "qtype": str(qtype[i])} for i in range(n)],
            "boxes": [{"image_id": f"{qi}_{f}", "boxes": [b]} for qi, f, b in zip(ql, fl, p.tolist(), strict=True)]}
    pred_path = folder / "pred.json"
    pred_path.write_text(json.dumps(pred))
    return gt_path, pred_path, len(fl)


def _tubedetr_evaluator() -> Any | None:
    """TubeDETR's ``vidstg_eval`` module from a local checkout, or None (with the reason on stderr)."""
    if not os.environ.get("I2VBENCH_TUBEDETR"):
        return None
    root = Path(os.environ["I2VBENCH_TUBEDETR"])
    src = root / "datasets" / "vidstg_eval.py"
    if not src.is_file():
        return None
    sys.path.insert(0, str(root))  # for its `util.dist` / `util.box_ops`
    try:
        spec = importlib.util.spec_from_file_location("tubedetr_vidstg_eval", src)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        return mod
    except ImportError as e:
        print(f"stvg: TubeDETR evaluator not importable ({e}); timing ours only", file=sys.stderr)
        return None
    finally:
        sys.path.remove(str(root))


def _run_reference(mod: Any, folder: Path, pred_path: Path) -> dict[str, float]:
    """TubeDETR end to end: its constructor reads ``folder/test.json``; predictions as its engine holds them."""
    import contextlib
    import io

    ev = mod.VidSTGEvaluator(str(folder), "test")
    pred = json.loads(pred_path.read_text())
    ev.update({b["image_id"]: {"boxes": b["boxes"]} for b in pred["boxes"]})
    ev.video_update({v["video_id"]: {"sted": v["sted"], "qtype": v["qtype"]} for v in pred["videos"]})
    with contextlib.redirect_stdout(io.StringIO()):
        out = ev.summarize()
    return {k: 100 * v for k, v in out.items()}


def cases(quick: bool) -> list[Case]:
    n = QUICK_QUERIES if quick else FULL_QUERIES
    tmp = tempfile.TemporaryDirectory(prefix="i2vbench-perf-stvg-")
    folder = Path(tmp.name)
    gt, pred, n_boxes = make_inputs(n, folder)

    def ours() -> dict[str, float]:
        from i2vbench.metrics.stvg import evaluate_files

        _keep = tmp  # the input folder lives as long as the case
        return evaluate_files(gt, pred)

    mod = _tubedetr_evaluator()
    reference = (lambda: _run_reference(mod, folder, pred)) if mod is not None else None
    note = "ref: TubeDETR vidstg_eval.py (file → metrics)" if mod is not None else \
        "reference skipped: TubeDETR checkout not importable (set I2VBENCH_TUBEDETR)"
    return [Case(f"stvg (VidSTG-test scale{', quick' if quick else ''})",
                 f"{n} queries, {n_boxes} predicted boxes", ours, reference, note)]

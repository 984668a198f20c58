"""OV-MOT metric benchmark: TETA on a deterministic TAO-val-scale synthetic input.

TAO val has 988 videos, ~37k annotated frames, ~85k GT boxes; tracker results submitted on it
hold ~2.2 M boxes over ~300 categories. :func:`synthetic_tao` builds GT and results of that
shape (objects moving over a few dozen annotated frames, detections with IoU jitter, identity
switches, wrong labels, duplicate boxes, tracklets of clutter), deterministically from a seed,
and writes them as the real TAO json files the evaluators read.

The official evaluator (SysCV/tet ``teta/``) is timed on the same files when a checkout of it
is named by ``$TETA_REF`` (no default path: code runs only from where the user points); it is
never shipped with the suite.

Measured (2-core CPU shared with other jobs, so CPU seconds are the figures to compare; both
sides include reading the json files). TAO-val scale, seed 0: 988 videos, 38,416 annotated
frames, 89,128 GT boxes, 2,263,233 results (1,819,744 on annotated frames), 300 classes:
official 871.8 s CPU (53.5 min wall), 6.69 GB peak RSS; ours 11.7 s CPU (51 s wall),
0.98 GB peak RSS: 74x less CPU, identical numbers (max abs diff 1.4e-14). Quarter scale (247
videos): official TETA 211 s CPU vs ours 2.9 s (73x); trackeval HOTA 162 s CPU vs ours 2.5 s.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from i2vbench.io import atomic_write_text
from i2vbench.paths import cache_dir
from i2vbench.perf import Case

TAO_VAL = dict(n_videos=988, frames_per_video=50.0, objects_per_video=6.8, n_classes=300,
               preds_per_frame=46.0)
QUICK = dict(n_videos=40, frames_per_video=12, objects_per_video=3.0, n_classes=20,
             preds_per_frame=12.0)


def synthetic_tao_columns(n_videos: int, frames_per_video: float, objects_per_video: float,
                          n_classes: int, preds_per_frame: float, seed: int = 0,
                          grid: bool = False) -> tuple[dict, dict[str, np.ndarray]]:
    """A TAO GT dict and the results as columns (see :func:`synthetic_tao`)."""
    rng = np.random.default_rng(seed)
    W, H = (40, 40) if grid else (640, 480)

    def q(x):
        return np.round(x) if grid else np.round(x, 2)

    videos, images, tracks, anns = [], [], [], []
    cols: dict[str, list] = {k: [] for k in ("image_id", "video_id", "category_id", "bbox",
                                             "score", "track_id")}
    img_id = ann_id = gt_tid = pr_tid = 1
    cats = [{"id": i + 1, "name": f"class_{i + 1}", "frequency": "rcf"[i % 3]}
            for i in range(n_classes)]

    def emit(img, vid, cat, box, score, tid):
        cols["image_id"].append(np.asarray(img, np.int64))
        cols["video_id"].append(np.full(len(img), vid, np.int64))
        cols["category_id"].append(np.asarray(cat, np.int64))
        cols["bbox"].append(np.asarray(box, np.float64).reshape(-1, 4))
        cols["score"].append(np.asarray(score, np.float64))
        cols["track_id"].append(np.asarray(tid, np.int64))

    for v in range(n_videos):
        vid = v + 1
        nf = max(1, int(rng.poisson(frames_per_video)))
        videos.append({"id": vid, "name": f"val/SYN/v_{vid:05d}", "width": W, "height": H,
                       "neg_category_ids": (rng.choice(n_classes, min(2, n_classes), replace=False)
                                            + 1).tolist(),
                       "not_exhaustive_category_ids": []})
        img_ids = np.arange(img_id, img_id + nf)
        for f in range(nf):
            images.append({"id": img_id, "video_id": vid, "frame_index": 30 * f,
                           "file_name": f"val/SYN/v_{vid:05d}/frame{30 * f + 1:04d}.jpg",
                           "width": W, "height": H})
            img_id += 1
        vid_classes = rng.choice(n_classes, size=min(n_classes, 4), replace=False) + 1
        n_obj = max(1, int(rng.poisson(objects_per_video)))
        vid_boxes = []
        for _ in range(n_obj):  # objects: GT tracks moving over a span of frames
            cat = int(rng.choice(vid_classes))
            start = int(rng.integers(0, nf))
            end = int(rng.integers(start, nf)) + 1
            fr = np.arange(start, end)
            w0, h0 = rng.uniform(0.1, 0.5) * W, rng.uniform(0.1, 0.5) * H
            x0, y0 = rng.uniform(0, W - w0), rng.uniform(0, H - h0)
            dx, dy = rng.normal(0, 0.03 * W, 2)
            box = np.stack([q(np.clip(x0 + dx * (fr - start), 0, W - w0)),
                            q(np.clip(y0 + dy * (fr - start), 0, H - h0)),
                            np.full(len(fr), max(q(w0), 1.0)), np.full(len(fr), max(q(h0), 1.0))], 1)
            tracks.append({"id": gt_tid, "category_id": cat, "video_id": vid})
            for f, b in zip(fr.tolist(), box.tolist(), strict=True):
                anns.append({"id": ann_id, "image_id": int(img_ids[f]), "video_id": vid,
                             "track_id": gt_tid, "category_id": cat, "bbox": b,
                             "area": b[2] * b[3], "iscrowd": 0})
                ann_id += 1
            gt_tid += 1
            vid_boxes.append(box)
            # its detections: IoU jitter, misses, an identity switch, wrong labels, duplicates
            det = rng.random(len(fr)) < 0.85
            switch = int(rng.integers(start, end + 3))
            tid = np.where(fr < switch, pr_tid, pr_tid + 1)
            pr_tid += 2
            j = rng.normal(0, 0.08, (len(fr), 4)) * box[:, [2, 3, 2, 3]]
            pb = q(box + j)
            pb[:, 2:] = np.maximum(pb[:, 2:], 1)
            pc = np.where(rng.random(len(fr)) < 0.7, cat, rng.integers(1, n_classes + 6, len(fr)))
            sc = q(rng.random(len(fr)) * 100) / 100
            emit(img_ids[fr[det]], vid, pc[det], pb[det], sc[det], tid[det])
            dup = det & (rng.random(len(fr)) < 0.05)
            emit(img_ids[fr[dup]], vid, pc[dup], pb[dup], sc[dup],
                 pr_tid + np.arange(int(dup.sum())))
            pr_tid += int(dup.sum())
        # clutter: short tracklets near the objects or anywhere, of the video's or other classes
        n_gt = sum(len(b) for b in vid_boxes)
        n_clutter = int(preds_per_frame * nf) - n_gt
        if n_clutter <= 0:
            continue
        n_t = n_clutter // 3 + 1
        f0 = rng.integers(0, nf, n_t)
        length = rng.integers(1, 8, n_t)
        allb = np.concatenate(vid_boxes)
        near = rng.random(n_t) < 0.6
        base = np.where(near[:, None], allb[rng.integers(0, len(allb), n_t)],
                        np.stack([rng.uniform(0, W * 0.8, n_t), rng.uniform(0, H * 0.8, n_t),
                                  rng.uniform(5, W * 0.3, n_t), rng.uniform(5, H * 0.3, n_t)], 1))
        scale = np.where(near, rng.uniform(0.05, 0.6, n_t), 0.1)
        cat = np.where(rng.random(n_t) < 0.5, rng.choice(vid_classes, n_t),
                       rng.integers(1, n_classes + 6, n_t))
        k = np.repeat(np.arange(n_t), length)
        f = f0[k] + (np.arange(len(k)) - np.repeat(np.cumsum(length) - length, length))
        k, f = k[f < nf][:n_clutter], f[f < nf][:n_clutter]
        pb = q(base[k] + rng.normal(0, 1, (len(k), 4)) * scale[k, None] * base[k][:, [2, 3, 2, 3]])
        pb[:, 2:] = np.maximum(pb[:, 2:], 1)
        emit(img_ids[f], vid, cat[k], pb, q(rng.random(len(k)) * 40) / 100, pr_tid + k)
        pr_tid += n_t
    gt = {"info": {"description": "i2vbench synthetic TAO"}, "videos": videos, "images": images,
          "tracks": tracks, "annotations": anns, "categories": cats}
    res = {k: np.concatenate(v) if v else np.empty(0) for k, v in cols.items()}
    return gt, res


def synthetic_tao(n_videos: int, frames_per_video: float, objects_per_video: float,
                  n_classes: int, preds_per_frame: float, seed: int = 0, grid: bool = False
                  ) -> tuple[dict, list[dict]]:
    """A TAO GT dict and a TAO results list of the given shape (deterministic in ``seed``).

    ``grid`` puts every coordinate on a coarse integer grid, which makes IoUs that sit exactly
    on thresholds (0.5, 0.75, ...) and exact score/IoU ties common: the cases that tell a
    faithful reimplementation from an approximate one.
    """
    gt, c = synthetic_tao_columns(n_videos, frames_per_video, objects_per_video, n_classes,
                                  preds_per_frame, seed, grid)
    res = [{"image_id": a, "video_id": b, "category_id": d, "bbox": e, "score": s, "track_id": t}
           for a, b, d, e, s, t in zip(c["image_id"].tolist(), c["video_id"].tolist(),
                                       c["category_id"].tolist(), c["bbox"].tolist(),
                                       c["score"].tolist(), c["track_id"].tolist(), strict=True)]
    return gt, res


def _results_json(c: dict[str, np.ndarray]) -> str:
    """Result columns as a TAO results json list, one object per line."""
    rows = zip(c["image_id"].tolist(), c["video_id"].tolist(), c["category_id"].tolist(),
               c["bbox"].tolist(), c["score"].tolist(), c["track_id"].tolist(), strict=True)
    return "[\n" + ",\n".join(
        f'{{"image_id": {a}, "video_id": {b}, "category_id": {d}, "bbox": [{e[0]!r}, {e[1]!r}, '
        f'{e[2]!r}, {e[3]!r}], "score": {s!r}, "track_id": {t}}}' for a, b, d, e, s, t in rows
    ) + "\n]\n"


def write_synthetic(out: Path, seed: int = 0, **shape: float) -> tuple[Path, Path]:
    """Write (or reuse) ``gt.json`` and ``results.json`` of the given shape under ``out``."""
    gt_p, pr_p = out / "gt.json", out / "results.json"
    if not (gt_p.is_file() and pr_p.is_file()):
        gt, res = synthetic_tao_columns(seed=seed, **shape)
        atomic_write_text(gt_p, json.dumps(gt))
        atomic_write_text(pr_p, _results_json(res))
    return gt_p, pr_p


def _reference_dir() -> Path | None:
    if not os.environ.get("TETA_REF"):
        return None
    d = Path(os.environ["TETA_REF"])
    return d if (d / "teta" / "metrics" / "teta.py").is_file() else None


def _reference(gt: Path, pred: Path, ref: Path):
    """Run the official TETA in-process (its TAO dataset + TETA(exhaustive=False))."""
    def run() -> dict[str, float]:
        import contextlib
        import io
        import tempfile

        sys.path.insert(0, str(ref))
        try:
            from teta.datasets import TAO
            from teta.eval import Evaluator
            from teta.metrics import TETA
        finally:
            sys.path.remove(str(ref))

        def raw_row(self, r):
            return [100 * float(np.mean(r[h])) for h in self.summary_fields]

        TETA._summary_row = raw_row  # unrounded numbers instead of the printed strings
        out = tempfile.mkdtemp(prefix="teta_ref_")
        metric = TETA(exhaustive=False)
        with contextlib.redirect_stdout(io.StringIO()):
            ev = Evaluator(dict(USE_PARALLEL=False, PRINT_CONFIG=False, TIME_PROGRESS=False,
                                LOG_ON_ERROR=None, OUTPUT_PER_SEQ_RES=True))
            res, _ = ev.evaluate([TAO(dict(
                GT_FOLDER=str(gt), TRACKERS_FOLDER=out, OUTPUT_FOLDER=out,
                TRACKER_SUB_FOLDER=str(pred), TRACKERS_TO_EVAL=["ref"], PRINT_CONFIG=False,
                MAX_DETECTIONS=0))], [metric])
        return dict(zip(metric.summary_fields, res["TAO"]["TETA"], strict=True))
    return run


def cases(quick: bool) -> list[Case]:
    import scipy.optimize  # noqa: F401  (imported before timing: both sides use it)

    from i2vbench.metrics.teta import evaluate_files

    shape = QUICK if quick else TAO_VAL
    name = "quick" if quick else "tao-val"
    gt, pred = write_synthetic(cache_dir() / "perf" / f"ovmot-{name}", seed=0, **shape)
    gtd = json.loads(gt.read_text())
    annotated = len({a["image_id"] for a in gtd["annotations"]})
    size = (f"{len(gtd['videos'])} videos, {len(gtd['images'])} images ({annotated} annotated), "
            f"{len(gtd['annotations'])} GT boxes, {pred.read_text().count(chr(10)) - 2} "
            f"predicted boxes, {len(gtd['categories'])} classes")
    del gtd
    ref = _reference_dir()
    note = "ours: load + TETA" if ref else ("official TETA not found (set TETA_REF to a "
                                            "SysCV/tet teta/ checkout); reference skipped")
    return [Case(f"teta ({name})", size,
                 lambda: evaluate_files(gt, pred, hota=False),
                 _reference(gt, pred, ref) if ref else None, note)]

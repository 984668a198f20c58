"""How well each class signal an OV-MOT method can use names the boxes of the training stills
and of val and test (and the detector's score range on val, the test videos with a crossing).

The stills' detections matched to a labelled (base) GT box, classified by: the ILFM's zero-shot
class of the crop (tinyclip, the baseline's and OVTrack's teacher), the detector's best-scoring
name, and the name nearest to the detector's region embedding. Then the val and test detections matched
(IoU >= 0.5) to a GT box, base and novel apart, by the zero-shot crop class and the detector's
name; and a linear probe (softmax regression) trained on the stills' base boxes from the
detector's region embedding or from the ILFM's crop embedding, scored on val's base boxes: how
much class each feature carries for a head to learn. Uses the default run's config and its
cached detections (computed if missing)::

    python -m i2vbench.experiments.ovmot_classes
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from i2vbench.experiments import run_main


def main() -> None:
    import numpy as np

    import i2vbench.benchmarks.ovmot as run
    from i2vbench.io import read_json
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.ovmot.base import OVMOTSplit, box_iou, detector_probs, zero_shot_probs
    from i2vbench.paths import cache_dir

    cfg = run.OVMOTRunConfig()
    cache = cache_dir() / "ovmot"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        gt_paths, frames_root = run.load_splits(cfg, Path(work), False)
        backbone = load_backbone(cfg.backbone, cfg.pretrained).eval()
        detector = run._load_grounder(cfg.detector, cfg.detector_weights)
        cats, _, phrases, text, scale = run.category_texts(backbone, gt_paths)
        enc = run._Encoder(cfg, detector, backbone, phrases)
        folders = run._frame_folders(frames_root)
        st = run.prepare_stills(cfg, enc, gt_paths["train"], folders, cache, cats, False)
        _, val = run.prepare_split(cfg, enc, gt_paths["val"], folders, cache, False, False)
        _, test = run.prepare_split(cfg, enc, gt_paths["test"], folders, cache, False, False)
        raws = {s: read_json(gt_paths[s]) for s in ("val", "test")}
        crossing = sum(bool((v.get("metadata") or {}).get("crossings"))
                       for v in read_json(gt_paths["test"])["videos"])
    score = np.concatenate([v.det_score for v in val])
    print(f"val detections' best matching score: median {np.median(score):.2f}, "
          f"99th percentile {np.percentile(score, 99):.2f} (kept in the cache at >= {cfg.keep_score})")
    print(f"test videos with a crossing: {crossing}")
    lab = st.label >= 0
    split = OVMOTSplit(cats, np.ones(len(cats), bool), text, scale, [], st)
    region = st.region / np.maximum(np.linalg.norm(st.region, axis=1, keepdims=True), 1e-6)
    n_classes = len(np.unique(st.label[lab]))
    print(f"{int(lab.sum())} labelled boxes of {len(lab)} detections on {len(st)} stills, "
          f"{n_classes} base classes (chance {100 / n_classes:.1f} %)")
    for name, pred in (("ILFM zero-shot class of the crop", zero_shot_probs(split, st.crop).argmax(1)),
                       ("detector's best-scoring name", st.scores.argmax(1)),
                       ("name nearest the region embedding", (region @ text.T).argmax(1))):
        print(f"{name:40s} {100 * float((pred[lab] == st.label[lab]).mean()):5.1f} %")

    base = np.array([c.get("frequency") != "r" for c in cats])
    for split_name, videos in (("test", test), ("val", val)):  # val last: the probe below scores val
        rows, labels = _matched(videos, raws[split_name], {c["id"]: i for i, c in enumerate(cats)}, box_iou)
        y = np.concatenate(labels)
        is_base = base[y]
        print(f"{split_name} detections matched to GT: {int(is_base.sum())} base, {int((~is_base).sum())} novel boxes")
        split = OVMOTSplit(cats, base, text, scale, videos)
        for name, fn in (("ILFM zero-shot class of the crop", lambda v, sp=split: zero_shot_probs(sp, v.crop)),
                         ("detector's best-scoring name", detector_probs)):
            pred = np.concatenate([fn(v)[r].argmax(1) for v, r in zip(videos, rows, strict=True)])
            ok = pred == y
            print(f"{name:40s} base {100 * ok[is_base].mean():5.1f} %  novel {100 * ok[~is_base].mean():5.1f} %")
    for name, tr, va in (("region embedding", st.region, np.concatenate([v.region[r] for v, r in zip(val, rows, strict=True)])),
                         ("ILFM crop embedding", st.crop, np.concatenate([v.crop[r] for v, r in zip(val, rows, strict=True)]))):
        pred = _probe(tr[lab], st.label[lab], va[is_base])
        print(f"linear probe on the {name:22s} val base {100 * (pred == y[is_base]).mean():5.1f} %")


def _matched(videos, raw: dict, cat_index: dict, box_iou):  # noqa: ANN001, ANN202
    """Per video, the detection rows matched (Hungarian, IoU >= 0.5) to a GT box on its labelled
    frames, and those boxes' category indices."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    gt: dict[int, list] = {}
    for a in raw["annotations"]:
        x, y, w, h = a["bbox"]
        gt.setdefault(a["image_id"], []).append(([x, y, x + w, y + h], cat_index[a["category_id"]]))
    rows, labels = [], []
    for v in videos:
        r_v, l_v = [], []
        for f, iid in v.images.items():
            g, r = gt.get(iid, []), np.flatnonzero(v.frame == f)
            if g and len(r):
                iou = box_iou(v.boxes[r], np.array([b for b, _ in g], np.float32))
                a, b = linear_sum_assignment(-iou)
                ok = iou[a, b] >= 0.5
                r_v += r[a[ok]].tolist()
                l_v += [g[j][1] for j in b[ok]]
        rows.append(np.array(r_v, np.int64))
        labels.append(np.array(l_v, np.int64))
    return rows, labels


def _probe(x, y, x_test):  # noqa: ANN001, ANN202
    """Softmax regression (standardised inputs, L-BFGS, small L2) fit on (x, y); classes of x_test."""
    import torch

    torch.manual_seed(0)
    xt, yt = torch.as_tensor(x).float(), torch.as_tensor(y)
    mu, sd = xt.mean(0), xt.std(0) + 1e-6
    lin = torch.nn.Linear(xt.shape[1], int(yt.max()) + 1)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin((xt - mu) / sd), yt) + 1e-3 * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return lin((torch.as_tensor(x_test).float() - mu) / sd).argmax(1).numpy()


if __name__ == "__main__":
    sys.exit(run_main(main))

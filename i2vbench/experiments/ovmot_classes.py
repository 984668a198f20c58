"""How well each class signal an OV-MOT method can use names the boxes of the training stills
(and the detector's score range on val, the test videos with a crossing).

The stills' detections matched to a labelled (base) GT box, classified by: the ILFM's zero-shot
class of the crop (tinyclip, the baseline's and OVTrack's teacher), the detector's best-scoring
name (MASA's and NetTrack's), and the name nearest to the detector's region embedding. Uses the
default run's config and its cached detections (computed if missing)::

    python -m i2vbench.experiments.ovmot_classes
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def main() -> None:
    import numpy as np
    import torch

    import i2vbench.benchmarks.ovmot as run
    from i2vbench.io import read_json
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.ovmot.base import OVMOTSplit, zero_shot_probs
    from i2vbench.paths import cache_dir

    cfg = run.OVMOTRunConfig()
    cache = cache_dir() / "ovmot"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        gt_paths, frames_root = run.load_splits(cfg, Path(work), False)
        backbone = load_backbone(cfg.backbone, cfg.pretrained).eval()
        detector = run._load_grounder(cfg.detector, cfg.detector_weights)
        cats = sorted(({k: c.get(k) for k in ("id", "name", "frequency")}
                       for c in read_json(gt_paths["test"])["categories"]), key=lambda c: c["id"])
        phrases = [str(c["name"]).replace("_", " ") for c in cats]
        with torch.no_grad():
            text = backbone.encode_text([f"a {p}" for p in phrases]).pooled.float()
            text = torch.nn.functional.normalize(text, dim=-1).numpy()
        scale = float(backbone.logit_scale.detach().exp().clamp(max=100))
        enc = run._Encoder(cfg, detector, backbone, phrases)
        folders = run._frame_folders(frames_root)
        st = run.prepare_stills(cfg, enc, gt_paths["train"], folders, cache, cats, False)
        _, val = run.prepare_split(cfg, enc, gt_paths["val"], folders, cache, False, False)
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


if __name__ == "__main__":
    main()

"""Where association matters in the OV-MOT set: AssocA of the IoU baseline and of the methods
that change association (MASA, NetTrack, OVTrack) on the videos with each kind of hard event,
and whether the learned embeddings tell objects apart across two augmentations of a still.

Each val (or test) video is tagged from the writer's scene (which knows every object, its
colour and shape, and how much of it is hidden on every frame):

- ``crossing``: two tracks' boxes overlap (the GT's ``metadata.crossings``);
- ``crossing-alike``: such a crossing between two objects that share a colour or a shape (where
  appearance helps least);
- ``occlusion``: some object is labelled while at least 25 % of it is hidden by another;
- ``gap``: some object disappears and reappears within the video;
- ``same-colour`` / ``same-shape``: the video has two objects of one colour / one shape.

For each group the methods' predictions are scored together (TETA's AssocA, class-averaged as
everywhere); then, on the writer's scripted crossings (``crossing_events``, TAO writer version
2), how many identities each method keeps from the last labelled frame before a crossing to the
first one after (:func:`kept_through_crossings`); and per video (how many videos a method wins or loses against the baseline by more
than 0.5 AssocA). Then the two-view retrieval accuracy on stills of the split (each labelled
frame and a random affine view of it, as the training stills): for every detection covering an
object in view 0, is the nearest view-1 detection *of the same still* (the other objects of the
frame are the distractors) the same object? Frozen features, MASA's adapter, OVTrack's
association head. Seed 0, the default run's config and cached features::

    python -m i2vbench.experiments.ovmot_assoc [--split val|test] [--synthvid n_val=48]
        [--methods baseline,masa] [--set masa.pos_iou=0.5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

from i2vbench.experiments import run_main

GROUPS = ("all", "crossing", "crossing-alike", "occlusion", "gap", "same-colour", "same-shape", "none of these")
METHODS = ("baseline", "masa", "nettrack", "ovtrack")


def video_tags(built, split: str, crossing_iou: float, min_visible: float) -> dict[str, set[str]]:  # noqa: ANN001
    """The hard-event tags of each video of ``split``, by its TAO video name."""
    import numpy as np

    from i2vbench.datasets.synthvid.tao import crossing_pairs, video_name

    out = {}
    for vid, _, scene, _ in built.scenes(split):
        tags: set[str] = set()
        boxes, vis = scene.boxes, scene.visibility
        unhidden = scene.visible_fraction()
        labelled = vis & (unhidden >= min_visible)
        n = boxes.shape[1]
        colours, shapes = scene.colors, np.array([o.shape for o in scene.objects])
        for a, b in crossing_pairs(boxes, vis, crossing_iou):
            tags.add("crossing")
            if colours[a] == colours[b] or shapes[a] == shapes[b]:
                tags.add("crossing-alike")
        if (labelled & (unhidden < 0.75)).any():
            tags.add("occlusion")
        for j in range(n):
            on = np.flatnonzero(labelled[:, j])
            if len(on) and (np.diff(on) > 1).any():
                tags.add("gap")
        if len(set(colours.tolist())) < n:
            tags.add("same-colour")
        if len(set(shapes.tolist())) < n:
            tags.add("same-shape")
        out[video_name(split, vid)] = tags
    return out


def kept_through_crossings(built, split: str, gt_raw: dict, rows: list[dict], min_visible: float) -> tuple[int, int]:  # noqa: ANN001
    """(identities kept, identities tried) through the writer's scripted crossings
    (``crossing_events``), judged on the labelled (1 fps) frames as TETA is: for each object of a
    crossing labelled on a frame before it and one after it, is the predicted box covering it
    (IoU >= 0.5, the best one) on its last labelled frame before the crossing in the same track
    as the one covering it on its first labelled frame after?"""
    import numpy as np

    from i2vbench.datasets.synthvid.tao import video_name
    from i2vbench.methods.ovmot.base import box_iou

    vid_of = {v["name"]: v["id"] for v in gt_raw["videos"]}
    image_of = {(im["video_id"], im["frame_index"]): im["id"] for im in gt_raw["images"]}
    pred: dict[int, list[dict]] = {}
    for r in rows:
        pred.setdefault(r["image_id"], []).append(r)
    kept = tried = 0
    for vid, _, scene, rec in built.scenes_with(None, split):
        v = vid_of[video_name(split, vid)]
        lab = scene.visibility & (scene.visible_fraction() >= min_visible)
        frames = sorted(f for (w, f) in image_of if w == v)

        def track_at(f: int, j: int, v: int = v, scene=scene) -> int | None:  # noqa: ANN001
            ps = pred.get(image_of[(v, f)], [])
            if not ps:
                return None
            b = np.array([[p["bbox"][0], p["bbox"][1], p["bbox"][0] + p["bbox"][2], p["bbox"][1] + p["bbox"][3]]
                          for p in ps], np.float32)
            iou = box_iou(scene.boxes[f, j][None], b)[0]
            return ps[int(iou.argmax())]["track_id"] if iou.max() >= 0.5 else None

        for c in rec.get("crossing_events", []):
            for j in c["objects"]:
                before = [f for f in frames if f <= c["start"] * scene.fps and lab[f, j]]
                after = [f for f in frames if f >= c["end"] * scene.fps and lab[f, j]]
                if before and after:
                    tried += 1
                    a = track_at(before[-1], j)
                    kept += int(a is not None and a == track_at(after[0], j))
    return kept, tried


def _assoc(gt_raw: dict, rows: list[dict], video_ids: set[int], work: Path, key: str = "AssocA") -> float:
    from i2vbench.benchmarks.ovmot import _subset_gt
    from i2vbench.metrics.teta import evaluate_files

    sub = _subset_gt(gt_raw, video_ids)
    images = {im["id"] for im in sub["images"]}
    g, p = work / "gt.json", work / "pred.json"
    g.write_text(json.dumps(sub), encoding="utf-8")
    p.write_text(json.dumps([r for r in rows if r["image_id"] in images]), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(evaluate_files(g, p, hota=False)[key])


def retrieval(stills, emb, objects_only: bool = False) -> float:  # noqa: ANN001
    """Share of view-0 object detections whose nearest view-1 detection of the same still covers
    the same object (among the stills' detections that cover an object in both views);
    ``objects_only``: among the view-1 detections matched to some object (no duplicates or
    background boxes)."""
    import numpy as np

    hits, n = 0, 0
    for s in np.unique(stills.still):
        m = stills.still == s
        a = np.flatnonzero(m & (stills.view == 0) & (stills.obj >= 0))
        c = np.flatnonzero(m & (stills.view == 1) & ((stills.obj >= 0) | (not objects_only)))
        if len(c) < 2:
            continue
        for i in a:
            if not (stills.obj[c] == stills.obj[i]).any():
                continue
            j = c[int(np.argmax(emb[c] @ emb[i]))]
            hits += int(stills.obj[j] == stills.obj[i])
            n += 1
    return 100 * hits / max(n, 1)


def point_probe(built, split: str, videos, crossing_iou: float, levels: int = 2  # noqa: ANN001
                ) -> dict[str, tuple[float, float, float, int]]:
    """NetTrack's extra model on the split's frames, against the writer's exact boxes: a 4 x 4 net
    over the inner 60 % of each object's box (as NetTrack's config), followed one frame by the
    point tracker; per object-frame pair where the object is >= 50 % unhidden on both frames:
    (share of points kept reliable, share of reliable points inside the object's next box,
    share inside another object's next box and not its own, the reliable points' distance in
    pixels to where they belong (the same place relative to the object's box), the same for
    points left where they were, pairs), on all pairs, on those where the object moves (a point
    left in place would be off by > 1 px) and on those
    where the object's next box overlaps another's at IoU >= ``crossing_iou`` (crossings)."""
    import numpy as np

    from i2vbench.datasets.synthvid.tao import video_name
    from i2vbench.methods.ovmot.base import box_iou
    from i2vbench.methods.ovmot.points import Pyramid, track_points

    gray = {v.name: v.gray for v in videos}
    acc: dict[str, list] = {"all": [], "moving": [], "crossing": [], "moving crossing": []}
    for vid, _, scene, _ in built.scenes(split):
        g = gray[video_name(split, vid)]
        boxes, vis = scene.boxes, scene.visible_fraction()
        g_inner = 0.5 + ((np.arange(4) + 0.5) / 4 - 0.5) * 0.6
        prev = Pyramid(g[0], levels)
        for t in range(len(g) - 1):
            nxt = Pyramid(g[t + 1], levels)
            on = np.flatnonzero((vis[t] >= 0.5) & (vis[t + 1] >= 0.5))
            if len(on):
                nets = []
                for j in on:
                    x0, y0, x1, y1 = boxes[t, j]
                    xs, ys = x0 + g_inner * (x1 - x0), y0 + g_inner * (y1 - y0)
                    nets.append(np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2))
                pts, ok = track_points(prev, nxt, np.concatenate(nets).astype(np.float32))
                drawn = np.flatnonzero(vis[t + 1] > 0)
                iou = box_iou(boxes[t + 1, on], boxes[t + 1, drawn])
                for i, j in enumerate(on):
                    p, k = pts[16 * i:16 * (i + 1)], ok[16 * i:16 * (i + 1)]
                    inside = lambda b, q=p: ((q[:, 0] >= b[0]) & (q[:, 0] <= b[2]) & (q[:, 1] >= b[1])  # noqa: E731
                                             & (q[:, 1] <= b[3]))
                    own = inside(boxes[t + 1, j])
                    other = np.zeros(len(p), bool)
                    for m in drawn:
                        if m != j:
                            other |= inside(boxes[t + 1, m])
                    # where the point should be: the same place relative to the object's box
                    a, b2 = boxes[t, j], boxes[t + 1, j]
                    q = nets[i]
                    want = b2[:2] + (q - a[:2]) / np.maximum(a[2:] - a[:2], 1e-6) * (b2[2:] - b2[:2])
                    row = (k.mean(), own[k].mean() if k.any() else np.nan,
                           (other & ~own)[k].mean() if k.any() else np.nan,
                           np.linalg.norm(p - want, axis=1)[k].mean() / 100 if k.any() else np.nan,
                           np.linalg.norm(q - want, axis=1)[k].mean() / 100 if k.any() else np.nan)
                    moving = np.linalg.norm(q - want, axis=1).mean() > 1  # the object moved > 1 px
                    crossing = (iou[i][drawn != j] >= crossing_iou).any()
                    for key, cond in (("all", True), ("moving", moving), ("crossing", crossing),
                                      ("moving crossing", moving and crossing)):
                        if cond:
                            acc[key].append(row)
            prev = nxt
    return {k: (*(100 * np.nanmean(np.array(v), 0)).tolist(), len(v)) for k, v in acc.items() if v}  # px: x100/100


def main() -> None:
    import numpy as np

    import i2vbench.benchmarks.ovmot as run
    from i2vbench.benchmarks.runner import seed_everything
    from i2vbench.datasets.synthvid.tao import TAOConfig, build_tao
    from i2vbench.io import read_json
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.ovmot.base import OVMOTSplit, roi_features
    from i2vbench.methods.registry import Lazy, get_method
    from i2vbench.paths import cache_dir

    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--synthvid", nargs="*", default=[], help="build options, e.g. n_val=48")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--set", nargs="*", default=[], help="method config overrides, e.g. masa.pos_iou=0.5")
    args = ap.parse_args()
    import yaml

    overrides: dict[str, dict] = {}
    for o in args.set:
        key, value = o.split("=", 1)
        method, field = key.split(".", 1)
        overrides.setdefault(method, {})[field] = yaml.safe_load(value)
    opts = {k: int(v) for k, v in (o.split("=") for o in args.synthvid)}
    cfg = run.OVMOTRunConfig(synthvid=opts)
    cache = cache_dir() / "ovmot"
    cache.mkdir(parents=True, exist_ok=True)
    tcfg = TAOConfig()
    with tempfile.TemporaryDirectory(dir=cache) as work_s:
        work = Path(work_s)
        built = build_tao(progress=False, seed=cfg.resolved_data_seed, **opts)
        gt_paths, frames_root = run.load_splits(cfg, work, False)
        backbone = load_backbone(cfg.backbone, cfg.pretrained).eval()
        detector = run._load_grounder(cfg.detector, cfg.detector_weights)
        cats, base, phrases, text, scale = run.category_texts(backbone, gt_paths)
        enc = run._Encoder(cfg, detector, backbone, phrases)
        folders = run._frame_folders(frames_root)
        stills = run.prepare_stills(cfg, enc, gt_paths["train"], folders, cache, cats, False)
        _, videos = run.prepare_split(cfg, enc, gt_paths[args.split], folders, cache, True, False)
        eval_stills = run.prepare_stills(cfg, enc, gt_paths[args.split], folders, cache, cats, False)
        train = OVMOTSplit(cats, base, text, scale, [], stills)
        split = OVMOTSplit(cats, base, text, scale, videos)
        raw = read_json(gt_paths[args.split])
        tags = video_tags(built, args.split, tcfg.crossing_iou, tcfg.min_visible)
        vid_of = {v["name"]: v["id"] for v in raw["videos"]}
        group_ids = {g: {vid_of[n] for n, t in tags.items()
                         if g == "all" or g in t or (g == "none of these" and not t)} for g in GROUPS}
        provided = {"region_dim": int(stills.region.shape[1]), "embed_dim": int(text.shape[1]),
                    "num_categories": len(cats), "backbone": Lazy(lambda: backbone)}
        preds, models = {}, {}
        for name in args.methods.split(","):
            seed_everything(0)
            m = get_method("ovmot", name).build(provided, overrides.get(name), cfg.dataset)
            seed_everything(0)
            m.fit(train, seed=0, progress=False)
            preds[name], models[name] = m.predict(split), m
            curve = getattr(m, "loss_curve", [])
            if curve:
                k = max(1, len(curve) // 5)
                print(f"{name} loss, mean of each fifth of training: "
                      + " ".join(f"{np.mean(curve[i:i + k]):.3f}" for i in range(0, len(curve), k)))
        print(f"\n{args.split}: {len(raw['videos'])} videos; AssocA per group (videos)")
        print(f"{'group':16s} {'n':>3s} " + " ".join(f"{n:>9s}" for n in preds))
        for key in ("TETA", "LocA", "ClsA"):
            print(f"{f'({key}, all)':16s} {len(group_ids['all']):3d} "
                  + " ".join(f"{_assoc(raw, preds[n], group_ids['all'], work, key):9.2f}" for n in preds))
        for g in GROUPS:
            ids = group_ids[g]
            if not ids:
                continue
            print(f"{g:16s} {len(ids):3d} " + " ".join(f"{_assoc(raw, preds[n], ids, work):9.2f}" for n in preds))
        kept = {n: kept_through_crossings(built, args.split, raw, preds[n], tcfg.min_visible) for n in preds}
        if any(t for _, t in kept.values()):
            print("identities kept through the scripted crossings (1 fps frames before / after): "
                  + ", ".join(f"{n} {k}/{t} ({100 * k / max(t, 1):.0f} %)" for n, (k, t) in kept.items()))
        per_video = {n: {i: _assoc(raw, preds[n], {i}, work) for i in group_ids["all"]} for n in preds}
        print("\nper video vs baseline (AssocA differences beyond 0.5): wins / losses / mean difference")
        for g in GROUPS:
            ids = sorted(group_ids[g])
            if not ids or "baseline" not in preds:
                continue
            cells = []
            for n in preds:
                if n == "baseline":
                    continue
                d = np.array([per_video[n][i] - per_video["baseline"][i] for i in ids])
                cells.append(f"{n} {int((d > 0.5).sum())}/{int((d < -0.5).sum())}/{d.mean():+.2f}")
            print(f"{g:16s} " + "  ".join(cells))
        for s_name, s in ((args.split, eval_stills), ("train", stills)):
            per = np.bincount(s.still[s.view == 1])
            objs = np.bincount(s.still[(s.view == 1) & (s.obj >= 0)], minlength=len(per))
            print(f"{s_name} stills: {len(per)}, view-1 detections per still {per.mean():.1f}, "
                  f"of them matched to an object {objs.mean():.1f}")
        if "nettrack" in preds:
            print("\nNetTrack's point tracker, one frame step on the writer's boxes: reliable / inside its "
                  "own next box / inside another's only (% of reliable) / error in px (a point not "
                  "moved: its error) / object-frame pairs")
            levels = models["nettrack"].config.pyramid_levels
            for k, (rel, own, other, err, still, n) in point_probe(built, args.split, videos,
                                                                   tcfg.crossing_iou, levels).items():
                print(f"{k:16s} {rel:5.1f} % {own:5.1f} % {other:5.1f} % {err:5.2f} ({still:5.2f}) {n}")
        print(f"\ntwo-view retrieval within a still ({args.split} stills; train stills in brackets)")
        feats = {"frozen region": lambda s: s.region, "frozen crop": lambda s: s.crop,
                 "frozen region + crop": lambda s: roi_features(s.region, s.crop, True).numpy()}
        if "masa" in models:
            ad = models["masa"]
            feats["MASA adapter"] = lambda s: ad.adapter(roi_features(s.region, s.crop, ad.config.with_crop)).detach().numpy()
        if "ovtrack" in models:
            ov = models["ovtrack"]
            feats["OVTrack assoc head"] = lambda s: ov.assoc(roi_features(s.region, s.crop, True)).detach().numpy()
        for name, f in feats.items():
            accs = []
            for s in (eval_stills, stills):
                e = np.asarray(f(s), np.float32)
                e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-6)
                accs += [retrieval(s, e), retrieval(s, e, True)]
            print(f"{name:22s} {accs[0]:5.1f} % ({accs[2]:5.1f} %); among object boxes "
                  f"{accs[1]:5.1f} % ({accs[3]:5.1f} %)")


if __name__ == "__main__":
    sys.exit(run_main(main))

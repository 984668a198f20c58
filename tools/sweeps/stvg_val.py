"""One STVG method, one recipe, one or more seeds, scored on val: bench's metrics plus the box quality with
oracle time, so space and time are seen apart.

``bench run`` scores tubes (m_vIoU mixes where and when); this tool adds the mean IoU of the
predicted box with the ground-truth box on the frames of the ground-truth tube (whatever span the
method predicted), and the share of those frames with IoU >= 0.5: how well a method boxes the
target when it is told the time. The recipes of issue 15 were chosen with it (docs/tasks/stvg.md)::

    PYTHONPATH=. python tools/sweeps/stvg_val.py framewise
    PYTHONPATH=. python tools/sweeps/stvg_val.py cgstvg '{"epochs": 2}' --seeds 0,1,2
    PYTHONPATH=. python tools/sweeps/stvg_val.py tubedetr '{"epochs": 0, "stride": 1}'   # untrained

One JSON line per seed on stdout (appended to ``--log`` too; ``--seeds 0,1,2`` trains one after
the other in one process, each built and trained as ``bench run`` builds and trains that seed, so
a seed's numbers here are that seed's val numbers in a run); the test split is never scored.
``--from-run RUN_DIR`` trains nothing: it prints the box IoU with oracle time of a run record's
prediction files (every method, split and seed there; mean ± sample std over the seeds)::

    PYTHONPATH=. python tools/sweeps/stvg_val.py --from-run results/runs/<id>
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (n, 4) xyxy arrays."""
    lo, hi = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.clip(hi - lo, 0, None).prod(1)
    area = (a[:, 2:] - a[:, :2]).prod(1) + (b[:, 2:] - b[:, :2]).prod(1)
    return inter / np.maximum(area - inter, 1e-9)


def oracle_time_iou(split, preds) -> dict[str, list[float]]:  # noqa: ANN001
    """Per sentence type, the IoU of every ground-truth tube frame's predicted box."""
    out: dict[str, list[float]] = {}
    for i, q in enumerate(split.queries):
        _, boxes = preds[q.qid]
        f = np.arange(*q.tube)
        gt = split.boxes[i, f]
        ok = ~np.isnan(gt[:, 0])
        out.setdefault(q.qtype, []).extend(box_iou(boxes[f[ok]], gt[ok]).tolist())
    return out


def load_tokens():  # noqa: ANN201
    """(annotations by split, video paths, image size, dataset, per-video tinyground tokens), as
    ``bench run --task stvg`` reads them (from the shared feature cache)."""
    from i2vbench.benchmarks.stvg import STVGRunConfig, load_splits
    from i2vbench.datasets.features import Sampling, extract_video_features
    from i2vbench.methods.backbones import load_backbone

    cfg = STVGRunConfig()
    ann, paths, image_size, dataset = load_splits(cfg, False)
    bb = load_backbone("tinyground", None)
    grid = bb.image_size // bb.clip.config.patch_size
    fps = float(ann["train"].fps[0])
    feats = extract_video_features(bb, bb.backbone_id, paths, Sampling(fps=fps, layers=1, grid=grid, keep_frames=False),
                                   progress=False, jobs=1, init_seed=cfg.resolved_data_seed)
    return ann, paths, image_size, dataset, {v: f.layers[:, -1, bb.num_prefix_tokens:] for v, f in feats.items()}


def from_run(run_dir: Path) -> None:
    from i2vbench.benchmarks.stvg import to_split

    ann, _, image_size, _, tokens = load_tokens()
    found: dict[tuple[str, str], dict[str, list[float]]] = {}
    for f in sorted(run_dir.glob("predictions/*/*/*-seed*.json")):
        split, (method, _) = f.parent.name, f.stem.rsplit("-seed", 1)
        sp = to_split(ann[split], tokens, image_size)
        rows = json.loads(f.read_text())
        boxes = {b["image_id"]: b["boxes"][0] for b in rows["boxes"]}
        preds = {q.qid: (None, np.array([boxes[f"{q.qid}_{t}"] for t in range(q.n_frames)])) for q in sp.queries}
        for qtype, v in oracle_time_iou(sp, preds).items():
            found.setdefault((split, method), {}).setdefault(qtype, []).append(float(np.mean(v)))
    for (split, method), by_type in found.items():
        print(json.dumps({"split": split, "method": method, **{
            f"oracle_time_box_iou/{k}": f"{np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0.0:.3f}"
            for k, v in sorted(by_type.items())}}, ensure_ascii=False))


def write_anchors(path: Path, anchors: dict[tuple[str, str], np.ndarray]) -> None:
    """``anchors`` as an .npz (no pickle): the (video, sentence) keys as a string array, one box
    array each; written whole or not at all."""
    import io

    from i2vbench.io import atomic_write_bytes

    keys = list(anchors)
    buf = io.BytesIO()
    np.savez(buf, keys=np.array(keys, dtype=str).reshape(len(keys), 2),
             **{f"box{i}": anchors[k] for i, k in enumerate(keys)})
    atomic_write_bytes(path, buf.getvalue())


def read_anchors(path: Path) -> dict[tuple[str, str], np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {(str(v), str(c)): f[f"box{i}"] for i, (v, c) in enumerate(f["keys"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("method", nargs="?")
    ap.add_argument("--from-run", type=Path, default=None, help="a run record's folder: score its prediction files")
    ap.add_argument("overrides", nargs="?", default="{}", help="JSON: the method's config / train keys")
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds, one JSON line each")
    ap.add_argument("--log", default=None, help="append the JSON line to this file")
    ap.add_argument("--anchors", type=Path, default=None,
                    help="an .npz of the frozen ILFM's train and val boxes: written on first use, then read")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.from_run is not None:
        return from_run(args.from_run)
    if args.method is None:
        ap.error("a method name, or --from-run")

    from i2vbench.benchmarks.runner import seed_everything
    from i2vbench.benchmarks.stvg import STVGRunConfig, to_split, video_model_features
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.registry import Lazy, get_method

    over = json.loads(args.overrides)
    seed_everything(STVGRunConfig().resolved_data_seed)
    ann, paths, image_size, dataset, tokens = load_tokens()
    fps = float(ann["train"].fps[0])
    train, val = (to_split(ann[s], tokens, image_size) for s in ("train", "val"))
    video: dict[str, np.ndarray] = {}

    def video_model() -> dict[str, np.ndarray]:
        if not video:
            video.update(video_model_features(paths, fps, {v: len(t) for v, t in tokens.items()}))
        return video

    anchors: dict = {}

    def frame_boxes() -> dict:  # the run's shared anchors; --anchors keeps them between calls
        if anchors:
            return anchors
        if args.anchors is not None and args.anchors.exists():
            anchors.update(read_anchors(args.anchors))
            return anchors
        from i2vbench.methods.stvg.base import anchor_boxes

        with torch.random.fork_rng():  # as the runner: grounding must not move the init's random stream
            frozen = load_backbone("tinyground", None)
        out = {}
        for split in (train, val):
            out.update(anchor_boxes(frozen, split, jobs=2))
        if args.anchors is not None:
            write_anchors(args.anchors, out)
        anchors.update(out)
        return anchors

    provided = {"grounder": Lazy(lambda: load_backbone("tinyground", None)), "video_features": Lazy(video_model),
                "anchors": Lazy(frame_boxes)}
    for seed in (int(x) for x in args.seeds.split(",")):
        seed_everything(seed)  # as the runner: the build's init draws from the seed's stream
        method = get_method("stvg", args.method).build(provided, over, dataset)
        row = train_and_score(method, train, val, ann, seed)
        line = json.dumps({"method": args.method, "overrides": over, **row})
        print(line, flush=True)
        if args.log:
            with open(args.log, "a") as fh:
                fh.write(line + "\n")


def train_and_score(method, train, val, ann, seed: int) -> dict:  # noqa: ANN001
    """``method`` trained on ``train`` with ``seed`` (as the runner trains it), scored on ``val``:
    bench's metrics, the val loss terms and the box IoU with oracle time."""
    from i2vbench.benchmarks.runner import seed_everything
    from i2vbench.benchmarks.stvg import _score
    from i2vbench.methods.trainable import TrainingFree

    seed_everything(seed)
    t0, c0 = time.perf_counter(), time.process_time()
    history = method.fit(train, seed=seed, progress=False)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    preds = method.predict(val)
    terms: dict[str, float] = {}  # the loss terms on the first 96 val sentences (trained methods)
    if not isinstance(method, TrainingFree):
        with torch.no_grad():
            method.eval()
            for a in range(0, 96, 32):
                for k, v in method.loss(method.batch(val, np.arange(a, a + 32))).items():
                    terms[k] = terms.get(k, 0.0) + float(v) / 3

    class Fixed:
        def predict(self, split):  # noqa: ANN001, ANN202
            return preds

    metrics, _ = _score(ann)(Fixed(), "val", val)
    ious = oracle_time_iou(val, preds)
    return {"seed": seed, "split": "val",
            "train_s": round(train_s, 1), "train_cpu_s": round(train_cpu, 1),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "epoch_loss": [round(h, 2) for h in history],
            "val_loss_terms": {k: round(v, 3) for k, v in terms.items()},
            **{k: round(v, 2) for k, v in metrics.items() if "/" in k},
            **{f"oracle_time_box_iou/{k}": round(float(np.mean(v)), 4) for k, v in sorted(ious.items())},
            **{f"oracle_time_iou>=0.5/{k}": round(float(np.mean(np.array(v) >= 0.5)), 4)
               for k, v in sorted(ious.items())}}

if __name__ == "__main__":
    main()

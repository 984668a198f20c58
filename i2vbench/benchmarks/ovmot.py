"""``bench run --task ovmot``: open-vocabulary multi-object tracking on TAO-format data.

Data: by default the embedded SynthVid TAO set (``synthvid-tao``: JPEG frame folders, TAO GT
labelled at 1 fps, 6 base and 2 novel categories, the training file boxing base ones only).
With ``--dataset tao --data-root D`` the same runner reads a real TAO layout::

    D/annotations/train.json, validation.json [, test.json]    TAO GT (LVIS categories)
    D/frames/<video name>/*.jpg                                 every frame of each video

TAO's test GT is not public: without ``test.json``, ``test`` is the validation file and ``val``
(where choices are made) a deterministic held-out ``val_fraction`` of the training videos, never
trained on. Frame folders are found by listing ``frames/`` (a video name from the json never
becomes a path), a GT image is placed by its file name among its folder's sorted frames.

Features (computed once, cached): the frozen detector on every frame of the val/test videos with
the category names as phrases (boxes, per-name scores, region embeddings; boxes below
``keep_score`` dropped, class-agnostic NMS at ``nms_iou``), the ILFM's embeddings of each box's
crop and of each category prompt; for training, every labelled training frame as a still in two
views (as it is, and augmented), detected the same way and matched to its GT boxes (see
:class:`~i2vbench.methods.ovmot.base.Stills`).

Scoring: each method's TAO results json (what ``bench eval --task ovmot`` reads) is scored by
the registered TAO evaluator (TETA, LocA, AssocA, ClsA, and OVTrack's base/novel TETA), plus
``crossings/*``: TETA and its parts on the videos where two tracks cross (SynthVid's
``metadata.crossings``, absent on real data), where association is hardest.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from i2vbench.benchmarks.runner import (
    RunConfig,
    RunResult,
    TaskData,
    held_out,
    register_runner,
    seed_everything,
    train_and_evaluate,
)
from i2vbench.errors import BenchError

SPLITS = ("train", "val", "test")
REAL_FILES = {"train": "train.json", "val": "validation.json", "test": "test.json"}


class OVMOTRunConfig(RunConfig):
    """An OV-MOT run: the shared fields, the detector, and how detections are kept."""

    task: Literal["ovmot"] = "ovmot"
    dataset: str = "synthvid-tao"  # or "tao" with data_root
    detector: str = "tinyground"  # a grounder spec: tinyground, or owlvit:<save_pretrained dir>
    detector_weights: str | None = None
    keep_score: float = Field(0.1, ge=0, le=1)  # detections kept in the cache (methods threshold higher)
    nms_iou: float = Field(0.7, gt=0, le=1)
    crop_size: int = Field(0, ge=0)  # ILFM crop side; 0: the ILFM's image size
    val_fraction: float = Field(0.2, ge=0, lt=1)  # real data without test.json: training videos held out as val
    synthvid: dict[str, Any] = Field(default_factory=dict)  # build options (n_train, n_val, n_test)


# --- files -------------------------------------------------------------------------------------

def _frame_folders(frames_root: Path) -> dict[str, list[Path]]:
    """Every folder under ``frames_root`` holding JPEGs, by its relative posix path, with its
    sorted frames. Listing, never joining: a name from a json selects one of these or none."""
    out: dict[str, list[Path]] = {}
    for dirpath, _, files in os.walk(frames_root):
        jpgs = sorted(f for f in files if f.lower().endswith((".jpg", ".jpeg")))
        if jpgs:
            rel = Path(dirpath).relative_to(frames_root).as_posix()
            out[rel] = [Path(dirpath) / f for f in jpgs]
    return out


def _subset_gt(raw: dict, video_ids: set[int]) -> dict:
    """The TAO GT restricted to ``video_ids`` (same ids, same categories)."""
    keep_img = {im["id"] for im in raw["images"] if im["video_id"] in video_ids}
    return {**raw, "videos": [v for v in raw["videos"] if v["id"] in video_ids],
            "images": [im for im in raw["images"] if im["id"] in keep_img],
            "tracks": [t for t in raw.get("tracks", []) if t["video_id"] in video_ids],
            "annotations": [a for a in raw["annotations"] if a["image_id"] in keep_img]}


def load_splits(cfg: OVMOTRunConfig, work: Path, progress: bool) -> tuple[dict[str, Path], Path]:
    """(GT json per split, the frames root). Held-out subsets are written under ``work``."""
    from i2vbench.io import read_json

    if cfg.dataset == "synthvid-tao":
        if cfg.data_root is not None:
            raise BenchError("--data-root is for --dataset tao; the default runs the SynthVid TAO set")
        from i2vbench.datasets.synthvid.tao import build_tao

        built = build_tao(progress=progress, **{"seed": cfg.resolved_data_seed, **cfg.synthvid})
        return {s: built.gt_json(s) for s in SPLITS}, built.frames_dir
    if cfg.dataset != "tao":
        raise BenchError(f"dataset {cfg.dataset!r} is not an OV-MOT dataset `bench run` can train on; "
                         "use synthvid-tao (default) or tao with --data-root")
    if cfg.data_root is None:
        raise BenchError("--dataset tao needs --data-root (with annotations/ and frames/)")
    root = Path(cfg.data_root)
    files = {s: root / "annotations" / n for s, n in REAL_FILES.items()}
    for s in ("train", "val"):
        if not files[s].is_file():
            raise BenchError(f"--dataset tao: {files[s]} not found (expected annotations/train.json and "
                             "annotations/validation.json in --data-root)")
    if not (root / "frames").is_dir():
        raise BenchError(f"--dataset tao: {root / 'frames'} not found (the JPEG frame folders)")
    if files["test"].is_file():
        return files, root / "frames"
    raw = read_json(files["train"], "TAO ground-truth json")
    ids = [str(v["id"]) for v in raw.get("videos", [])]
    val = {int(i) for i in held_out(ids, cfg.val_fraction)}
    work.mkdir(parents=True, exist_ok=True)
    out = {"test": files["val"]}
    for s, keep in (("train", {int(i) for i in ids} - val), ("val", val)):
        if not keep:
            raise BenchError(f"--dataset tao: no {s} videos after holding out val_fraction={cfg.val_fraction} "
                             "of the training videos")
        out[s] = work / f"{s}.json"
        out[s].write_text(json.dumps(_subset_gt(raw, keep)), encoding="utf-8")
    return out, root / "frames"


# --- detections --------------------------------------------------------------------------------

class _Encoder:
    """Detector + ILFM on batches of frames: pruned detections with crop embeddings."""

    def __init__(self, cfg: OVMOTRunConfig, detector, backbone, phrases: list[str]) -> None:  # noqa: ANN001
        from i2vbench.methods.ovmot.detector import detector_id

        self.cfg, self.detector, self.backbone, self.phrases = cfg, detector, backbone, phrases
        self.crop_size = cfg.crop_size or backbone.image_size
        self.detector_id = detector_id(detector)

    def __call__(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        from i2vbench.methods.ovmot.detector import crop_batch, frame_detections

        det = self.detector.detect(frames, self.phrases)
        boxes, scores, emb = (np.asarray(x.float().numpy() if hasattr(x, "numpy") else x, np.float32)
                              for x in (det.boxes, det.scores, det.embeddings))
        cols: dict[str, list] = {"frame": [], "boxes": [], "scores": [], "region": []}
        for t in range(len(frames)):
            d = frame_detections(boxes[t], scores[t], emb[t], self.cfg.keep_score, self.cfg.nms_iou)
            cols["frame"].append(np.full(len(d.boxes), t, np.int64))
            cols["boxes"].append(d.boxes)
            cols["scores"].append(d.scores)
            cols["region"].append(d.embeddings)
        out = {k: np.concatenate(v) for k, v in cols.items()}
        if len(out["frame"]):
            with torch.no_grad():
                crops = crop_batch(frames, out["frame"], out["boxes"], self.crop_size)
                x = crops.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1)
                e = self.backbone.encode_frames(self.backbone.preprocess(x)).pooled.float()
                out["crop"] = torch.nn.functional.normalize(e, dim=-1).numpy()
        else:
            out["crop"] = np.zeros((0, self.backbone.embed_dim), np.float32)
        return out


def _read_frames(paths: list[Path]) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def _augment(frames: np.ndarray, boxes: list[np.ndarray], rng: np.random.Generator
             ) -> tuple[np.ndarray, list[np.ndarray]]:
    """A random affine view (scale 0.8-1.25, shift up to 15 %, horizontal flip) with brightness
    jitter, of each frame, and its GT boxes mapped the same way (clipped to the frame)."""
    import torch
    import torch.nn.functional as F

    n, h, w, _ = frames.shape
    s = rng.uniform(0.8, 1.25, n)
    f = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    d = rng.uniform(-0.3, 0.3, (n, 2))
    theta = np.zeros((n, 2, 3), np.float32)
    theta[:, 0, 0], theta[:, 0, 2] = 1 / (f * s), -d[:, 0] / (f * s)
    theta[:, 1, 1], theta[:, 1, 2] = 1 / s, -d[:, 1] / s
    x = torch.as_tensor(frames).permute(0, 3, 1, 2).float()
    grid = F.affine_grid(torch.as_tensor(theta), list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = y * torch.as_tensor(rng.uniform(0.8, 1.2, n), dtype=torch.float32).view(n, 1, 1, 1)
    out = y.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    mapped = []
    for i, b in enumerate(boxes):
        xs = (f[i] * s[i] * (2 * b[:, [0, 2]] / w - 1) + d[i, 0] + 1) * w / 2
        ys = (s[i] * (2 * b[:, [1, 3]] / h - 1) + d[i, 1] + 1) * h / 2
        mapped.append(np.stack([np.clip(xs.min(1), 0, w), np.clip(ys.min(1), 0, h),
                                np.clip(xs.max(1), 0, w), np.clip(ys.max(1), 0, h)], 1))
    return out, mapped


def _cache_key(cfg: OVMOTRunConfig, detector: str, backbone_id: str, gt: Path, what: str) -> str:  # noqa: ANN001
    h = hashlib.sha256()
    for part in ("ovmot-v1", detector, backbone_id, what, cfg.keep_score, cfg.nms_iou,
                 cfg.crop_size, cfg.resolved_data_seed, str(gt.resolve()), gt.stat().st_size,
                 hashlib.sha256(gt.read_bytes()).hexdigest()):
        h.update(str(part).encode() + b"\0")
    return h.hexdigest()[:16]


def _cached(path: Path, make) -> dict[str, np.ndarray]:  # noqa: ANN001
    from i2vbench.io import atomic_write_bytes

    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    arrays = make()
    import io as _io

    buf = _io.BytesIO()
    np.savez(buf, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    return arrays


def _video_frames(gt, folders: dict[str, list[Path]], gt_path: Path):  # noqa: ANN001, ANN202
    """(video row, name, frame paths, {frame position: image id}) for every video of ``gt``."""
    from i2vbench.io import read_json

    raw = read_json(gt_path, "TAO ground-truth json")
    files = {im["id"]: str(im.get("file_name", "")) for im in raw["images"]}
    out, missing = [], []
    for row, (vid, name) in enumerate(zip(gt.video_ids.tolist(), gt.video_names, strict=True)):
        paths = folders.get(name)
        if paths is None:
            missing.append(name)
            continue
        pos = {p.name: i for i, p in enumerate(paths)}
        images = {}
        for iid, v in gt.image_video.items():
            if v == vid:
                base = Path(files.get(iid, "")).name
                if base in pos:
                    images[pos[base]] = iid
                elif 0 <= gt.image_frame[iid] < len(paths):
                    images[gt.image_frame[iid]] = iid
        out.append((row, int(vid), name, paths, images))
    if missing:
        raise BenchError(f"{gt_path}: {len(missing)} videos have no frame folder under frames/ "
                         f"(e.g. {missing[0]!r})")
    return out


def prepare_split(cfg: OVMOTRunConfig, encoder: _Encoder, gt_path: Path, folders, cache: Path,  # noqa: ANN001
                  with_gray: bool, progress: bool):  # noqa: ANN201
    """Every video's detections (cached), as VideoDetections."""
    from tqdm import tqdm

    from i2vbench.datasets.tao import load_tao_gt
    from i2vbench.methods.ovmot.base import VideoDetections

    gt = load_tao_gt(gt_path)
    vids = _video_frames(gt, folders, gt_path)

    def make() -> dict[str, np.ndarray]:
        parts: dict[str, list] = {"video": [], "frame": [], "boxes": [], "scores": [], "region": [], "crop": []}
        for row, _, _, paths, _ in tqdm(vids, desc="detect", disable=not progress, leave=False):
            d = encoder(_read_frames(paths))
            parts["video"].append(np.full(len(d["frame"]), row, np.int64))
            for k in ("frame", "boxes", "scores", "region", "crop"):
                parts[k].append(d[k])
        return {k: np.concatenate(v) for k, v in parts.items()}

    key = _cache_key(cfg, encoder.detector_id, encoder.backbone.backbone_id, gt_path, "videos")
    z = _cached(cache / f"{key}.npz", make)
    out = []
    for row, vid, name, paths, images in vids:
        m = z["video"] == row
        gray = None
        if with_gray:
            gray = _read_frames(paths).astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            gray = gray.astype(np.uint8)
        out.append(VideoDetections(name, vid, len(paths), z["frame"][m], z["boxes"][m], z["scores"][m],
                                   z["region"][m], z["crop"][m], images, gray))
    return gt, out


def prepare_stills(cfg: OVMOTRunConfig, encoder: _Encoder, gt_path: Path, folders, cache: Path,  # noqa: ANN001
                   categories: list[dict], progress: bool):  # noqa: ANN201
    """The labelled training frames as stills in two views (see Stills), cached."""
    from scipy.optimize import linear_sum_assignment
    from tqdm import tqdm

    from i2vbench.datasets.tao import load_tao_gt
    from i2vbench.methods.ovmot.base import Stills, box_iou

    gt = load_tao_gt(gt_path)
    vids = _video_frames(gt, folders, gt_path)
    cat_index = {c["id"]: i for i, c in enumerate(categories)}
    row_of_image = {int(i): k for k, i in enumerate(gt.image_ids.tolist())}

    def make() -> dict[str, np.ndarray]:
        rng = np.random.default_rng([cfg.resolved_data_seed, 0x57])
        parts: dict[str, list] = {k: [] for k in ("still", "view", "region", "crop", "scores", "obj", "label",
                                                  "near", "near_iou")}
        n_still = 0
        for _, _, _, paths, images in tqdm(vids, desc="stills", disable=not progress, leave=False):
            todo = [(pos, row_of_image[iid]) for pos, iid in sorted(images.items()) if iid in row_of_image]
            if not todo:
                continue  # labelled frames without boxes teach no pairs
            gts, labels = [], []
            for _, k in todo:
                sel = np.flatnonzero(gt.box_frame == k)
                g = gt.boxes[sel].copy()
                g[:, 2:] += g[:, :2]
                gts.append(g)
                labels.append(np.array([cat_index.get(int(c), -1) for c in gt.box_category[sel]], np.int64))
            frames = _read_frames([paths[pos] for pos, _ in todo])
            aug, gts_aug = _augment(frames, gts, rng)
            for view, (imgs, boxes_of) in enumerate(((frames, gts), (aug, gts_aug))):
                d = encoder(imgs)  # every still of the video in one batch
                for i in range(len(todo)):
                    m = d["frame"] == i
                    det_boxes, boxes = d["boxes"][m], boxes_of[i]
                    obj = np.full(int(m.sum()), -1, np.int64)
                    lab = np.full(int(m.sum()), -1, np.int64)
                    near, near_iou = obj.copy(), np.zeros(len(obj), np.float32)
                    if len(obj) and len(boxes):
                        iou = box_iou(det_boxes, boxes)
                        r, c = linear_sum_assignment(-iou)
                        ok = iou[r, c] >= 0.5
                        obj[r[ok]] = (n_still + i) * 1000 + c[ok]
                        lab[r[ok]] = labels[i][c[ok]]
                        near = (n_still + i) * 1000 + iou.argmax(1)
                        near_iou = iou.max(1).astype(np.float32)
                    for name, val in (("still", np.full(len(obj), n_still + i)), ("view", np.full(len(obj), view)),
                                      ("region", d["region"][m]), ("crop", d["crop"][m]),
                                      ("scores", d["scores"][m]), ("obj", obj), ("label", lab),
                                      ("near", near), ("near_iou", near_iou)):
                        parts[name].append(val)
            n_still += len(todo)
        return {k: np.concatenate(v) for k, v in parts.items()}

    # v2: with each detection's most-overlapped object (near, near_iou), for QDTrack's sampling
    key = _cache_key(cfg, encoder.detector_id, encoder.backbone.backbone_id, gt_path, "stills-v2")
    z = _cached(cache / f"{key}.npz", make)
    return Stills(z["still"], z["view"], z["region"], z["crop"], z["scores"], z["obj"], z["label"],
                  z["near"], z["near_iou"])


# --- scoring -----------------------------------------------------------------------------------

def _scorer(gt_paths: dict[str, Path], work: Path):  # noqa: ANN202
    """score(method, split name, split): metrics of the TAO results json it writes."""
    import warnings

    from i2vbench.datasets.tao import load_tao_gt
    from i2vbench.io import read_json
    from i2vbench.metrics.teta import evaluate_files

    crossing_gt: dict[str, tuple[Path, set[int]] | None] = {}
    for s, p in gt_paths.items():
        raw = read_json(p, "TAO ground-truth json")
        ids = {v["id"] for v in raw["videos"] if (v.get("metadata") or {}).get("crossings")}
        if ids and s != "train":
            q = work / f"{s}-crossings.json"
            q.write_text(json.dumps(_subset_gt(raw, ids)), encoding="utf-8")
            images = {im["id"] for im in raw["images"] if im["video_id"] in ids}
            crossing_gt[s] = (q, images)
            load_tao_gt(q)  # fail early on a bad subset
        else:
            crossing_gt[s] = None

    def score(method, split_name: str, split) -> tuple[dict[str, float], list[dict]]:  # noqa: ANN001
        rows = method.predict(split)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            pred = Path(tmp) / "results.json"
            pred.write_text(json.dumps(rows), encoding="utf-8")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = evaluate_files(gt_paths[split_name], pred, hota=False)
                sub = crossing_gt.get(split_name)
                if sub is not None:
                    pred.write_text(json.dumps([r for r in rows if r["image_id"] in sub[1]]), encoding="utf-8")
                    cm = evaluate_files(sub[0], pred, hota=False)
                    m.update({f"crossings/{k}": cm[k] for k in ("TETA", "LocA", "AssocA", "ClsA")})
        return m, rows

    return score


# --- the run -----------------------------------------------------------------------------------

def _load_grounder(spec: str, weights: str | None):  # noqa: ANN202
    from i2vbench.methods.backbones.grounding import load_grounder

    return load_grounder(spec, weights)


def category_texts(backbone, gt_paths: dict[str, Path]):  # noqa: ANN001, ANN201
    """The test file's categories (by id), which of them are base (labelled in training), their
    phrases, the ILFM's normalised embeddings of "a <phrase>" and its logit scale."""
    import torch

    from i2vbench.io import read_json

    categories = read_json(gt_paths["test"], "TAO ground-truth json")["categories"]
    categories = sorted(({k: c.get(k) for k in ("id", "name", "frequency")} for c in categories),
                        key=lambda c: c["id"])
    labelled = {a["category_id"] for a in read_json(gt_paths["train"], "TAO ground-truth json")["annotations"]}
    base = np.array([c["id"] in labelled for c in categories])
    phrases = [str(c["name"]).replace("_", " ") for c in categories]
    with torch.no_grad():
        text = backbone.encode_text([f"a {p}" for p in phrases]).pooled.float()
        text = torch.nn.functional.normalize(text, dim=-1).numpy()
    scale = float(backbone.logit_scale.detach().exp().clamp(max=100)) if hasattr(backbone, "logit_scale") else 100.0
    return categories, base, phrases, text, scale


@register_runner("ovmot", OVMOTRunConfig)
def run_ovmot(cfg: OVMOTRunConfig, progress: bool = True) -> RunResult:

    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.ovmot.base import OVMOTSplit
    from i2vbench.methods.registry import Lazy
    from i2vbench.paths import cache_dir

    seed_everything(cfg.resolved_data_seed)
    cache = cache_dir() / "ovmot"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work_s:
        work = Path(work_s)
        gt_paths, frames_root = load_splits(cfg, work, progress)
        backbone = load_backbone(cfg.backbone, cfg.pretrained).eval()
        detector = _load_grounder(cfg.detector, cfg.detector_weights)
        categories, base, phrases, text, scale = category_texts(backbone, gt_paths)
        t0 = time.perf_counter()
        encoder = _Encoder(cfg, detector, backbone, phrases)
        folders = _frame_folders(frames_root)
        splits = {}
        for s in ("val", "test"):
            _, videos = prepare_split(cfg, encoder, gt_paths[s], folders, cache, True, progress)
            splits[s] = OVMOTSplit(categories, base, text, scale, videos)
        stills = prepare_stills(cfg, encoder, gt_paths["train"], folders, cache, categories, progress)
        train = OVMOTSplit(categories, base, text, scale, [], stills)
        feature_s = time.perf_counter() - t0
        if len(stills) == 0:
            raise BenchError(f"{gt_paths['train']}: no labelled training frame with boxes")
        provided = {"region_dim": int(stills.region.shape[1]), "embed_dim": int(text.shape[1]),
                    "num_categories": len(categories), "backbone": Lazy(lambda: backbone)}
        data = TaskData(
            dataset=cfg.dataset, train=train, eval_splits={"test": splits["test"], "val": splits["val"]},
            inputs=set(), missing_why="", provided=provided, score=_scorer(gt_paths, work),
            prediction_format="json",
            # OVTrack's base / novel split, and association where tracks cross
            table_metrics=("base/TETA", "novel/TETA", "crossings/AssocA"),
            stats={"feature_s": round(feature_s, 3), "detector": encoder.detector_id,
                   "n_categories": len(categories), "n_base": int(base.sum()), "n_stills": len(stills),
                   **{f"n_{s}_videos": len(splits[s].videos) for s in ("val", "test")}},
        )
        [result] = train_and_evaluate(cfg, [data], progress)
    # both image models the methods stand on: the grounder (Grounding DINO's role) and the ILFM
    return RunResult("ovmot", f"{encoder.detector_id}+{backbone.backbone_id}", [result])

"""Build the STVG parity cases in this folder (run from the repo root: python tests/data/stvg/make_cases.py).

* ``cases_gt.json`` / ``cases_pred.json``: hand-built queries, one per edge case (see CASES below);
* ``random_gt.json.gz`` / ``random_pred.json.gz``: 160 seeded random queries over 5 frame rates.

Both GT files are in TubeDETR's processed VidSTG form; predictions are in the ``bench eval`` form.
The expected numbers in tests/test_metrics_stvg.py come from TubeDETR's own evaluator run on these
files (see that file).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FPS = {"vA": 29.97002997002997, "vB": 25, "vC": 23.976023976023978, "vD": 30, "vE": 24}


def _sampled(start: int, end: int, fps: float, max_len: int = 200) -> list[int]:
    # written out independently of i2vbench (plain loop over the native frames)
    rate = 5 / fps
    ids = [start]
    for f in range(start, end):
        if int(ids[-1] * rate) < int(f * rate):
            ids.append(f)
    if len(ids) > max_len:
        ids = [ids[(j * len(ids)) // max_len] for j in range(max_len)]
    return ids


def gt_box(vid: str, tid: int, f: int) -> list[float]:
    """A smoothly moving xywh box, different per tube."""
    x = 10 + 3 * tid + 0.5 * (f % 97)
    y = 20 + 2 * tid + 0.25 * (f % 53)
    return [x, y, 40 + tid, 30 + 2 * tid]


def xyxy(b: list[float]) -> list[float]:
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


# (name, video, target, segment [start, end), GT tube [start, end), qtype, predicted sted, box mode)
CASES = [
    ("exact", "vA", 0, (0, 300), (60, 180), "declarative", [60, 180], "exact"),
    ("empty_pred_tube", "vA", 0, (0, 300), (60, 180), "interrogative", [100, 100], "exact"),
    ("disjoint_after_gap", "vB", 1, (10, 400), (20, 120), "declarative", [200, 300], "exact"),
    ("partial_overlap", "vB", 1, (10, 400), (20, 120), "interrogative", [80, 250], "shift"),
    ("iou_exactly_0.5", "vC", 2, (0, 240), (30, 150), "declarative", [30, 150], "half"),
    ("iou_near_0.3", "vC", 2, (0, 240), (30, 150), "interrogative", [30, 150], "iou03"),
    ("iou_near_0.3_one_frame", "vE", 3, (0, 100), (48, 50), "declarative", [48, 50], "iou03"),
    # h = 30 for target 0, so each frame's IoU is 9w / 30w == 0.3 exactly; summed in frame order,
    # 5 frames give vIoU == 0.3 (not > 0.3) and 32 frames give 0.30000000000000004 (> 0.3)
    ("iou_0.3_five_frames", "vE", 0, (0, 400), (48, 72), "interrogative", [48, 72], "iou03"),
    ("iou_0.3_32_frames", "vE", 0, (0, 400), (48, 200), "declarative", [48, 200], "iou03"),
    ("long_capped_200", "vD", 4, (100, 2500), (900, 1700), "declarative", [1000, 2000], "shift"),
    ("tube_end_eq_frame_count", "vE", 5, (0, 239), (120, 240), "interrogative", [100, 239], "first_of_two"),
    ("empty_gt_tube", "vE", 5, (0, 239), (120, 120), "declarative", [100, 200], "exact"),
    ("reversed_pred", "vA", 6, (30, 330), (90, 210), "declarative", [200, 100], "exact"),
    ("float_sted", "vB", 7, (0, 200), (40, 160), "interrogative", [12.5, 140.7], "shift"),
    ("zero_area_pred", "vC", 8, (0, 200), (50, 100), "declarative", [50, 100], "zero_area"),
    ("pred_before_segment", "vD", 9, (300, 600), (300, 400), "interrogative", [-50.0, 350.0], "shift"),
    ("pred_inside_gt", "vA", 10, (0, 600), (100, 500), "declarative", [200, 300], "shift"),
    ("gt_inside_pred", "vA", 10, (0, 600), (100, 500), "interrogative", [0, 600], "shift"),
]


def pred_box(mode: str, g: list[float], f: int) -> list[list[float]]:
    x1, y1, x2, y2 = xyxy(g)
    w, h = x2 - x1, y2 - y1
    if mode == "exact":
        return [[x1, y1, x2, y2]]
    if mode == "half":  # same x extent, top half: IoU = 0.5 exactly
        return [[x1, y1, x2, y1 + h / 2]]
    if mode == "iou03":  # box of 0.3 of the GT area inside it: IoU = 0.3 (as a float division)
        return [[x1, y1, x1 + w, y1 + h * 3 / 10]]
    if mode == "shift":  # shifted by a frame-dependent amount
        d = (f % 7) * 2.0
        return [[x1 + d, y1 + d / 2, x2 + d, y2 + d / 2]]
    if mode == "first_of_two":  # the first box is off, the second perfect: only the first counts
        return [[x1 + w / 2, y1, x2 + w / 2, y2], [x1, y1, x2, y2]]
    if mode == "zero_area":
        return [[x1 + 5, y1 + 5, x1 + 5, y2]]
    raise ValueError(mode)


def build_cases() -> tuple[dict, dict]:
    videos, traj, pvideos, pboxes = [], {}, [], []
    for i, (name, vid, tid, seg, tube, qtype, sted, mode) in enumerate(CASES):
        fps = FPS[vid]
        videos.append({
            "video_id": i, "original_video_id": vid, "frame_count": seg[1] + 1, "fps": fps,
            "width": 640, "height": 360, "start_frame": seg[0], "end_frame": seg[1],
            "tube_start_frame": tube[0], "tube_end_frame": tube[1], "video_path": f"0000/{vid}.mp4",
            "caption": name.replace("_", " "), "type": "person", "target_id": tid, "qtype": qtype,
        })
        # the whole tube at native frame rate, one frame beyond each end of the GT moment
        tube_boxes = traj.setdefault(vid, {}).setdefault(str(tid), {})
        for f in range(max(tube[0] - 1, 0), tube[1] + 1):
            tube_boxes[str(f)] = {"bbox": gt_box(vid, tid, f), "generated": 0, "tracker": "none", "category_id": 0}
        pvideos.append({"video_id": i, "sted": sted, "qtype": qtype})
        for f in _sampled(seg[0], seg[1], fps):  # like TubeDETR: a box on every sampled frame
            pboxes.append({"image_id": f"{i}_{f}", "boxes": pred_box(mode, gt_box(vid, tid, f), f)})
    return {"videos": videos, "trajectories": traj}, {"videos": pvideos, "boxes": pboxes}


def build_random(n: int = 160, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    fps_list = list(FPS.values())
    videos, traj, pvideos, pboxes = [], {}, [], []
    for i in range(n):
        vid = f"r{i // 2}"  # two queries per video, on different targets
        tid = i % 2
        fps = fps_list[int(rng.integers(len(fps_list)))]
        start = int(rng.integers(0, 200))
        end = start + int(rng.integers(30, 1500))
        ts = int(rng.integers(start, end - 10))
        te = int(rng.integers(ts + 1, end + 2))  # may end one frame after the segment (the VidSTG quirk)
        qtype = "declarative" if rng.random() < 0.45 else "interrogative"
        videos.append({
            "video_id": i, "original_video_id": vid, "frame_count": end + 1, "fps": fps, "width": 640,
            "height": 360, "start_frame": start, "end_frame": end, "tube_start_frame": ts,
            "tube_end_frame": te, "video_path": f"0000/{vid}.mp4", "caption": f"query {i}",
            "type": "object", "target_id": tid, "qtype": qtype,
        })
        frames = _sampled(start, end, fps)
        gt = {}
        for f in frames:
            if ts <= f < te:
                x, y = rng.integers(0, 500), rng.integers(0, 250)
                w, h = rng.integers(5, 140), rng.integers(5, 110)
                gt[f] = [int(x), int(y), int(w), int(h)]
        traj.setdefault(vid, {})[str(tid)] = {str(f): {"bbox": b} for f, b in gt.items()}
        # predicted moment: around the GT, sometimes far off, sometimes empty
        u = rng.random()
        if u < 0.1:
            ps, pe = ts + 5, ts + 5
        elif u < 0.25:
            ps = int(rng.integers(start, end))
            pe = ps + int(rng.integers(1, 300))
        else:
            ps = ts + int(rng.normal(0, 15))
            pe = te + int(rng.normal(0, 15))
        pvideos.append({"video_id": i, "sted": [float(ps), float(pe)], "qtype": qtype})
        for f in frames:
            if f in gt:
                x, y, w, h = gt[f]
                jit = rng.normal(0, 0.06 * (w + h) / 2, 4) if rng.random() < 0.9 else rng.normal(0, 200, 4)
                b = [x + jit[0], y + jit[1], x + w + jit[2], y + h + jit[3]]
                b = [round(min(b[0], b[2]), 1), round(min(b[1], b[3]), 1), round(max(b[0], b[2]), 1),
                     round(max(b[1], b[3]), 1)]
            else:
                b = [float(rng.integers(0, 300)), float(rng.integers(0, 200)), 400.0, 300.0]
            pboxes.append({"image_id": f"{i}_{f}", "boxes": [b]})
    return {"videos": videos, "trajectories": traj}, {"videos": pvideos, "boxes": pboxes}


def main() -> None:
    gt, pred = build_cases()
    (HERE / "cases_gt.json").write_text(json.dumps(gt))
    (HERE / "cases_pred.json").write_text(json.dumps(pred))
    gt, pred = build_random()
    for name, obj in (("random_gt.json.gz", gt), ("random_pred.json.gz", pred)):
        with gzip.GzipFile(HERE / name, "wb", mtime=0) as f:
            f.write(json.dumps(obj).encode())


if __name__ == "__main__":
    main()

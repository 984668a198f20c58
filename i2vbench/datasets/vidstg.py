"""VidSTG (spatio-temporal video grounding) annotations, in both forms people have on disk.

* the original VidSTG json (``{train,val,test}_annotations.json`` of Guaranteer/VidSTG-Dataset):
  a list of relation instances, each with 1 caption and 0-2 questions, but **no boxes**; boxes
  come from VidOR and can be supplied with ``trajectories=`` (a VidOR annotation folder, or
  TubeDETR's ``vidor_{training,validation}.json``);
* TubeDETR's processed json (``{train,val,test}.json`` made by ``preproc/preproc_vidstg.py``):
  ``{"videos": [one record per sentence], "trajectories": {vid: {tid: {frame: {"bbox": xywh}}}}}``.

Both become one :class:`VidSTGAnnotations` with one row per sentence (query), numbered the way
TubeDETR numbers them (per entry: questions first, then the caption), so predictions made against
TubeDETR's ``test.json`` score the same against the original ``test_annotations.json``.

Frame conventions (TubeDETR's loader and evaluator): ``start_frame`` is included, ``end_frame``
and ``tube_end_frame`` are excluded; frames are sampled by :func:`sample_frames`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from i2vbench.datasets.registry import register_dataset
from i2vbench.errors import BenchError, where
from i2vbench.io import read_json, short_repr

QTYPES = ("declarative", "interrogative")
DEFAULT_FPS = 5.0  # TubeDETR's default sampling rate for VidSTG
DEFAULT_MAX_LEN = 200  # TubeDETR's video_max_len at test time

# trajectories[original_video_id][str(target_id)][str(frame)] -> {"bbox": [x, y, w, h], ...}
Trajectories = Mapping[str, Mapping[str, Mapping[str, Any]]]


@dataclass
class VidSTGAnnotations:
    """One row per query (sentence); columns are aligned arrays/lists of length ``len(self)``."""

    path: Path
    video_ids: list[str]  # the query id as a string (TubeDETR's int ``video_id``)
    original_video_ids: list[str]  # VidOR video id
    target_ids: np.ndarray  # int64, VidOR trajectory id of the referred object
    qtypes: np.ndarray  # str: "declarative" | "interrogative"
    captions: list[str]
    fps: np.ndarray  # float64, native frame rate
    start_frame: np.ndarray  # int64, used segment start (included)
    end_frame: np.ndarray  # int64, used segment end (excluded)
    tube_start: np.ndarray  # int64, GT moment start (included)
    tube_end: np.ndarray  # int64, GT moment end (excluded)
    trajectories: Trajectories | None = None  # None: the file has no boxes (original VidSTG json)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.video_ids)

    @property
    def has_boxes(self) -> bool:
        return self.trajectories is not None

    def index(self) -> dict[str, int]:
        """Query id → row."""
        return {v: i for i, v in enumerate(self.video_ids)}


def sample_frames(start: np.ndarray, end: np.ndarray, fps: np.ndarray, target_fps: float = DEFAULT_FPS,
                  max_len: int = DEFAULT_MAX_LEN) -> tuple[np.ndarray, np.ndarray]:
    """The native frame ids TubeDETR feeds its model (and scores), for all queries at once.

    TubeDETR keeps ``start`` and then every frame ``f`` of ``[start, end)`` where
    ``int(f * target_fps / fps)`` increases; if that gives more than ``max_len`` frames it keeps
    ``frames[(j * n) // max_len]`` for ``j < max_len``. An empty segment still yields ``[start]``.
    Frame numbers are non-negative (as the loaders enforce), so ``int()`` is ``floor``.
    Returns ``(frames, offsets)``: query ``i`` owns ``frames[offsets[i]:offsets[i + 1]]``.
    """
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    rate = target_fps / np.asarray(fps, dtype=np.float64)  # same IEEE division as Python's fps / video_fps
    n = len(start)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(1, np.int64)
    # Frame f is kept iff floor(f * rate) exceeds that of the previous kept frame; floor(f * rate) is
    # non-decreasing in f, so the kept frames after `start` are, for each level m in
    # (floor(start * rate), floor((end - 1) * rate)], the first frame reaching m. Solve for it directly
    # (ceil(m / rate), then fix the float rounding against floor(f * rate) itself) instead of scanning
    # every native frame: ~6x fewer elements at 30 fps.
    k0 = np.floor(start * rate)
    kmax = np.where(end > start, np.floor((end - 1) * rate), k0)
    levels = np.maximum(kmax - k0, 0).astype(np.int64)
    lq = np.repeat(np.arange(n), levels)
    l_off = np.zeros(n + 1, np.int64)
    np.cumsum(levels, out=l_off[1:])
    m = k0[lq] + 1 + (np.arange(l_off[-1], dtype=np.int64) - l_off[lq])
    r = rate[lq]
    c = np.ceil(m / r).astype(np.int64)
    for _ in range(16):
        down = np.floor((c - 1) * r) >= m  # an earlier frame already reaches m
        up = np.floor(c * r) < m  # c does not reach m yet
        if not (down.any() or up.any()):
            break
        c += up.astype(np.int64) - down.astype(np.int64)
    else:  # pragma: no cover - the ceil estimate is off by at most a couple of frames
        raise RuntimeError("frame sampling did not converge")
    # each query: its start, then the first frame of each level (a frame reaching two levels at once,
    # only possible when rate > 1, is kept once)
    block = np.arange(n) + l_off[:-1]  # query i's block: its start, then its levels in order
    kept = np.empty(n + len(c), np.int64)
    kept[block] = start
    kept[block[lq] + 1 + (np.arange(len(c)) - l_off[lq])] = c
    kq = np.repeat(np.arange(n), levels + 1)
    dup = np.zeros(len(kept), bool)
    dup[1:] = (kq[1:] == kq[:-1]) & (kept[1:] == kept[:-1])
    kq, kept = kq[~dup], kept[~dup]
    counts = np.bincount(kq, minlength=n)
    k_off = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=k_off[1:])
    out_counts = np.minimum(counts, max_len)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(out_counts, out=offsets[1:])
    oq = np.repeat(np.arange(n), out_counts)
    j = np.arange(offsets[-1], dtype=np.int64) - offsets[oq]
    cq = counts[oq]
    pos = np.where(cq > max_len, (j * cq) // max_len, j)
    return kept[k_off[oq] + pos], offsets


def _require(cond: bool, path: Path, key: str, expected: str) -> None:
    if not cond:
        raise BenchError(f"{where(path, key=key)}: expected {expected}")


# Budgets checked while reading, before frames are sampled (sample_frames allocates per frame of
# a segment: a 1e9-frame range once took gigabytes before any check). VidSTG's longest video is
# under 3 minutes; these allow hours.
MAX_FRAME = 10_000_000
MAX_FPS = 1000.0


def _int(v: Any, path: Path, key: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_FRAME:
        raise BenchError(f"{where(path, key=key)}: expected a non-negative integer (at most {MAX_FRAME}), got "
                         f"{short_repr(v)}")
    return v


def _fps(v: Any, path: Path, key: str) -> float:
    if not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= MAX_FPS):  # NaN fails too
        raise BenchError(f"{where(path, key=key)}: expected a positive frame rate (at most {MAX_FPS:g}), got "
                         f"{short_repr(v)}")
    return float(v)


def _check_ranges(path: Path, key: str, row: dict[str, Any]) -> None:
    """A segment and a GT tube each run forwards (end >= start), as TubeDETR reads them."""
    for a, b, what in (("start_frame", "end_frame", "used segment"),
                       ("tube_start_frame", "tube_end_frame", "GT tube")):
        if row[b] < row[a]:
            raise BenchError(f"{where(path, key=key)}: {what} ends before it starts ({row[a]} > {row[b]})")


def _columns(path: Path, rows: list[dict[str, Any]], trajectories: Trajectories | None,
             fmt: str) -> VidSTGAnnotations:
    ids = [r["video_id"] for r in rows]
    seen: set[str] = set()
    for i, v in enumerate(ids):
        if v in seen:
            raise BenchError(f"{where(path, key=f'videos[{i}].video_id')}: duplicate query id {v!r}")
        seen.add(v)
    return VidSTGAnnotations(
        path=path,
        video_ids=ids,
        original_video_ids=[r["original_video_id"] for r in rows],
        target_ids=np.array([r["target_id"] for r in rows], np.int64),
        qtypes=np.array([r["qtype"] for r in rows], dtype=object),
        captions=[r["caption"] for r in rows],
        fps=np.array([r["fps"] for r in rows], np.float64),
        start_frame=np.array([r["start_frame"] for r in rows], np.int64),
        end_frame=np.array([r["end_frame"] for r in rows], np.int64),
        tube_start=np.array([r["tube_start_frame"] for r in rows], np.int64),
        tube_end=np.array([r["tube_end_frame"] for r in rows], np.int64),
        trajectories=trajectories,
        meta={"format": fmt},
    )


def _processed(path: Path, data: dict[str, Any]) -> VidSTGAnnotations:
    videos, traj = data.get("videos"), data.get("trajectories")
    _require(isinstance(videos, list), path, "videos", "a list of query records")
    _require(isinstance(traj, dict), path, "trajectories", "an object {video: {target_id: {frame: {bbox}}}}")
    rows = []
    for i, v in enumerate(videos):
        key = f"videos[{i}]"
        _require(isinstance(v, dict), path, key, "an object")
        for k in ("video_id", "original_video_id", "fps", "start_frame", "end_frame", "tube_start_frame",
                  "tube_end_frame", "target_id", "qtype"):
            _require(k in v, path, f"{key}.{k}", "this field (TubeDETR's processed VidSTG format)")
        _require(v["qtype"] in QTYPES, path, f"{key}.qtype", f"one of {QTYPES}, got {v['qtype']!r}")
        rows.append({
            "video_id": str(v["video_id"]),
            "original_video_id": str(v["original_video_id"]),
            "target_id": _int(v["target_id"], path, f"{key}.target_id"),
            "qtype": v["qtype"],
            "caption": str(v.get("caption", "")),
            "fps": _fps(v["fps"], path, f"{key}.fps"),
            **{k: _int(v[k], path, f"{key}.{k}")
               for k in ("start_frame", "end_frame", "tube_start_frame", "tube_end_frame")},
        })
        _check_ranges(path, key, rows[-1])
    return _columns(path, rows, traj, "tubedetr")


def _original(path: Path, data: list[Any], trajectories: Trajectories | None) -> VidSTGAnnotations:
    rows = []
    for i, e in enumerate(data):
        key = f"[{i}]"
        _require(isinstance(e, dict), path, key, "an object (a VidSTG relation instance)")
        for k in ("vid", "fps", "used_segment", "temporal_gt"):
            _require(k in e, path, f"{key}.{k}", "this field (original VidSTG format)")
        seg, tgt = e["used_segment"], e["temporal_gt"]
        _require(isinstance(seg, dict) and isinstance(tgt, dict), path, key,
                 "used_segment and temporal_gt as {begin_fid, end_fid}")
        base = {
            "original_video_id": str(e["vid"]),
            "fps": _fps(e["fps"], path, f"{key}.fps"),
            "start_frame": _int(seg.get("begin_fid"), path, f"{key}.used_segment.begin_fid"),
            "end_frame": _int(seg.get("end_fid"), path, f"{key}.used_segment.end_fid"),
            "tube_start_frame": _int(tgt.get("begin_fid"), path, f"{key}.temporal_gt.begin_fid"),
            "tube_end_frame": _int(tgt.get("end_fid"), path, f"{key}.temporal_gt.end_fid"),
        }
        _check_ranges(path, key, base)
        # TubeDETR's preproc_vidstg.py order: questions (interrogative) first, then captions
        for field_name, qtype in (("questions", "interrogative"), ("captions", "declarative")):
            sentences = e.get(field_name, [])
            _require(isinstance(sentences, list), path, f"{key}.{field_name}", "a list")
            for j, s in enumerate(sentences):
                skey = f"{key}.{field_name}[{j}]"
                _require(isinstance(s, dict) and "target_id" in s, path, skey, "{description, type, target_id}")
                rows.append({**base, "video_id": str(len(rows)), "qtype": qtype,
                             "target_id": _int(s["target_id"], path, f"{skey}.target_id"),
                             "caption": str(s.get("description", ""))})
    return _columns(path, rows, trajectories, "vidstg")


def load_vidor_trajectories(source: str | Path, video_ids: set[str] | None = None) -> dict[str, dict]:
    """VidOR box tubes as ``{vid: {str(tid): {str(frame): {"bbox": [x, y, w, h]}}}}`` (TubeDETR's layout).

    ``source`` is either a VidOR annotation folder (``<folder>/<vid>.json`` files with per-frame
    ``trajectories`` of ``{tid, bbox: {xmin, ymin, xmax, ymax}}``, any depth) or TubeDETR's
    ``vidor_{training,validation}.json`` (``{vid: {"trajectories": {tid: {frame: {"bbox": xywh}}}}}``).
    Only ``video_ids`` are read when given.
    """
    src = Path(source)
    if src.is_file():
        data = read_json(src, "VidOR trajectories json")
        _require(isinstance(data, dict), src, "(top level)", "{video_id: {trajectories: ...}}")
        out = {}
        for vid, rec in data.items():
            if video_ids is not None and vid not in video_ids:
                continue
            _require(isinstance(rec, dict) and isinstance(rec.get("trajectories"), dict), src, vid,
                     "an object with trajectories {tid: {frame: {bbox}}}")
            out[vid] = {str(t): {str(f): b for f, b in frames.items()} for t, frames in rec["trajectories"].items()}
        return out
    if not src.is_dir():
        raise BenchError(f"VidOR trajectories not found: {src} (expected a VidOR annotation folder or json)")
    files = {p.stem: p for p in src.rglob("*.json")}
    out = {}
    for vid in sorted(video_ids if video_ids is not None else files):
        if vid not in files:
            continue  # reported as a missing box by whoever needs it
        p = files[vid]
        ann = read_json(p, "VidOR annotation")
        _require(isinstance(ann, dict) and isinstance(ann.get("trajectories"), list), p, "trajectories",
                 "a list (one entry per frame) of [{tid, bbox: {xmin, ymin, xmax, ymax}}]")
        tubes: dict[str, dict[str, dict]] = {}
        for i_frame, boxes in enumerate(ann["trajectories"]):
            for b in boxes:
                bb = b["bbox"]
                tubes.setdefault(str(b["tid"]), {})[str(i_frame)] = {
                    "bbox": [bb["xmin"], bb["ymin"], bb["xmax"] - bb["xmin"], bb["ymax"] - bb["ymin"]]}
        out[vid] = tubes
    return out


def load_vidstg(path: str | Path, trajectories: str | Path | None = None) -> VidSTGAnnotations:
    """Read VidSTG annotations in either form (see the module docstring); boxes are optional.

    ``trajectories`` (VidOR folder or ``vidor_*.json``) adds boxes to an original VidSTG json,
    or replaces those of a TubeDETR json.
    """
    p = Path(path)
    data = read_json(p, "VidSTG annotation json")
    if isinstance(data, dict) and "videos" in data:
        ann = _processed(p, data)
    elif isinstance(data, list):
        ann = _original(p, data, None)
    else:
        raise BenchError(f"{p}: expected VidSTG annotations: the original list of relation instances, "
                         "or TubeDETR's processed {\"videos\": [...], \"trajectories\": {...}}")
    if trajectories is not None:
        ann.trajectories = load_vidor_trajectories(trajectories, set(ann.original_video_ids))
    return ann


def gt_boxes(ann: VidSTGAnnotations, frames: np.ndarray, offsets: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """GT boxes (xyxy) on the sampled frames inside each query's GT moment, as TubeDETR builds them.

    Returns ``(index, boxes)``: ``index`` into ``frames`` of each sampled frame with
    ``tube_start <= f < tube_end`` (in query order, then frame order) and its box ``[x1, y1, x2, y2]``.
    """
    if ann.trajectories is None:
        raise BenchError(f"{ann.path}: has no boxes; pass the VidOR trajectories to score vIoU")
    q = np.repeat(np.arange(len(ann)), np.diff(offsets))
    in_gt = (ann.tube_start[q] <= frames) & (frames < ann.tube_end[q])
    idx = np.flatnonzero(in_gt)
    traj = ann.trajectories
    # Reading the boxes is a dict lookup per GT frame (that is what JSON gives us); done per query
    # with C-level map()s, and with located errors on the slow path only.
    counts = np.bincount(q[idx], minlength=len(ann)).tolist()
    keys = list(map(str, frames[idx].tolist()))
    bboxes: list[Any] = []
    pos = 0
    for qi, k in enumerate(counts):
        if not k:
            continue
        vid, tid = ann.original_video_ids[qi], str(int(ann.target_ids[qi]))
        tube = traj.get(vid, {}).get(tid) if isinstance(traj.get(vid), Mapping) else None
        if not isinstance(tube, Mapping):
            raise BenchError(f"{where(ann.path, key=f'trajectories[{vid!r}][{tid!r}]')}: "
                             f"expected the box tube of query {ann.video_ids[qi]!r}")
        try:
            bboxes += [rec["bbox"] for rec in map(tube.__getitem__, keys[pos:pos + k])]
        except (KeyError, TypeError):
            f = next(f for f in keys[pos:pos + k] if not (isinstance(tube.get(f), Mapping) and "bbox" in tube[f]))
            raise BenchError(f"{where(ann.path, key=f'trajectories[{vid!r}][{tid!r}][{f!r}]')}: expected the GT "
                             f"box on frame {f} inside the GT moment of query {ann.video_ids[qi]!r}") from None
        pos += k
    try:
        boxes = np.array(bboxes, np.float64).reshape(len(idx), 4)
        ok = bool(np.isfinite(boxes).all())
    except (TypeError, ValueError):
        ok = False
    if not ok:
        bad = next(i for i, b in enumerate(bboxes) if not (
            isinstance(b, list) and len(b) == 4
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) for x in b)))
        qi = int(q[idx[bad]])
        raise BenchError(f"{where(ann.path, key=f'trajectories[{ann.original_video_ids[qi]!r}]')}: expected bbox "
                         f"[x, y, w, h] (4 finite numbers) on frame {keys[bad]}, got {bboxes[bad]!r}")
    boxes[:, 2] += boxes[:, 0]
    boxes[:, 3] += boxes[:, 1]
    return idx, boxes


register_dataset("vidstg", ("stvg",), "VidSTG (VidOR videos; declarative and interrogative sentences), "
                 "original json or TubeDETR's processed json", load=load_vidstg)

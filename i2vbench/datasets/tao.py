"""TAO (Tracking Any Object) ground truth and tracker results, read into flat numpy columns.

TAO's GT is a COCO-like JSON (``videos``, ``images``, ``tracks``, ``annotations``, ``categories``;
see ``shared/data/annotations/tao/FORMAT.md``); results are a JSON list of
``{image_id, video_id, category_id, bbox [x, y, w, h], score, track_id}``. Both are read into
column arrays (one row per box) because TAO-val results hold millions of boxes: a list of Python
dicts that size costs gigabytes, columns cost tens of megabytes. The metrics (TETA, HOTA) work
on these columns.

Conventions follow the official TAO/TETA readers: a frame is a GT image that has at least one
GT box (predictions on other images are ignored, as the official evaluators do); frames are
ordered by ``frame_index``; categories marked ``merged`` are folded into their target; a result
without ``video_id`` takes its image's video.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import re
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from i2vbench.datasets.registry import register_dataset
from i2vbench.errors import BenchError, where
from i2vbench.io import read_json, require_file, short_repr

try:  # orjson parses TAO-val-size result files ~3x faster; plain json is the fallback
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


@dataclass
class TaoGT:
    """TAO ground truth as columns. Box rows are sorted by (video, frame_index, file order)."""

    path: Path
    video_ids: np.ndarray  # (V,) original video ids, in file order
    video_names: list[str]
    image_ids: np.ndarray  # (F,) image id of each annotated frame
    frame_video: np.ndarray  # (F,) video row of each frame
    frame_index: np.ndarray  # (F,) TAO frame_index of each frame
    box_frame: np.ndarray  # (G,) frame row of each GT box
    box_track: np.ndarray  # (G,) original track id
    box_category: np.ndarray  # (G,) category id (merged categories folded)
    boxes: np.ndarray  # (G, 4) float64 [x, y, w, h]
    categories: list[dict] = field(default_factory=list)  # as in the file
    neg_category_ids: dict[int, list[int]] = field(default_factory=dict)  # per video id
    not_exhaustive_category_ids: dict[int, list[int]] = field(default_factory=dict)
    merge_map: dict[int, int] = field(default_factory=dict)
    image_video: dict[int, int] = field(default_factory=dict)  # every GT image id -> video id
    image_frame: dict[int, int] = field(default_factory=dict)  # every GT image id -> frame_index

    @property
    def evaluated_category_ids(self) -> list[int]:
        """Categories listed in ``categories`` that have GT boxes, in file order (the TAO rule)."""
        seen = set(np.unique(self.box_category).tolist())
        return [int(c["id"]) for c in self.categories if c["id"] in seen]


@dataclass
class TaoResults:
    """Tracker results on GT frames, as columns sorted by (frame, order in the file)."""

    path: Path
    box_frame: np.ndarray  # (P,) frame row in the GT
    box_track: np.ndarray  # (P,) original track id
    box_category: np.ndarray  # (P,)
    boxes: np.ndarray  # (P, 4) float64 [x, y, w, h]
    scores: np.ndarray  # (P,)
    file_index: np.ndarray  # (P,) position in the file
    n_read: int = 0  # results in the file
    n_off_frames: int = 0  # results on images without GT boxes (ignored)

    def subset(self, idx: np.ndarray) -> TaoResults:
        return TaoResults(self.path, self.box_frame[idx], self.box_track[idx],
                          self.box_category[idx], self.boxes[idx], self.scores[idx],
                          self.file_index[idx], self.n_read, self.n_off_frames)

    def limit_per_image(self, max_dets: int) -> TaoResults:
        """At most ``max_dets`` results per image: the official ``MAX_DETECTIONS`` rule.

        An image over the limit keeps its ``max_dets`` highest scores, ordered by score (ties in
        file order, a stable sort); other images keep all results in file order. The order
        matters: it is the column order of the matching, which breaks ties.
        """
        n = len(self.box_frame)
        if not max_dets or n == 0:
            return self
        o = np.lexsort((self.file_index, -self.scores, self.box_frame))
        starts = np.flatnonzero(np.r_[True, self.box_frame[o][1:] != self.box_frame[o][:-1]])
        counts = np.diff(np.r_[starts, n])
        if counts.max() <= max_dets:
            return self
        rank = np.arange(n) - np.repeat(starts, counts)
        over = np.repeat(counts > max_dets, counts)
        okey = np.where(over, rank, self.file_index[o])
        sel = ~over | (rank < max_dets)
        o, okey = o[sel], okey[sel]
        return self.subset(o[np.lexsort((okey, self.box_frame[o]))])


def _req(obj: Any, key: str, path: Path, item: str) -> Any:
    if not isinstance(obj, dict):
        raise BenchError(f"{where(path, key=item)}: expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise BenchError(f"{where(path, key=item)}: missing key {key!r}")
    return obj[key]


def _list(data: dict, key: str, path: Path) -> list:
    v = _req(data, key, path, "top level")
    if not isinstance(v, list):
        raise BenchError(f"{where(path, key=key)}: expected a list, got {type(v).__name__}")
    return v


MAX_ID = 2**62  # ids are stored as int64
MAX_COORD = 1e7  # pixels: far beyond any video frame, far below float overflow in x + w


def _int(obj: Any, key: str, path: Path, item: str) -> int:
    """An integer field (ids, frame indices): a JSON integer within int64, nothing else."""
    v = _req(obj, key, path, item)
    if isinstance(v, bool) or not isinstance(v, int) or not -MAX_ID < v < MAX_ID:
        raise BenchError(f"{where(path, key=f'{item}.{key}')}: expected an integer id, got {_short(v)}")
    return v


def _int_list(v: Any, path: Path, item: str) -> list[int]:
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) and -MAX_ID < x < MAX_ID
                                          for x in v):
        raise BenchError(f"{where(path, key=item)}: expected a list of integer ids, got {_short(v)}")
    return list(v)


def _short(v: Any) -> str:
    """A value for an error message: bounded in length and depth (a 100,000-deep list has no repr)."""
    return short_repr(v)


def _bbox(b: Any, path: Path, item: str) -> list[float]:
    if (not isinstance(b, (list, tuple)) or len(b) != 4
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in b)):
        raise BenchError(f"{where(path, key=item)}: bbox must be [x, y, w, h] numbers, got {_short(b)}")
    if not all(math.isfinite(x) and abs(x) <= MAX_COORD for x in b) or b[2] < 0 or b[3] < 0:
        raise BenchError(f"{where(path, key=item)}: bbox must be finite [x, y, w, h] with w, h >= 0 and "
                         f"|values| <= {MAX_COORD:g}, got {_short(b)}")
    return b


def load_tao_gt(path: str | Path) -> TaoGT:
    """Read a TAO GT json (original or mmtracking/OVTrack-converted form)."""
    p = require_file(path, "TAO ground-truth json")
    with _gc_paused():
        data = read_json(p, "TAO ground-truth json")
    if not isinstance(data, dict):
        raise BenchError(f"{p}: expected a TAO GT object with videos/images/annotations/categories, "
                         f"got a JSON {type(data).__name__}")
    videos = _list(data, "videos", p)
    images = _list(data, "images", p)
    anns = _list(data, "annotations", p)
    cats = _list(data, "categories", p)
    seen_ids: set = set()
    seen_names: set = set()
    for i, c in enumerate(cats):
        cid = _int(c, "id", p, f"categories[{i}]")
        name = c.get("name", cid)
        if not isinstance(name, (str, int)) or isinstance(name, bool):
            raise BenchError(f"{where(p, key=f'categories[{i}].name')}: expected a string, got {_short(name)}")
        if cid in seen_ids or name in seen_names:
            # the official readers key classes by name; a repeated id or name is ambiguous
            raise BenchError(f"{where(p, key=f'categories[{i}]')}: duplicate category "
                             f"{'id ' + str(cid) if cid in seen_ids else 'name ' + repr(name)}")
        seen_ids.add(cid)
        seen_names.add(name)
    merge_map = {}
    for i, c in enumerate(cats):
        merged = c.get("merged") or []
        if not isinstance(merged, list):
            raise BenchError(f"{where(p, key=f'categories[{i}].merged')}: expected a list, got {_short(merged)}")
        for k, m in enumerate(merged):
            merge_map[_int(m, "id", p, f"categories[{i}].merged[{k}]")] = c["id"]

    vid_row: dict[int, int] = {}
    names, neg, nexh = [], {}, {}
    for i, v in enumerate(videos):
        vid = _int(v, "id", p, f"videos[{i}]")
        if vid in vid_row:
            raise BenchError(f"{where(p, key=f'videos[{i}]')}: duplicate video id {vid}")
        vid_row[vid] = i
        names.append(str(v.get("name", vid)))
        # as in the file: the official readers do not fold merged ids in these lists
        neg[vid] = _int_list(v.get("neg_category_ids"), p, f"videos[{i}].neg_category_ids")
        nexh[vid] = _int_list(v.get("not_exhaustive_category_ids"), p, f"videos[{i}].not_exhaustive_category_ids")

    img_info: dict[int, tuple[int, int]] = {}  # image id -> (video id, frame_index)
    for i, im in enumerate(images):
        item = f"images[{i}]"
        iid = _int(im, "id", p, item)
        vid = _int(im, "video_id", p, item)
        if vid not in vid_row:
            raise BenchError(f"{where(p, key=item)}: unknown video_id {vid}")
        if iid in img_info:
            raise BenchError(f"{where(p, key=item)}: duplicate image id {iid}")
        img_info[iid] = (vid, _int(im, "frame_index", p, item))

    n = len(anns)
    a_img = np.empty(n, np.int64)
    a_track = np.empty(n, np.int64)
    a_cat = np.empty(n, np.int64)
    a_box = np.empty((n, 4), np.float64)
    for i, a in enumerate(anns):
        item = f"annotations[{i}]"
        iid = _int(a, "image_id", p, item)
        if iid not in img_info:
            raise BenchError(f"{where(p, key=item)}: unknown image_id {iid}")
        vid = a.get("video_id", img_info[iid][0])
        if vid != img_info[iid][0]:
            raise BenchError(f"{where(p, key=item)}: video_id {vid} but image {iid} belongs to "
                             f"video {img_info[iid][0]}")
        a_img[i] = iid
        a_track[i] = _int(a, "track_id", p, item)
        cat = _int(a, "category_id", p, item)
        a_cat[i] = merge_map.get(cat, cat)
        a_box[i] = _bbox(_req(a, "bbox", p, item), p, item)

    # frames = images with GT boxes, ordered by (video row, frame_index, first appearance)
    uniq_img, first = np.unique(a_img, return_index=True)
    fvid = np.array([vid_row[img_info[i][0]] for i in uniq_img.tolist()], np.int64)
    fidx = np.array([img_info[i][1] for i in uniq_img.tolist()], np.int64)
    order = np.lexsort((first, fidx, fvid))
    image_ids = uniq_img[order]
    frame_of_img = np.empty(len(order), np.int64)
    frame_of_img[order] = np.arange(len(order))
    box_frame = frame_of_img[np.searchsorted(uniq_img, a_img)] if n else np.empty(0, np.int64)
    perm = np.argsort(box_frame, kind="stable")
    gt = TaoGT(
        path=p, video_ids=np.array(list(vid_row), dtype=np.int64), video_names=names,
        image_ids=image_ids, frame_video=fvid[order], frame_index=fidx[order],
        box_frame=box_frame[perm], box_track=a_track[perm], box_category=a_cat[perm],
        boxes=a_box[perm], categories=cats, neg_category_ids=neg,
        not_exhaustive_category_ids=nexh, merge_map=merge_map,
        image_video={i: v for i, (v, _) in img_info.items()},
        image_frame={i: f for i, (_, f) in img_info.items()},
    )
    _check_unique_tracks(gt.box_frame, gt.box_track, p, "GT", gt)
    return gt


def _check_unique_tracks(frame: np.ndarray, track: np.ndarray, path: Path, what: str,
                         gt: TaoGT) -> None:
    """The official evaluators reject a track id that occurs twice in one frame; so do we."""
    if len(frame) < 2:
        return
    o = np.lexsort((track, frame))
    dup = (frame[o][1:] == frame[o][:-1]) & (track[o][1:] == track[o][:-1])
    if dup.any():
        k = o[1:][dup][0]
        raise BenchError(f"{path}: {what} track_id {int(track[k])} occurs more than once in image "
                         f"{int(gt.image_ids[frame[k]])}; a track has at most one box per frame")


_SPLIT = re.compile(rb"\}\s*,\s*\{")


def _json_list_pieces(raw: bytearray, path: Path, piece_bytes: int = 32 << 20):
    """Yield the objects of a JSON list of flat objects, one piece of the list at a time.

    Parsing a TAO-val result file in one go builds ~2 M dicts (~1.5 GB); pieces keep the peak at
    one piece's objects. Pieces are cut at ``},{`` between objects, in place (the comma becomes
    a bracket), so no copy of the file is made. A cut that lands somewhere odd (a string holding
    ``},{``) makes a piece fail to parse; then :class:`_BadCut` tells the caller to parse the
    whole file at once, so the result never depends on the cuts. ``raw`` is modified.
    """
    loads = _orjson.loads if _orjson is not None else json.loads
    start, end = raw.find(b"["), raw.rfind(b"]")
    if start < 0 or end < start or raw[:start].strip() or raw[end + 1:].strip():
        obj = _parse(raw, path)
        raise BenchError(f"{path}: expected a JSON list of result objects, got {type(obj).__name__}")
    cuts = [start]
    pos = start + piece_bytes
    while pos < end:
        m = _SPLIT.search(raw, pos, end)
        if m is None:
            break
        cuts.append(m.start() + 1)  # the ',' between two objects
        pos = m.end() + piece_bytes
    cuts.append(end)
    if len(cuts) == 2:
        yield _parse(raw, path)
        return
    buf = raw
    view = memoryview(buf)
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        buf[a], buf[b] = ord("["), ord("]")
        try:
            objs = loads(view[a:b + 1] if _orjson is not None else bytes(view[a:b + 1]))
        except ValueError:
            raise _BadCut from None
        yield objs


def _read_bytearray(p: Path) -> bytearray:
    """The file's bytes in one mutable buffer (pieces are cut in place: no second copy)."""
    buf = bytearray(p.stat().st_size)
    with p.open("rb") as f:
        n = f.readinto(buf)
    del buf[n:]
    return buf


def _parse(text: bytes | bytearray, path: Path) -> Any:
    try:
        return _orjson.loads(text) if _orjson is not None else json.loads(text)
    except ValueError:
        return read_json(path, "TAO results json")  # raises a located BenchError


_GET5 = itemgetter("image_id", "track_id", "category_id", "score", "bbox")
_GET6 = itemgetter("image_id", "track_id", "category_id", "score", "bbox", "video_id")


class _BadCut(Exception):
    pass


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic GC while millions of parsed dicts are made: it would rescan them all
    again and again (3x the parse time on TAO-val results), and they hold no cycles."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _read_columns(pieces, p: Path) -> dict[str, list[np.ndarray]]:
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("img", "vid", "trk", "cat", "score", "box")}
    start = 0
    for objs in pieces:
        if not isinstance(objs, list):
            raise BenchError(f"{p}: expected a JSON list of result objects, got "
                             f"{type(objs).__name__}")
        n = len(objs)
        try:
            try:  # one C-level pass per piece; video_id is optional
                rows = list(map(_GET6, objs))
                vid = None
            except KeyError:
                rows = list(map(_GET5, objs))
                vid = np.array([o.get("video_id", -1) for o in objs], np.int64).reshape(n)
            cols_t = list(zip(*rows, strict=True)) if rows else [()] * 6
            del rows
            ints = [0, 1, 2] if vid is not None else [0, 1, 2, 5]
            ok = all(set(map(type, cols_t[k])) <= {int} for k in ints)
            ok = ok and set(map(type, cols_t[3])) <= {int, float}
            ok = ok and set(map(type, cols_t[4])) <= {list} and set(map(len, cols_t[4])) <= {4}
            flat = list(chain.from_iterable(cols_t[4]))
            ok = ok and set(map(type, flat)) <= {int, float}
            if not ok:
                raise TypeError
            img = np.array(cols_t[0], np.int64).reshape(n)
            trk = np.array(cols_t[1], np.int64).reshape(n)
            cat = np.array(cols_t[2], np.int64).reshape(n)
            score = np.array(cols_t[3], np.float64).reshape(n)
            box = np.array(flat, np.float64).reshape(n, 4)
            if vid is None:
                vid = np.array(cols_t[5], np.int64).reshape(n)
            del flat, cols_t
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            _locate_bad_result(objs, p, start)
            raise BenchError(f"{p}: malformed results (items {start}..{start + n - 1})") from None
        if not np.isfinite(box).all() or not np.isfinite(score).all():
            k = int(np.flatnonzero(~np.isfinite(box).all(1) | ~np.isfinite(score))[0])
            raise BenchError(f"{where(p, key=f'item {start + k}')}: bbox and score must be finite")
        odd = (np.abs(box) > MAX_COORD).any(1) | (box[:, 2] < 0) | (box[:, 3] < 0)
        if odd.any():
            k = int(np.flatnonzero(odd)[0])
            raise BenchError(f"{where(p, key=f'item {start + k}')}: bbox must be [x, y, w, h] with w, h >= 0 "
                             f"and |values| <= {MAX_COORD:g}, got {box[k].tolist()}")
        for k, v in (("img", img), ("vid", vid), ("trk", trk), ("cat", cat), ("score", score),
                     ("box", box)):
            cols[k].append(v)
        start += n
    return cols


def load_tao_results(path: str | Path, gt: TaoGT, max_dets: int = 0) -> TaoResults:
    """Read a TAO results json list and place each box on its GT frame.

    ``max_dets`` > 0 keeps only the ``max_dets`` highest-scoring results per image (ties keep file
    order), the official ``MAX_DETECTIONS`` rule; 0 keeps all (TETA's default).
    """
    p = require_file(path, "TAO results json")
    raw = _read_bytearray(p)
    with _gc_paused():
        try:
            cols = _read_columns(_json_list_pieces(raw, p), p)
        except _BadCut:
            cols = _read_columns([_parse(_read_bytearray(p), p)], p)
    del raw
    img, vid, trk, cat, score = (np.concatenate(cols[k]) if cols[k] else np.empty(0, np.int64)
                                 for k in ("img", "vid", "trk", "cat", "score"))
    box = np.concatenate(cols["box"]) if cols["box"] else np.empty((0, 4), np.float64)
    score = score.astype(np.float64)
    n_read = len(img)

    # every image id must be a GT image, and a given video_id must be that image's video
    known = np.fromiter(gt.image_video.keys(), np.int64, len(gt.image_video))
    kvid = np.fromiter(gt.image_video.values(), np.int64, len(gt.image_video))
    ko = np.argsort(known)
    known, kvid = known[ko], kvid[ko]
    pos = np.searchsorted(known, img)
    pos_c = np.minimum(pos, max(len(known) - 1, 0))
    bad = (pos >= len(known)) | (known[pos_c] != img) if len(known) else np.ones(len(img), bool)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise BenchError(f"{where(p, key=f'item {k}')}: unknown image_id {int(img[k])} "
                         f"(not an image of {gt.path.name})")
    img_vid = kvid[pos_c]
    wrong = (vid != -1) & (vid != img_vid)
    if wrong.any():
        k = int(np.flatnonzero(wrong)[0])
        raise BenchError(f"{where(p, key=f'item {k}')}: video_id {int(vid[k])} but image "
                         f"{int(img[k])} belongs to video {int(img_vid[k])}")

    keep = np.arange(n_read)

    # place on GT frames; results on images without GT boxes are dropped
    img_order = np.argsort(gt.image_ids)
    sorted_imgs = gt.image_ids[img_order]
    fpos = np.minimum(np.searchsorted(sorted_imgs, img[keep]), max(len(sorted_imgs) - 1, 0))
    on = sorted_imgs[fpos] == img[keep] if len(sorted_imgs) else np.zeros(len(keep), bool)
    idx = keep[on]
    frame = img_order[fpos[on]]
    perm = np.argsort(frame, kind="stable")
    idx = idx[perm]
    res = TaoResults(path=p, box_frame=frame[perm], box_track=trk[idx],
                     box_category=_merge(cat[idx], gt.merge_map), boxes=box[idx],
                     scores=score[idx], file_index=idx, n_read=n_read,
                     n_off_frames=int(len(keep) - len(idx)))
    _check_unique_tracks(res.box_frame, res.box_track, p, "result", gt)
    return res.limit_per_image(max_dets)


def _merge(cat: np.ndarray, merge_map: dict[int, int]) -> np.ndarray:
    """Fold merged categories (TAO's ``merged`` lists) into their target id."""
    if not merge_map or not len(cat):
        return cat
    src = np.fromiter(merge_map.keys(), np.int64, len(merge_map))
    dst = np.fromiter(merge_map.values(), np.int64, len(merge_map))
    o = np.argsort(src)
    src, dst = src[o], dst[o]
    pos = np.minimum(np.searchsorted(src, cat), len(src) - 1)
    return np.where(src[pos] == cat, dst[pos], cat)


def _locate_bad_result(objs: list, path: Path, start: int) -> None:
    for k, o in enumerate(objs):
        item = f"item {start + k}"
        if not isinstance(o, dict):
            raise BenchError(f"{where(path, key=item)}: expected a result object, got "
                             f"{type(o).__name__}")
        for key in ("image_id", "track_id", "category_id", "score", "bbox"):
            v = _req(o, key, path, item)
            if key == "bbox":
                _bbox(v, path, item)
            elif isinstance(v, bool) or not isinstance(v, (int, float)):
                raise BenchError(f"{where(path, key=item)}: {key} must be a number, got {_short(v)}")
            elif key != "score" and not float(v).is_integer():
                raise BenchError(f"{where(path, key=item)}: {key} must be an integer, got {_short(v)}")
        if "video_id" in o and (isinstance(o["video_id"], bool) or not isinstance(o["video_id"], int)):
            raise BenchError(f"{where(path, key=item)}: video_id must be an integer, "
                             f"got {_short(o['video_id'])}")


def _load_for_registry(gt: str | Path, **_: Any) -> TaoGT:
    return load_tao_gt(gt)


register_dataset("tao", ("ovmot",), "TAO (Tracking Any Object): GT json with videos/images/"
                 "annotations/tracks/categories; TAO results json for predictions",
                 load=_load_for_registry)

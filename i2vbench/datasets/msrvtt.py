"""MSR-VTT annotation formats: the 1k-A retrieval csv, JSFusion multiple-choice jsonl, caption json.

* ``MSRVTT_JSFUSION_test.csv`` (CLIP4Clip's 1k-A test split): header ``key,vid_key,video_id,sentence``,
  one sentence per video; row i is text i of the retrieval similarity matrix, its video is video i.
* ``msrvtt_mc_test.jsonl`` (JSFusion multiple choice, all-in-one layout): ``{qid, clip_name,
  answer: "0".."4" (a string), options: [5 sentences]}`` per line.
* caption json (``MSRVTT_data.json`` / the original ``train_val_videodatainfo.json``):
  ``{"videos": [{video_id, split, ...}], "sentences": [{video_id, caption, ...}]}``; or the COCO
  caption layout that MSR-VTT test files are also released in (``{"images": [{id}],
  "annotations": [{image_id, caption}]}``, as ``captions_val2014.json``).
"""

from __future__ import annotations

import csv
from pathlib import Path

from i2vbench.datasets.qa import QAItem
from i2vbench.datasets.registry import register_dataset
from i2vbench.errors import BenchError, where
from i2vbench.io import LocatedCsv, iter_jsonl, open_text, read_json, require_file


def load_retrieval_csv(path: str | Path) -> list[tuple[str, str]]:
    """``(video_id, sentence)`` per row, in file order (the row order of the similarity matrix)."""
    p = require_file(path, "MSR-VTT retrieval csv")
    with open_text(p) as f:
        reader = LocatedCsv(csv.DictReader(f), p)
        cols = reader.fieldnames or []
        if "video_id" not in cols or "sentence" not in cols:
            raise BenchError(f"{where(p, 1)}: expected a header with video_id and sentence "
                             f"(CLIP4Clip's key,vid_key,video_id,sentence), got {cols}")
        rows = []
        for n, row in enumerate(reader, start=2):
            vid, sent = row.get("video_id"), row.get("sentence")
            if not vid or sent is None:
                raise BenchError(f"{where(p, n)}: missing video_id or sentence")
            rows.append((vid, sent))
    return rows


def load_mc_jsonl(path: str | Path) -> list:
    """MSRVTT-MC questions as :class:`~i2vbench.datasets.qa.QAItem` (key = ``qid``, answer = int)."""

    items = []
    seen: set[str] = set()
    for n, obj in iter_jsonl(path, "MSRVTT-MC jsonl"):
        try:
            qid, video, options = str(obj["qid"]), str(obj["clip_name"]), obj["options"]
            answer = int(obj["answer"])
        except KeyError as e:
            raise BenchError(f"{where(path, n)}: missing field {e.args[0]!r} "
                             "(expected qid, clip_name, answer, options)") from None
        except (TypeError, ValueError):
            raise BenchError(f"{where(path, n)}: answer {obj.get('answer')!r} is not an option index") from None
        if not isinstance(options, list) or not 0 <= answer < len(options):
            raise BenchError(f"{where(path, n)}: answer {answer} is outside options[0..{len(options) - 1}]")
        if qid in seen:
            raise BenchError(f"{where(path, n)}: duplicate qid {qid!r}")
        seen.add(qid)
        items.append(QAItem(qid, answer, None, video, "", tuple(map(str, options))))
    return items


def _coco_captions(p: Path, data: dict) -> dict[str, list[str]]:
    """COCO caption layout: every entry of ``images`` is scored (pycocoevalcap's ``coco.getImgIds()``),
    with the captions of ``annotations`` whose ``image_id`` is its ``id``."""
    import warnings

    images, anns = data["images"], data["annotations"]
    if not isinstance(images, list) or not isinstance(anns, list):
        raise BenchError(f"{where(p, key='images')}: expected lists 'images' [{{id}}] and "
                         "'annotations' [{image_id, caption}] (COCO caption layout)")
    refs: dict[str, list[str]] = {}
    for i, img in enumerate(images):
        if not isinstance(img, dict) or "id" not in img:
            raise BenchError(f"{where(p, key=f'images[{i}]')}: expected {{id, ...}}")
        refs.setdefault(str(img["id"]), [])
    stray = 0
    for i, a in enumerate(anns):
        if not isinstance(a, dict) or "image_id" not in a or not isinstance(a.get("caption"), str):
            raise BenchError(f"{where(p, key=f'annotations[{i}]')}: expected {{image_id, caption: str}}")
        key = str(a["image_id"])
        if key in refs:
            refs[key].append(a["caption"])
        else:
            stray += 1
    empty = next((k for k, v in refs.items() if not v), None)
    if empty is not None:
        raise BenchError(f"{where(p, key=f'images[id={empty}]')}: no caption in 'annotations' for this image "
                         "(pycocoevalcap needs at least one reference per image)")
    if stray:
        warnings.warn(f"{p}: {stray} annotation(s) for image ids not in 'images' ignored, as "
                      "pycocoevalcap ignores them", stacklevel=3)
    return refs


def load_caption_json(path: str | Path, split: str | None = None) -> dict[str, list[str]]:
    """``{video_id: [captions]}`` from ``{video_id: [sentences]}``, MSR-VTT's caption json or the
    COCO caption layout (``{"images": [{id}], "annotations": [{image_id, caption}]}``).

    For MSR-VTT's layout, ``split`` (e.g. ``"test"``) keeps the videos of that split; without it
    every video that has captions is kept.
    """
    p = Path(path)
    data = read_json(p, "caption references json")
    if isinstance(data, dict) and "annotations" in data and "images" in data:
        return _coco_captions(p, data)
    if isinstance(data, dict) and "sentences" in data:
        sents = data["sentences"]
        if not isinstance(sents, list):
            raise BenchError(f"{where(p, key='sentences')}: expected a list of {{video_id, caption}}")
        keep: set[str] | None = None
        if split is not None:
            videos = data.get("videos")
            if not isinstance(videos, list):
                raise BenchError(f"{where(p, key='videos')}: split={split!r} needs a videos list with split fields")
            keep = {str(v.get("video_id")) for v in videos if isinstance(v, dict) and v.get("split") == split}
            if not keep:
                raise BenchError(f"{where(p, key='videos')}: no video has split {split!r}")
        refs: dict[str, list[str]] = {}
        for i, s in enumerate(sents):
            if not isinstance(s, dict) or "video_id" not in s or not isinstance(s.get("caption"), str):
                raise BenchError(f"{where(p, key=f'sentences[{i}]')}: expected {{video_id, caption: str}}")
            vid = str(s["video_id"])
            if keep is None or vid in keep:
                refs.setdefault(vid, []).append(s["caption"])
        return refs
    if isinstance(data, dict):
        refs = {}
        for vid, caps in data.items():
            if isinstance(caps, str):
                caps = [caps]
            if not isinstance(caps, list) or not caps or not all(isinstance(c, str) for c in caps):
                raise BenchError(f"{where(p, key=str(vid))}: expected a non-empty list of reference sentences")
            refs[str(vid)] = list(caps)
        return refs
    raise BenchError(f"{p}: expected {{video_id: [sentences]}}, MSR-VTT's {{videos, sentences}} json or "
                     "the COCO caption layout {images, annotations}")


register_dataset("msrvtt", ("vtr", "captioning"),
                 "MSR-VTT: 1k-A retrieval split (CLIP4Clip csv) and captions (MSR-VTT json)")
register_dataset("msrvtt-mc", ("videoqa",), "MSRVTT-MC: JSFusion 5-way multiple-choice jsonl")


def load_video_list_csv(path: str | Path) -> list[str]:
    """Video ids of a one-column id list (CLIP4Clip's ``MSRVTT_train.9k.csv``: header ``video_id``),
    in file order; their captions are in ``MSRVTT_data.json`` (:func:`load_caption_json`)."""
    p = require_file(path, "MSR-VTT video list csv")
    with open_text(p) as f:
        reader = LocatedCsv(csv.DictReader(f), p)
        if "video_id" not in (reader.fieldnames or []):
            raise BenchError(f"{where(p, 1)}: expected a header with video_id "
                             f"(CLIP4Clip's MSRVTT_train.9k.csv), got {reader.fieldnames}")
        ids = []
        for n, row in enumerate(reader, start=2):
            if not row.get("video_id"):
                raise BenchError(f"{where(p, n)}: empty video_id")
            ids.append(row["video_id"])
    return ids

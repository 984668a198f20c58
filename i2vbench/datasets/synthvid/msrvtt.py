"""The SynthVid MSR-VTT pool: videos with ordered-event captions, in MSR-VTT's and CLIP4Clip's files.

One pool serves text-video retrieval now and captioning / MSRVTT-MC later, so it is written
once, like the real dataset::

    videos/video<N>.mp4          H.264; ids as in MSR-VTT (train first, then val, then test)
    MSRVTT_data.json             {info, videos: [{video_id, split: train|validate|test, ...}],
                                  sentences: [{caption, video_id, sen_id}]}, ~10 references a video
    MSRVTT_train.9k.csv          CLIP4Clip's train list: header ``video_id``, the train videos
    MSRVTT_JSFUSION_val.csv      the 1k-A layout (``key,vid_key,video_id,sentence``), val videos
    MSRVTT_JSFUSION_test.csv     the same for test: one sentence (reference 0) per video
    msrvtt_twins.json            {"val": [[video, its twin], ...], "test": [...]}
    scenes.jsonl, meta.json      the writer's (scene, captions, twin of every video)

A caption says what happens in order ("the red circle moves left, then the blue square
grows."). About a third of the val and test videos (``twin_fraction``) come in **time-reversed
twins**: a pool scene and the same scene played backwards (:func:`.world.reverse_scene`: same
objects, the opposite events in reverse order, the same stills in reverse order), rendered and
captioned each on its own. A model that pools frames without order scores a twin pair alike,
so "the right video outranks its twin" is the retrieval runner's order test. Twins are made only
of scenes whose event sequence is not its own reversal (e.g. not "moves left, then moves right"
by one object), so a pair's captions always differ.

Captions stay inside tinyclip's vocabulary and context (at most ``max_tokens`` tokens with
punctuation, so nothing is cut before ``<eos>``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from i2vbench.datasets.synthvid.text import EVENT_TEMPLATES, noun_phrase, tokenize
from i2vbench.datasets.synthvid.world import (
    COLORS,
    OPPOSITE,
    SHAPES,
    SIZES,
    Event,
    Scene,
    SceneConfig,
    reverse_scene,
)
from i2vbench.datasets.synthvid.writer import (
    SPLITS,
    BuildOptions,
    Built,
    Records,
    TaskFolder,
    TaskWriter,
    WriterConfig,
    build,
    check_split,
    task_rng,
    video_scene,
)

if TYPE_CHECKING:
    from typing import Unpack

MSRVTT_SPLIT = {"train": "train", "val": "validate", "test": "test"}  # MSRVTT_data.json's names
RETRIEVAL_HEADER = ("key", "vid_key", "video_id", "sentence")


def _scene_config() -> SceneConfig:
    # A few seconds and two or three events: a caption can name them all within tinyclip's
    # 24-token context, and 900 videos of ~36 frames render in well under a minute.
    return SceneConfig(min_duration=8.0, max_duration=10.0, min_objects=2, max_objects=3,
                       min_events=2, max_events=3, min_event_s=2.0, max_event_s=3.0)


@dataclass(frozen=True)
class MSRVTTConfig(WriterConfig):
    """The pool's look and sizes (with the seed, its identity)."""

    scene: SceneConfig = field(default_factory=_scene_config)
    n_train: int = 600
    n_val: int = 150
    n_test: int = 150
    captions_per_video: int = 10
    twin_fraction: float = 1 / 3   # share of a val/test split's videos that have their twin in it
    twin_splits: tuple[str, ...] = ("val", "test")
    partial_prob: float = 0.2      # chance that a reference (not reference 0) names only some events
    size_prob: float = 0.2         # chance that an object's noun phrase also names its size
    max_tokens: int = 23           # tinyclip's context is 24 with <eos>


@dataclass(frozen=True)
class SynthVidMSRVTT(TaskFolder):
    """A built SynthVid MSR-VTT pool (see the module docstring for the layout)."""

    data_json: Path
    train_csv: Path
    val_csv: Path
    test_csv: Path
    twins_json: Path

    def retrieval_csv(self, split: str) -> Path:
        """The 1k-A-layout csv of "val" or "test" (train has the id list ``train_csv``)."""
        if check_split(split) == "train":
            raise ValueError("train has no retrieval csv: use train_csv (ids) and data_json (captions)")
        return self.val_csv if split == "val" else self.test_csv

    def twins(self, split: str) -> list[tuple[str, str]]:
        """(video, its time-reversed twin) pairs of ``split`` (the forward pool scene first)."""
        data = json.loads(self.twins_json.read_text(encoding="utf-8"))
        return [(a, b) for a, b in data.get(check_split(split), [])]

    def scenes(self, split: str | None = None) -> Iterator[tuple[str, str, Scene, list[str]]]:
        """(video_id, split, scene, captions) for every video, from ``scenes.jsonl``."""
        return self.scenes_with("captions", split)


# -- which pool scene each video shows --------------------------------------------------------


def _palindromic(events: list[Event]) -> bool:
    """True if playing the events backwards gives the same (object, motion) sequence."""
    seq = [(e.obj, e.motion) for e in events]
    return seq == [(e.obj, OPPOSITE[e.motion]) for e in reversed(events)]


@lru_cache(maxsize=64)
def _layout(seed: int, split: str, cfg: MSRVTTConfig) -> tuple[tuple[int, bool, int | None], ...]:
    """Per video index of ``split``: (pool index, reversed?, index of its twin or None).

    The first ``n - p`` pool scenes of the split are shown forwards; the first ``p`` of them that
    are not palindromic are also shown backwards; the order is then shuffled, so twins are not
    adjacent and not at the end.
    """
    n = cfg.count(split)
    p = round(n * cfg.twin_fraction / 2) if split in cfg.twin_splits else 0
    bases: list[int] = []
    for k in range(n - p):
        if len(bases) == p:
            break
        if not _palindromic(video_scene(seed, split, k, cfg.scene).events):
            bases.append(k)
    p = len(bases)
    entries = [(k, False) for k in range(n - p)] + [(k, True) for k in bases]
    order = task_rng(seed, split, 0, "msrvtt/layout").permutation(len(entries))
    entries = [entries[i] for i in order]
    where = {e: i for i, e in enumerate(entries)}
    twin_of = set(bases)
    return tuple((k, rev, where[(k, not rev)] if k in twin_of else None) for k, rev in entries)


def _offset(split: str, cfg: WriterConfig) -> int:
    """MSR-VTT numbers its videos train, then validate, then test."""
    return {"train": 0, "val": cfg.n_train, "test": cfg.n_train + cfg.n_val}[split]


def _name(split: str, index: int, cfg: WriterConfig) -> str:
    return f"video{_offset(split, cfg) + index}"


def msrvtt_scene(seed: int, split: str, index: int, cfg: MSRVTTConfig) -> Scene:
    """The scene of video ``index`` of ``split``: a pool scene, or one played backwards."""
    k, rev, twin = _layout(seed, split, cfg)[index]
    base = video_scene(seed, split, k, cfg.scene)
    scene = reverse_scene(base) if rev else base
    extra = {"pool_index": k, "reversed": rev, "twin": None if twin is None else _name(split, twin, cfg)}
    return replace(scene, extra={**scene.extra, **extra})


# -- captions ---------------------------------------------------------------------------------


def _clause(rng: np.random.Generator, scene: Scene, e: Event, size_prob: float) -> str:
    """One event as a clause, e.g. "the red circle moves to the left" (no full stop)."""
    tpls = EVENT_TEMPLATES[e.motion]
    tpl = tpls[int(rng.integers(len(tpls)))]
    o = scene.objects[e.obj]
    size = e.size if rng.random() < size_prob else None
    return tpl.format(the=noun_phrase("the", o.color, o.shape, size),
                      a=noun_phrase("a", o.color, o.shape, size)).rstrip(".")


def _join(rng: np.random.Generator, clauses: list[str]) -> str:
    """Clauses in time order as one sentence, with one of a few ways of saying "then"."""
    if len(clauses) == 1:
        return clauses[0] + "."
    styles = ["then", "first", "and then", "after that"] + (["after", "before"] if len(clauses) == 2 else [])
    style = styles[int(rng.integers(len(styles)))]
    if style == "after":  # the later event first: order is carried by the word, not the position
        return f"{clauses[1]} after {clauses[0]}."
    if style == "before":
        return f"{clauses[0]} before {clauses[1]}."
    if style == "first":
        return "first " + ", then ".join(clauses) + "."
    if style == "and then":
        return " and then ".join(clauses) + "."
    if style == "after that":
        return ", and after that ".join(clauses) + "." if len(clauses) == 2 else ", then ".join(clauses) + "."
    return ", then ".join(clauses) + "."


def caption(rng: np.random.Generator, scene: Scene, events: list[Event], cfg: MSRVTTConfig) -> str:
    """A sentence naming ``events`` in time order, at most ``cfg.max_tokens`` tokens long."""
    best = ""
    for attempt in range(20):
        size_prob = cfg.size_prob if attempt < 10 else 0.0
        text = _join(rng, [_clause(rng, scene, e, size_prob) for e in events])
        if len(tokenize(text)) <= cfg.max_tokens:
            return text
        if not best or len(tokenize(text)) < len(tokenize(best)):
            best = text
    return best


EventWords = tuple[str, str, str]  # (colour, shape, motion) of one event, as a caption names it


def event_sequence(scene: Scene) -> list[EventWords]:
    """The events of ``scene`` in time order, as the captions name them (the reference order)."""
    out = []
    for e in sorted(scene.events, key=lambda e: e.start):
        o = scene.objects[e.obj]
        out.append((COLORS[o.color], SHAPES[o.shape], e.motion))
    return out


def _predicates() -> dict[str, str]:
    return {" ".join(tokenize(t.replace("{the}", "").replace("{a}", ""))[:-1]): m
            for m, tpls in EVENT_TEMPLATES.items() for t in tpls}


_PREDICATE = _predicates()
_SIZE, _COLOR, _SHAPE = ("|".join(words) for words in (SIZES, COLORS, SHAPES))
_CLAUSE = re.compile(rf"^(?:the|an?) (?:(?:{_SIZE}) )?({_COLOR}) ({_SHAPE}) (.+)$")


def parse_caption(text: str) -> list[EventWords] | None:
    """The inverse of :func:`caption`: the events a sentence of the pool's grammar names, in time
    order ("B after A" is A then B); None if the sentence is not in the grammar (a generated
    caption that is not cannot be read, and counts as wrong)."""
    s = " ".join(tokenize(text))
    s = s.removesuffix(" .").removeprefix("first ")
    parts = re.split(r" , and after that | , then | and then ", s)
    if len(parts) == 1:
        for sep, swap in ((" after ", True), (" before ", False)):
            a, found, b = s.partition(sep)
            if found:
                parts = [b, a] if swap else [a, b]
                break
    out = []
    for part in parts:
        m = _CLAUSE.match(part)
        if m is None or m.group(3) not in _PREDICATE:
            return None
        out.append((m.group(1), m.group(2), _PREDICATE[m.group(3)]))
    return out


def sample_captions(scene: Scene, rng: np.random.Generator, cfg: MSRVTTConfig) -> dict:
    """The video's references: reference 0 names every event; others may name a stretch of them."""
    events = sorted(scene.events, key=lambda e: e.start)
    refs: list[str] = []
    for _ in range(10 * cfg.captions_per_video):
        if len(refs) == cfg.captions_per_video:
            break
        part = events
        if refs and len(events) > 1 and rng.random() < cfg.partial_prob:
            k = int(rng.integers(1, len(events)))
            i = int(rng.integers(len(events) - k + 1))
            part = events[i:i + k]
        text = caption(rng, scene, part, cfg)
        if text not in refs:
            refs.append(text)
    return {"captions": refs}


# -- files ------------------------------------------------------------------------------------


def _retrieval_csv(records: list[dict], cfg: MSRVTTConfig) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")  # LF, as CLIP4Clip's file
    w.writerow(RETRIEVAL_HEADER)
    for i, r in enumerate(records):
        w.writerow([f"ret{i}", "msr" + r["vid"].removeprefix("video"), r["vid"], r["captions"][0]])
    return buf.getvalue()


def msrvtt_files(records: Records, cfg: MSRVTTConfig) -> dict[str, str | bytes]:
    videos, sentences = [], []
    for split in SPLITS:
        for r in records[split]:
            videos.append({"category": 0, "url": "", "video_id": r["vid"], "start time": 0.0,
                           "end time": r["duration"], "split": MSRVTT_SPLIT[split], "id": len(videos)})
            for c in r["captions"]:
                sentences.append({"caption": c, "video_id": r["vid"], "sen_id": len(sentences)})
    info = {"contributor": "i2vbench SynthVid", "description": "SynthVid pool in MSR-VTT's layout",
            "version": MSRVTT.version}
    twins = {s: [[r["vid"], r["twin"]] for r in records[s] if r["twin"] and not r["reversed"]]
             for s in SPLITS if any(r["twin"] for r in records[s])}
    return {
        "MSRVTT_data.json": json.dumps({"info": info, "videos": videos, "sentences": sentences},
                                       separators=(",", ":")),
        "MSRVTT_train.9k.csv": "video_id\n" + "".join(r["vid"] + "\n" for r in records["train"]),
        "MSRVTT_JSFUSION_val.csv": _retrieval_csv(records["val"], cfg),
        "MSRVTT_JSFUSION_test.csv": _retrieval_csv(records["test"], cfg),
        "msrvtt_twins.json": _twins_json(twins),
    }


def _twins_json(twins: dict[str, list[list[str]]]) -> str:
    """``{"val": [[video, twin], ...], ...}``, one pair a line."""
    blocks = [f" {json.dumps(s)}: [\n" + ",\n".join(f"  {json.dumps(p)}" for p in pairs) + "\n ]"
              for s, pairs in twins.items()]
    return "{\n" + ",\n".join(blocks) + "\n}\n"


def _counts(records: list[dict]) -> dict[str, int]:
    return {"sentences": sum(len(r["captions"]) for r in records),
            "twin_pairs": sum(1 for r in records if r["twin"] and not r["reversed"])}


MSRVTT = TaskWriter("msrvtt", "1", sample_captions, msrvtt_files, _counts,
                    {"splits": MSRVTT_SPLIT}, scene=msrvtt_scene,
                    vid=lambda split, index, annotations, cfg: _name(split, index, cfg))


def _handle(built: Built) -> SynthVidMSRVTT:
    root = built.root
    return SynthVidMSRVTT(
        **built.folder_fields(), data_json=root / "MSRVTT_data.json",
        train_csv=root / "MSRVTT_train.9k.csv", val_csv=root / "MSRVTT_JSFUSION_val.csv",
        test_csv=root / "MSRVTT_JSFUSION_test.csv", twins_json=root / "msrvtt_twins.json",
    )


def build_msrvtt(root: Path | str | None = None, *, config: MSRVTTConfig | None = None,
                 **options: Unpack[BuildOptions]) -> SynthVidMSRVTT:
    """Generate (or reuse) the SynthVid MSR-VTT pool; returns its paths.

    ``n_train`` / ``n_val`` / ``n_test`` override the config's video counts. ``options``
    are those of :func:`.writer.build`.
    """
    return build(MSRVTT, config or MSRVTTConfig(), _handle, root, **options)

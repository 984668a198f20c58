"""SynthVid VideoQA: four question sets in the real datasets' files, on two video pools.

- **NExT-QA** (its own videos, longer scenes with 3-4 events): ``{train,val,test}.csv`` in
  NExT-QA's layout (``video,frame_count,width,height,question,answer,qid,type,a0..a4``), videos
  ``videos/<video>.mp4`` with NExT-QA's integer ids. Temporal types: ``TN`` (what is next after
  an event), ``TP`` (the last thing before it), ``TC`` (what is under way as the video starts or
  ends). Descriptive: ``DC`` (how many objects), ``DL`` (where an object that never moves is),
  ``DO`` (an object's colour or shape). NExT-QA's causal types (``CW`` why, ``CH`` how) are left
  out: nothing in the SynthVid world causes anything (events are drawn independently), so a
  "why" question would have no answer.
- **How2QA** (the NExT-QA videos, annotated again: the headerless
  ``how2QA_{train,val,test_public}_release.csv``, ``youtube_id,[start:end],wrong1,wrong2,wrong3,
  question,correct``): "what does <object> do in this clip?" about the segment, which holds one
  event; the object's other events, outside the segment, are among the wrong answers.
- **MSRVTT-MC** (the MSR-VTT pool's videos and captions): ``msrvtt_mc_{train,val,test}.jsonl``
  (``qid, clip_name, answer, options[5]``): the video's first reference among four other videos'
  first references; a video with a time-reversed twin has the twin's caption among them.
- **MSVD-QA** (the MSR-VTT pool's videos): ``msvd_{train,val,test}_qa_encode.json``
  (``[{answer, id, question, video_id}]``), ``msvd_youtube_mapping.txt`` (``<clip name> vid<N>``;
  the clip name is the pool's video id): one-word answers (a colour or a shape).

Wording comes from the grammar (:data:`.text.QUESTIONS`). Two rules make a language prior useless:
within each split and question template, every answer value occurs equally often (questions of
commoner values are dropped; values much rarer than the rest are dropped whole), and the correct
option's position cycles evenly through the option slots (How2QA's format puts it last; methods
score options independently of their position). Temporal distractors are events of the same video
and their opposites ("the red circle moves to the right" beside "... to the left"), so a bag of
frames cannot tell the answer from them: only the order and direction of events can.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from i2vbench.datasets.synthvid.msrvtt import MSRVTT, MSRVTTConfig
from i2vbench.datasets.synthvid.text import (
    NUMBERS,
    POSITIONS,
    event_clause,
    noun_phrase,
    predicate,
    question,
)
from i2vbench.datasets.synthvid.world import (
    COLORS,
    MOTIONS,
    OPPOSITE,
    SHAPES,
    Event,
    Scene,
    SceneConfig,
    region,
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
)

if TYPE_CHECKING:
    from typing import Unpack

TEMPORAL_TYPES = ("TN", "TP", "TC")
DESCRIPTIVE_TYPES = ("DC", "DL", "DO")
NEXTQA_HEADER = ("video", "frame_count", "width", "height", "question", "answer", "qid", "type",
                 "a0", "a1", "a2", "a3", "a4")
HOW2QA_FILES = {"train": "how2QA_train_release.csv", "val": "how2QA_val_release.csv",
                "test": "how2QA_test_public_release.csv"}
EVENT_MOTIONS = tuple(m for m in MOTIONS if m != "stay")


def _nextqa_scene() -> SceneConfig:
    # Three or four events a video (two are the least an order question needs, and a third keeps a
    # bag of frames from telling "the other event" apart), two to five objects (counting answers).
    return SceneConfig(min_duration=12.0, max_duration=15.0, min_objects=2, max_objects=5, min_events=3,
                       max_events=4, min_event_s=2.0, max_event_s=3.0)


@dataclass(frozen=True)
class NExTQAConfig(WriterConfig):
    """The NExT-QA set's videos and sizes (How2QA annotates the same videos)."""

    scene: SceneConfig = field(default_factory=_nextqa_scene)
    n_train: int = 300
    n_val: int = 60
    n_test: int = 100
    video_base: int = 3000000000  # NExT-QA's video ids are integers (VidOR's); ours count up from here


@dataclass(frozen=True)
class How2QAConfig(NExTQAConfig):
    """How2QA on the NExT-QA videos: segments around one event each."""

    segments_per_video: int = 2
    margin_s: float = 1.0  # at most this much video on each side of the event (never another event)


@dataclass(frozen=True)
class MSRVTTQAConfig(MSRVTTConfig):
    """MSRVTT-MC and MSVD-QA on the MSR-VTT pool (its config fields are the pool's)."""

    mc_options: int = 5


# -- shared pieces ------------------------------------------------------------------------------


def _key_rng(*parts: object) -> np.random.Generator:
    """A random stream keyed by names (a question's id), independent of everything else."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _opposite(e: Event) -> Event:
    return Event(e.obj, OPPOSITE.get(e.motion, e.motion), e.start, e.end, e.size)


def _clause(scene: Scene, e: Event, rng: np.random.Generator | None = None) -> str:
    o = scene.objects[e.obj]
    return event_clause(e.motion, o.color, o.shape, rng)


def _the(scene: Scene, obj: int) -> str:
    o = scene.objects[obj]
    return noun_phrase("the", o.color, o.shape)


def _distinct(answer: str, pool: list[str], k: int) -> list[str] | None:
    out: list[str] = []
    for p in pool:
        if p != answer and p not in out:
            out.append(p)
        if len(out) == k:
            return out
    return None


def _event_options(scene: Scene, answer: Event, excluded: list[Event], rng: np.random.Generator,
                   k: int) -> list[str] | None:
    """``k`` wrong options for an event answer: its opposite, the video's other events and their
    opposites (the same objects doing the same kinds of thing), then events that never happen."""
    others = [e for e in scene.events if e not in excluded and e != answer]
    rng.shuffle(others)
    pool = [_clause(scene, _opposite(answer))]
    for e in others:
        pool += [_clause(scene, e), _clause(scene, _opposite(e))]
    seen = {(e.obj, e.motion) for e in scene.events}
    absent = [(j, m) for j in range(len(scene.objects)) for m in EVENT_MOTIONS if (j, m) not in seen]
    for i in rng.permutation(len(absent)):
        j, m = absent[i]
        pool.append(_clause(scene, Event(j, m, 0.0, 0.0, 0)))
    return _distinct(_clause(scene, answer), pool, k)


def _word_options(answer: str, words: tuple[str, ...] | list[str], rng: np.random.Generator, k: int) -> list[str]:
    pool = [w for w in words if w != answer]
    return [pool[i] for i in rng.permutation(len(pool))[:k]]


def _unique(values: list[int]) -> set[int]:
    return {v for v in set(values) if values.count(v) == 1}


def balance(questions: list[dict], n_options: int, salt: str, rare: float = 1 / 3) -> list[dict]:
    """Questions kept so that, per template, every answer value occurs equally often, with the
    correct option's slot cycling evenly through the ``n_options`` slots.

    Each value keeps as many questions as the rarest value that has at least ``rare`` × the
    median count (rarer values are dropped whole); which questions are kept, and the slot order,
    are drawn from streams keyed by ``salt`` and the template, so the result depends on nothing
    else. Input dicts have ``template``, ``answer`` and ``distractors``; output dicts add
    ``options`` and ``answer_index``, in the input's order.
    """
    by_template: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(questions):
        by_template[q["template"]].append(i)
    keep: list[int] = []
    for template, idx in by_template.items():
        by_value: dict[str, list[int]] = defaultdict(list)
        for i in idx:
            by_value[questions[i]["answer"]].append(i)
        counts = sorted(len(v) for v in by_value.values())
        median = counts[len(counts) // 2]
        cap = min(c for c in counts if c >= rare * median)
        rng = _key_rng(salt, template, "keep")
        for value in sorted(by_value):
            members = by_value[value]
            if len(members) >= cap:
                keep += [members[j] for j in sorted(rng.permutation(len(members))[:cap])]
    keep.sort()
    out = []
    slots: dict[str, list[int]] = defaultdict(list)
    for i in keep:
        q = questions[i]
        pending = slots[q["template"]]
        if not pending:  # a fresh shuffled cycle of the slots
            pending.extend(_key_rng(salt, q["template"], "slot", i).permutation(n_options).tolist())
        slot = pending.pop()
        wrong = list(q["distractors"])
        _key_rng(salt, q["template"], "order", i).shuffle(wrong)
        options = wrong[:slot] + [q["answer"]] + wrong[slot:]
        out.append({**q, "options": options, "answer_index": slot})
    return out


# -- NExT-QA --------------------------------------------------------------------------------------


def nextqa_questions(scene: Scene, rng: np.random.Generator, cfg: NExTQAConfig) -> dict:
    """The candidate questions of one video (every order question, one question of each
    descriptive type where the video allows it); the balancing in :func:`nextqa_files` decides
    which are kept."""
    k = 4  # wrong options
    events = sorted(scene.events, key=lambda e: e.start)
    out: list[dict] = []

    def add(qtype: str, template: str, q: str, answer: str, wrong: list[str] | None) -> None:
        if wrong is not None:
            out.append({"type": qtype, "template": template, "question": q, "answer": answer, "distractors": wrong})

    # Every order question the video has (temporal questions need many examples to be learnt from
    # a few hundred videos), the event in the question worded as options word it.
    for x, a in zip(events, events[1:], strict=False):  # TN: what follows x
        add("TN", "next", question("next", event=_clause(scene, x)), _clause(scene, a),
            _event_options(scene, a, [x], rng, k))
    for a, x in zip(events, events[1:], strict=False):  # TP: what precedes x
        add("TP", "previous", question("previous", event=_clause(scene, x)), _clause(scene, a),
            _event_options(scene, a, [x], rng, k))
    if events:
        for template, a in (("first", events[0]), ("final", events[-1])):
            add("TC", template, question(template), _clause(scene, a), _event_options(scene, a, [], rng, k))
    n = len(scene.objects)
    add("DC", "count", question("count"), NUMBERS[n], _word_options(NUMBERS[n], NUMBERS[1:7], rng, k))
    moved = {e.obj for e in events if e.motion.startswith("move")}
    still = [j for j in range(n) if j not in moved]
    if still:
        j = still[int(rng.integers(len(still)))]
        col, row = region(scene.cx[0, j], scene.cy[0, j], scene.image_size)
        where = POSITIONS[(int(col), int(row))]
        add("DL", "where", question("where", the=_the(scene, j)), where,
            _word_options(where, list(POSITIONS.values()), rng, k))
    out += _attribute_questions(scene, rng, k, "DO")
    return {"qa": out}


def _attribute_questions(scene: Scene, rng: np.random.Generator, k: int, qtype: str | None) -> list[dict]:
    """One colour or shape question about an object the question can name unambiguously."""
    colors = [o.color for o in scene.objects]
    shapes = [o.shape for o in scene.objects]
    choices = [("colour", j) for j, o in enumerate(scene.objects) if o.shape in _unique(shapes)]
    choices += [("shape", j) for j, o in enumerate(scene.objects) if o.color in _unique(colors)]
    if not choices:
        return []
    template, j = choices[int(rng.integers(len(choices)))]
    o = scene.objects[j]
    if template == "colour":
        q, a, words = question("colour", shape=SHAPES[o.shape]), COLORS[o.color], COLORS
    else:
        q, a, words = question("shape", colour=COLORS[o.color]), SHAPES[o.shape], SHAPES
    return [{"type": qtype, "template": template, "question": q, "answer": a,
             "distractors": _word_options(a, words, rng, k)}]


def _video_name(split: str, index: int, annotations: dict, cfg: NExTQAConfig) -> str:
    offset = {"train": 0, "val": cfg.n_train, "test": cfg.n_train + cfg.n_val}[split]
    return str(cfg.video_base + offset + index)


def nextqa_files(records: Records, cfg: NExTQAConfig) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {}
    for split in SPLITS:
        flat = [{**q, "video": r["vid"], "frames": r["n_frames"]} for r in records[split] for q in r["qa"]]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(NEXTQA_HEADER)
        qid: dict[str, int] = defaultdict(int)
        for q in balance(flat, 5, f"nextqa/{split}"):
            qid[q["video"]] += 1
            w.writerow([q["video"], q["frames"], cfg.scene.image_size, cfg.scene.image_size, q["question"],
                        q["answer_index"], qid[q["video"]], q["type"], *q["options"]])
        files[f"{split}.csv"] = buf.getvalue()
    return files


def _qa_counts(records: list[dict]) -> dict[str, int]:
    return {"candidate_questions": sum(len(r["qa"]) for r in records)}


NEXTQA = TaskWriter("nextqa", "2", nextqa_questions, nextqa_files, _qa_counts, vid=_video_name)


# -- How2QA (the NExT-QA videos, annotated again) -----------------------------------------------


def how2qa_questions(scene: Scene, rng: np.random.Generator, cfg: How2QAConfig) -> dict:
    """Segments around single events: what the named object does in the segment (4 options)."""
    events = sorted(scene.events, key=lambda e: e.start)
    out = []
    for i in sorted(rng.permutation(len(events))[:cfg.segments_per_video].tolist()):
        e = events[i]
        lo = events[i - 1].end if i > 0 else 0.0
        hi = events[i + 1].start if i + 1 < len(events) else scene.duration
        start = round(max(lo, e.start - float(rng.uniform(0, cfg.margin_s))), 2)
        end = round(min(hi, e.end + float(rng.uniform(0, cfg.margin_s))), 2)
        answer = predicate(e.motion)
        own = [predicate(x.motion) for x in events if x.obj == e.obj and x is not e]  # outside the segment
        pool = [predicate(OPPOSITE[e.motion]), *own]
        pool += [predicate(m) for m in rng.permutation(EVENT_MOTIONS).tolist()]
        out.append({"template": "in_clip", "question": question("in_clip", the=_the(scene, e.obj)),
                    "answer": answer, "distractors": _distinct(answer, pool, 3), "start": start, "end": end})
    return {"how2qa": out}


def how2qa_files(records: Records, cfg: How2QAConfig) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {}
    for split in SPLITS:
        flat = [{**q, "video": r["vid"]} for r in records[split] for q in r["how2qa"]]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")  # the release's line ends
        for q in balance(flat, 4, f"how2qa/{split}"):
            wrong = [o for j, o in enumerate(q["options"]) if j != q["answer_index"]]  # in the drawn order
            w.writerow([q["video"], f"[{q['start']:g}:{q['end']:g}]", *wrong, q["question"], q["answer"]])
        files[HOW2QA_FILES[split]] = buf.getvalue()
    return files


def _nextqa_videos(cfg: How2QAConfig) -> tuple[TaskWriter, WriterConfig]:
    base = {f.name: getattr(cfg, f.name) for f in fields(NExTQAConfig)}
    return NEXTQA, NExTQAConfig(**base)


HOW2QA = TaskWriter("how2qa", "1", how2qa_questions, how2qa_files,
                    lambda rs: {"candidate_questions": sum(len(r["how2qa"]) for r in rs)},
                    videos_from=_nextqa_videos)


# -- MSRVTT-MC and MSVD-QA (the MSR-VTT pool, annotated again) ----------------------------------


def msvd_questions(scene: Scene, rng: np.random.Generator, cfg: MSRVTTQAConfig) -> dict:
    """One-word questions: an object's colour or shape, named by its other attribute or by the one
    thing it does (a motion no other object of the video makes)."""
    out = [{k: v for k, v in q.items() if k != "type"} for q in _attribute_questions(scene, rng, 0, None)]
    motions = [e.motion for e in scene.events]
    once = [e for e in scene.events if motions.count(e.motion) == 1]
    if once:
        e = once[int(rng.integers(len(once)))]
        o = scene.objects[e.obj]
        template = ("colour_of_event", "shape_of_event")[int(rng.integers(2))]
        answer = COLORS[o.color] if template == "colour_of_event" else SHAPES[o.shape]
        out.append({"template": template, "question": question(template, predicate=predicate(e.motion, rng)),
                    "answer": answer, "distractors": []})
    return {"msvd_qa": out}


def msrvtt_qa_files(records: Records, cfg: MSRVTTQAConfig) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {}
    mapping, number = [], {}
    for split in SPLITS:
        for r in records[split]:
            number[r["vid"]] = len(number) + 1
            mapping.append(f"{r['vid']} vid{number[r['vid']]}\n")
    files["msvd_youtube_mapping.txt"] = "".join(mapping)
    qid = 0
    for split in SPLITS:
        rows = records[split]
        flat = [{**q, "video": r["vid"]} for r in rows for q in r["msvd_qa"]]
        items = []
        for q in balance(flat, 1, f"msvd/{split}"):
            items.append({"answer": q["answer"], "id": qid, "question": q["question"], "video_id": number[q["video"]]})
            qid += 1
        files[f"msvd_{split}_qa_encode.json"] = json.dumps(items, separators=(", ", ": "))
        files[f"msrvtt_mc_{split}.jsonl"] = _mc_jsonl(rows, split, cfg)
    return files


def _mc_jsonl(rows: list[dict], split: str, cfg: MSRVTTQAConfig) -> str:
    """One question a video: its first reference among other videos' (its twin's first, if any)."""
    k = cfg.mc_options - 1
    first = {r["vid"]: r["captions"][0] for r in rows}
    vids = list(first)
    questions = []
    for r in rows:
        rng = _key_rng("msrvtt-mc", split, r["vid"])
        pool = [first[r["twin"]]] if r.get("twin") else []
        pool += [first[vids[i]] for i in rng.permutation(len(vids)) if vids[i] != r["vid"]]
        wrong = _distinct(first[r["vid"]], pool, k)
        if wrong is not None:
            questions.append({"template": "caption", "answer": first[r["vid"]], "distractors": wrong,
                              "video": r["vid"]})
    lines = []
    for q in balance(questions, cfg.mc_options, f"msrvtt-mc/{split}"):
        lines.append(json.dumps({"qid": f"mc{len(lines)}" if split == "test" else f"mc-{split}{len(lines)}",
                                 "clip_name": q["video"], "answer": str(q["answer_index"]),
                                 "options": q["options"]}))
    return "".join(line + "\n" for line in lines)


def _pool(cfg: MSRVTTQAConfig) -> tuple[TaskWriter, WriterConfig]:
    return MSRVTT, MSRVTTConfig(**{f.name: getattr(cfg, f.name) for f in fields(MSRVTTConfig)})


MSRVTT_QA = TaskWriter("msrvtt-qa", "1", msvd_questions, msrvtt_qa_files,
                       lambda rs: {"candidate_questions": sum(len(r["msvd_qa"]) for r in rs)},
                       videos_from=_pool)


# -- handles --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthVidNExTQA(TaskFolder):
    def csv(self, split: str) -> Path:
        return self.root / f"{split}.csv"


@dataclass(frozen=True)
class SynthVidHow2QA(TaskFolder):
    def csv(self, split: str) -> Path:
        return self.root / HOW2QA_FILES[split]


@dataclass(frozen=True)
class SynthVidMSRVTTQA(TaskFolder):
    mapping_txt: Path

    def mc_jsonl(self, split: str) -> Path:
        return self.root / f"msrvtt_mc_{split}.jsonl"

    def msvd_json(self, split: str) -> Path:
        return self.root / f"msvd_{split}_qa_encode.json"


def _msrvtt_qa_handle(built: Built) -> SynthVidMSRVTTQA:
    return SynthVidMSRVTTQA(**built.folder_fields(), mapping_txt=built.root / "msvd_youtube_mapping.txt")


def build_nextqa(root: Path | str | None = None, *, config: NExTQAConfig | None = None,
                 **options: Unpack[BuildOptions]) -> SynthVidNExTQA:
    """Generate (or reuse) the SynthVid NExT-QA set (see the module docstring)."""
    return build(NEXTQA, config or NExTQAConfig(), SynthVidNExTQA.of, root, **options)


def build_how2qa(root: Path | str | None = None, *, config: How2QAConfig | None = None,
                 **options: Unpack[BuildOptions]) -> SynthVidHow2QA:
    """Generate (or reuse) SynthVid How2QA on the NExT-QA set's videos (built first if needed)."""
    return build(HOW2QA, config or How2QAConfig(), SynthVidHow2QA.of, root, **options)


def build_msrvtt_qa(root: Path | str | None = None, *, config: MSRVTTQAConfig | None = None,
                    **options: Unpack[BuildOptions]) -> SynthVidMSRVTTQA:
    """Generate (or reuse) SynthVid MSRVTT-MC and MSVD-QA on the MSR-VTT pool (built first if needed)."""
    return build(MSRVTT_QA, config or MSRVTTQAConfig(), _msrvtt_qa_handle, root, **options)


# -- timed event captions (auxiliary supervision of the training videos) ----------------------------


def event_captions(scenes_jsonl: Path, split: str = "train") -> dict[str, tuple[list[tuple[str, float, float]], list[str]]]:
    """Each ``split`` video's events as timed captions, and the sentences that hold at none of its frames.

    ``{video: ([(sentence, start s, end s), ...], [sentence, ...])}``: every event worded as an
    answer option words it ("the red circle moves to the left"), with its span; beside them the
    same events played backwards ("... moves to the right"), which the video never shows (a
    time-reversed event is the opposite motion). These are the dense captions a method may learn
    a frame-level reading from (Tem-Adapter's captions of the video); they come from the scene
    annotations the writer keeps (``scenes.jsonl``), so a run hands over those of the training
    split only.
    """
    out: dict[str, tuple[list[tuple[str, float, float]], list[str]]] = {}
    with open(scenes_jsonl) as f:
        for line in f:
            rec = json.loads(line)
            if rec["split"] != split:
                continue
            timed, never = [], []
            for e in sorted(rec["events"], key=lambda e: e["start"]):
                o = rec["objects"][e["object"]]
                color, shape = COLORS.index(o["color"]), SHAPES.index(o["shape"])
                timed.append((event_clause(e["motion"], color, shape), float(e["start"]), float(e["end"])))
                never.append(event_clause(OPPOSITE.get(e["motion"], e["motion"]), color, shape))
            out[str(rec["vid"])] = (timed, [s for s in dict.fromkeys(never) if s not in {t[0] for t in timed}])
    return out


def question_events(scenes_jsonl: Path, split: str = "train") -> dict[tuple[str, str], tuple[float, float]]:
    """``{(video, question): (start s, end s)}`` of the event a ``split`` question names ("what is
    next after the red circle slides to the left?"): the timed caption of the question's own event,
    found by its wording (any of the event's templates); questions naming no event, or an event
    the video has twice, are left out."""
    from i2vbench.datasets.synthvid.text import EVENT_TEMPLATES

    out: dict[tuple[str, str], tuple[float, float]] = {}
    with open(scenes_jsonl) as f:
        for line in f:
            rec = json.loads(line)
            if rec["split"] != split:
                continue
            wordings = []
            for e in rec["events"]:
                o = rec["objects"][e["object"]]
                the = noun_phrase("the", COLORS.index(o["color"]), SHAPES.index(o["shape"]))
                a = noun_phrase("a", COLORS.index(o["color"]), SHAPES.index(o["shape"]))
                wordings.append(({t.format(the=the, a=a).rstrip(".") for t in EVENT_TEMPLATES[e["motion"]]},
                                 (float(e["start"]), float(e["end"]))))
            for qa in rec.get("qa", []):
                q = qa["question"].rstrip("?")
                spans = [span for words, span in wordings if any(q.endswith(" " + w) for w in words)]
                if len(spans) == 1:
                    out[str(rec["vid"]), qa["question"]] = spans[0]
    return out

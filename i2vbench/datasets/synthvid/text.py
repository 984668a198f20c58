"""The SynthVid grammar: frame captions, event sentences, prompts, and the closed vocabulary.

Every sentence any SynthVid task produces is built here from a small grammar, so the word-level
tokenizer of the embedded tiny ILFM (built from :data:`VOCABULARY`) never meets an unknown word.
Words for tasks whose writers come later (question answering, captioning, class names) are
listed now, because the tokenizer is frozen into the shipped checkpoint.

Tokenisation rule shared by everyone: lower-case, then :func:`tokenize` (words and the
punctuation marks ``. , ?`` as separate tokens).
"""

from __future__ import annotations

import re

import numpy as np

from i2vbench.datasets.synthvid.world import COLORS, MOTIONS, SHAPES, SIZES

# Position phrase for each (column, row) third of the image.
POSITIONS: dict[tuple[int, int], str] = {
    (0, 0): "at the top left", (1, 0): "at the top", (2, 0): "at the top right",
    (0, 1): "on the left", (1, 1): "in the centre", (2, 1): "on the right",
    (0, 2): "at the bottom left", (1, 2): "at the bottom", (2, 2): "at the bottom right",
}

# Event sentences ("{the}" / "{a}" is the object's noun phrase). Charades-STA style: lower case,
# ending with a full stop.
EVENT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "move left": ("{the} moves to the left.", "{the} moves left.", "{the} slides to the left.",
                  "{the} goes left."),
    "move right": ("{the} moves to the right.", "{the} moves right.", "{the} slides to the right.",
                   "{the} goes right."),
    "move up": ("{the} moves up.", "{the} goes up.", "{the} rises.", "{the} moves to the top."),
    "move down": ("{the} moves down.", "{the} goes down.", "{the} falls.",
                  "{the} moves to the bottom."),
    "appear": ("{a} appears.", "{a} fades in.", "{the} shows up."),
    "disappear": ("{the} disappears.", "{the} fades out.", "{the} vanishes."),
    "grow": ("{the} grows.", "{the} gets bigger.", "{the} becomes larger."),
    "shrink": ("{the} shrinks.", "{the} gets smaller.", "{the} becomes smaller."),
    "stay": ("{the} stays still.", "{the} does not move."),
}
assert set(EVENT_TEMPLATES) == set(MOTIONS)

# Words reserved for the writers of later tasks (QA, captioning, class names, prompts).
RESERVED_WORDS = """
a an the and or then while before after during first second third last next again also
is are was were does did do not no yes it its there this that of to from in on at with by
what which who where when how many much color colour shape size object objects thing things
video frame clip start beginning end middle time same different other another both all only
moving moves moved move goes go slides slide rises rise falls fall stays stay still stops
appearing appears appeared appear disappearing disappears disappeared disappear
growing grows grew grow shrinking shrinks shrank shrink bigger smaller larger
direction left right up down top bottom centre center side
zero one two three four five six seven eight nine ten
photo picture image of something someone
""".split()

PUNCTUATION = (".", ",", "?")
_TOKEN = re.compile(r"[a-z]+|[.,?]")


def tokenize(text: str) -> list[str]:
    """Words and punctuation of a SynthVid sentence, lower-cased (the shared tokenisation rule)."""
    return _TOKEN.findall(text.lower())


def noun_phrase(article: str, color: int | None, shape: int | None, size: int | None = None) -> str:
    """E.g. "the small red circle"; a missing colour or shape is replaced by generic words."""
    words = []
    if size is not None:
        words.append(SIZES[size])
    if color is not None:
        words.append(COLORS[color])
    words.append(SHAPES[shape] if shape is not None else "shape")
    if article == "a" and words[0][0] in "aeiou":
        article = "an"
    return " ".join([article, *words])


def position_phrase(col: int, row: int) -> str:
    return POSITIONS[(int(col), int(row))]


def object_caption(color: int, shape: int, size: int, col: int, row: int,
                   drop: tuple[bool, bool, bool, bool] = (False, False, False, False)) -> str:
    """One object of a frame caption, e.g. "a large red circle on the left".

    ``drop`` = (size, colour, position, shape) to leave out, for partial captions; a dropped
    shape becomes the word "shape" ("a red shape"), and colour is kept if both would go.
    """
    drop_color = drop[1] and not drop[3]
    np_ = noun_phrase("a", None if drop_color else color, None if drop[3] else shape,
                      None if drop[0] else size)
    return np_ if drop[2] else f"{np_} {position_phrase(col, row)}"


def event_sentence(rng: np.random.Generator, motion: str, color: int, shape: int,
                   size: int | None = None) -> str:
    """One sentence describing an event; ``size`` (the size when it starts) is optional."""
    tpl = EVENT_TEMPLATES[motion][int(rng.integers(len(EVENT_TEMPLATES[motion])))]
    return tpl.format(the=noun_phrase("the", color, shape, size), a=noun_phrase("a", color, shape, size))


def event_phrase(rng: np.random.Generator, motion: str) -> str:
    """The verb phrase of one of ``motion``'s sentence templates, e.g. "moves to the left"."""
    tpl = EVENT_TEMPLATES[motion][int(rng.integers(len(EVENT_TEMPLATES[motion])))]
    return _predicate(tpl)


def _predicate(template: str) -> str:
    return template.replace("{the} ", "").replace("{a} ", "").rstrip(".")


def motion_prompts(motion: str) -> list[str]:
    """Every phrasing of ``motion`` in the frame-caption grammar ("a shape moves to the left",
    ...): averaged into one prototype per class for zero-shot motion classification of stills."""
    return [f"{noun_phrase('a', None, None)} {_predicate(t)}" for t in EVENT_TEMPLATES[motion]]


def zero_shot_prompts(attribute: str) -> list[str]:
    """One text prompt per class of ``attribute`` ("shape", "color", "size" or "position").

    The prompts use the frame-caption grammar (a partial caption naming only that attribute),
    so a model trained on :func:`~i2vbench.datasets.synthvid.frame_caption_set` captions can
    classify frames zero-shot by nearest prompt.
    """
    if attribute == "shape":
        return [noun_phrase("a", None, k) for k in range(len(SHAPES))]
    if attribute in ("color", "colour"):
        return [noun_phrase("a", k, None) for k in range(len(COLORS))]
    if attribute == "size":
        return [noun_phrase("a", None, None, k) for k in range(len(SIZES))]
    if attribute == "position":
        return [f"a shape {p}" for p in POSITIONS.values()]
    raise ValueError(f"unknown attribute {attribute!r}; expected shape, color, size or position")


def _vocabulary() -> tuple[str, ...]:
    words: set[str] = set(RESERVED_WORDS) | set(SHAPES) | set(COLORS) | set(SIZES) | set(PUNCTUATION)
    for m in MOTIONS:
        words.update(tokenize(m))
    for p in POSITIONS.values():
        words.update(tokenize(p))
    for tpls in EVENT_TEMPLATES.values():
        for t in tpls:
            words.update(tokenize(t.replace("{the}", "").replace("{a}", "")))
    return tuple(sorted(words))


VOCABULARY: tuple[str, ...] = _vocabulary()


# Questions (VideoQA): every SynthVid question is one of these templates, with its slots filled by
# the phrases above ({event}: an event sentence without its full stop; {the}: a noun phrase;
# {predicate}: an event's verb phrase). The key is the question's template id: answers are
# balanced per template. Every word is in the frozen VOCABULARY (a test checks).
QUESTIONS: dict[str, str] = {
    "next": "what is next after {event}?",                    # NExT-QA TN
    "previous": "what is the last thing before {event}?",     # NExT-QA TP
    "first": "what is the first thing in the video?",         # NExT-QA TC (under way as it starts)
    "final": "what is the last thing in the video?",          # NExT-QA TC (under way as it ends)
    "count": "how many objects are there in the video?",      # NExT-QA DC
    "where": "where is {the}?",                               # NExT-QA DL (an object that never moves)
    "colour": "what colour is the {shape}?",                  # NExT-QA DO, MSVD-QA
    "shape": "what shape is the {colour} object?",            # NExT-QA DO, MSVD-QA
    "colour_of_event": "what colour is the shape that {predicate}?",  # MSVD-QA (reads the motion)
    "shape_of_event": "what shape is the object that {predicate}?",   # MSVD-QA (reads the motion)
    "in_clip": "what does {the} do in this clip?",            # How2QA (a [start:end] segment)
}
NUMBERS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def question(template: str, **slots: str) -> str:
    """The question of ``template`` (a key of :data:`QUESTIONS`) with its slots filled."""
    return QUESTIONS[template].format(**slots)


def event_clause(motion: str, color: int, shape: int, rng: np.random.Generator | None = None) -> str:
    """An event as a clause without its full stop, e.g. "the red circle moves to the left": the
    first template of ``motion`` (an answer option's fixed wording), or a random one given ``rng``
    (a question's varied wording)."""
    tpls = EVENT_TEMPLATES[motion]
    tpl = tpls[0] if rng is None else tpls[int(rng.integers(len(tpls)))]
    return tpl.format(the=noun_phrase("the", color, shape), a=noun_phrase("a", color, shape)).rstrip(".")


def predicate(motion: str, rng: np.random.Generator | None = None) -> str:
    """The verb phrase of ``motion``: its first template's (an option's wording) or a random one."""
    tpls = EVENT_TEMPLATES[motion]
    return _predicate(tpls[0] if rng is None else tpls[int(rng.integers(len(tpls)))])

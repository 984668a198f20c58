"""The VideoQA method interface: questions over videos, candidates scored, one QA head for all.

Every question has candidates: its options (multiple choice: NExT-QA, MSRVTT-MC, How2QA) or the
whole answer vocabulary (open-ended: MSVD-QA, answered by classification over the training
answers, as the field does). A method turns (video, question, candidate) into one vector per
candidate; :class:`QAHead`, the one scoring place every trained method shares, turns those into
logits, and the loss is cross-entropy over the candidates. Candidates are scored independently
of their position, so the slot the correct option sits in (How2QA's files put it last) tells a
method nothing.

Text is frozen ILFM output computed once per string: for the question, each candidate, and
"question candidate" joined (the zero-shot baseline's and the distillation teacher's text), a
pooled joint-space embedding and the mean of its word tokens (the last layer joined with the
input word embeddings, which keep "left" and "right" apart where the last layer barely does).
Video is ``num_frames`` frozen frame embeddings spread uniformly over the video or over the
question's segment (How2QA's ``[start:end]``), and, for methods that read where things are, the
same frames' patch grid from the ILFM's last block (``grids``). A training split may carry timed
captions of its videos (SynthVid's event sentences, :func:`make_split`'s ``captions``): a method
may learn a frame-level reading from them (:func:`caption_alignment`); val and test never have them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from i2vbench.datasets.features import VideoFeatures, frame_indices
from i2vbench.datasets.qa import QAItem
from i2vbench.methods.paradigms.common import PatchGridMotion, temporal_differences
from i2vbench.methods.trainable import TrainableMethod


@dataclass
class TextTable:
    """Frozen text features of every distinct string a run asks about (row per string)."""

    rows: dict[str, int]
    pooled: np.ndarray  # (S, D) joint-space embedding
    words: np.ndarray  # (S, W) mean over the string's word tokens

    @property
    def width(self) -> int:
        return self.pooled.shape[1] + self.words.shape[1]

    def features(self, rows: np.ndarray) -> np.ndarray:
        """(..., D + W) for an array of rows."""
        return np.concatenate([self.pooled[rows], self.words[rows]], axis=-1)


def joint_text(question: str, candidate: str) -> str:
    """The "question + option" string the zero-shot ILFM and the distillation teacher read."""
    return f"{question} {candidate}".strip()


@dataclass
class QASplit:
    items: list[QAItem]
    qtypes: list[str]  # the question's type (NExT-QA's; else the question's first word, or "")
    frames: np.ndarray  # (N, F, D) frozen frame embeddings of each question's video / segment
    question_rows: np.ndarray  # (N,) rows of the TextTable
    candidates: list[str]  # open-ended: the answer vocabulary (every question's candidates)
    candidate_rows: np.ndarray  # (N, K)
    joint_rows: np.ndarray  # (N, K) rows of joint_text(question, candidate)
    answer_index: np.ndarray  # (N,) the correct candidate; -1 when the answer is not a candidate
    text: TextTable
    open_ended: bool
    grids: np.ndarray | None = None  # (N, F, g², W) float16 the frames' patch grid (last block), if cached
    # timed captions (training split only): (N, S) TextTable rows (-1: none), (N, S, F) True where the
    # caption's event is under way in the question's frame (all False: a sentence that holds at no frame)
    caption_rows: np.ndarray | None = None
    caption_frames: np.ndarray | None = None
    question_frames: np.ndarray | None = None  # (N, F) True where the event the question names is under way

    def __len__(self) -> int:
        return len(self.items)

    def candidate_texts(self, i: int) -> tuple[str, ...]:
        return tuple(self.candidates) if self.open_ended else self.items[i].options

    def predictions(self, scores: np.ndarray) -> list[int | str]:
        """The argmax candidate of each question: an option index, or an answer string."""
        best = scores.argmax(1)
        return [self.candidates[b] if self.open_ended else int(b) for b in best]


Captions = dict[str, tuple[list[tuple[str, float, float]], list[str]]]  # video → (timed, never shown)


def make_split(items: list[QAItem], qtypes: list[str], videos: dict[str, VideoFeatures], fps: float,
               num_frames: int, text: TextTable, vocabulary: list[str] | None, grids: bool = False,
               captions: Captions | None = None,
               question_events: dict[tuple[str, str], tuple[float, float]] | None = None) -> QASplit:
    """Frames per question (its segment's, when it has one) and the text rows of its candidates;
    with ``grids`` the same frames' last-block patch grid; with ``captions`` (video → timed
    sentences and sentences it never shows, their strings in ``text``) each whole-video
    question's caption rows and the frames each caption spans; with ``question_events``
    ((video, question) → the span of the event the question names) the frames of that event."""
    frames, grid, times = [], [], []
    for it in items:
        pooled = videos[it.video].pooled
        lo, hi = 0, len(pooled)
        if it.span is not None:  # frames whose time (i / fps) lies in the segment, at least one
            lo = min(max(0, int(np.floor(it.span[0] * fps))), len(pooled) - 1)
            hi = max(lo + 1, min(len(pooled), int(np.ceil(it.span[1] * fps))))
        idx = lo + frame_indices(hi - lo, num_frames)
        frames.append(pooled[idx])
        times.append(idx / fps)
        if grids:
            grid.append(videos[it.video].layers[idx, -1, 1:])
    caption_rows = caption_frames = None
    if captions:
        width = max(len(t) + len(n) for t, n in captions.values())
        caption_rows = np.full((len(items), width), -1, dtype=np.int64)
        caption_frames = np.zeros((len(items), width, num_frames), dtype=bool)
        for i, it in enumerate(items):
            if it.span is not None or it.video not in captions:
                continue
            timed, never = captions[it.video]
            for j, (sentence, start, end) in enumerate(timed):
                caption_rows[i, j] = text.rows[sentence]
                caption_frames[i, j] = (times[i] >= start) & (times[i] <= end)
            caption_rows[i, len(timed):len(timed) + len(never)] = [text.rows[s] for s in never]
    question_frames = None
    if question_events:
        question_frames = np.zeros((len(items), num_frames), dtype=bool)
        for i, it in enumerate(items):
            span = question_events.get((it.video, it.question))
            if it.span is None and span is not None:
                question_frames[i] = (times[i] >= span[0]) & (times[i] <= span[1])
    open_ended = vocabulary is not None
    cands = [tuple(vocabulary) if open_ended else it.options for it in items]
    answer = np.array([(cands[i].index(it.answer) if it.answer in cands[i] else -1) if open_ended else it.answer
                       for i, it in enumerate(items)], dtype=np.int64)
    return QASplit(
        items=items, qtypes=qtypes, frames=np.stack(frames).astype(np.float32),
        question_rows=np.array([text.rows[it.question] for it in items]),
        candidates=list(vocabulary or []),
        candidate_rows=np.array([[text.rows[c] for c in cs] for cs in cands]),
        joint_rows=np.array([[text.rows[joint_text(it.question, c)] for c in cs] for it, cs in zip(items, cands,
                                                                                                    strict=True)]),
        answer_index=answer, text=text, open_ended=open_ended,
        grids=np.stack(grid) if grids else None, caption_rows=caption_rows, caption_frames=caption_frames,
        question_frames=question_frames,
    )


def split_strings(items: list[QAItem], vocabulary: list[str] | None, captions: Captions | None = None) -> list[str]:
    """Every string :func:`make_split` will look up in the TextTable."""
    out: dict[str, None] = {}
    for timed, never in (captions or {}).values():
        out.update(dict.fromkeys([t[0] for t in timed] + never))
    for it in items:
        cands = vocabulary if vocabulary is not None else it.options
        out[it.question] = None
        for c in cands:
            out[c] = None
            out[joint_text(it.question, c)] = None
    return list(out)


def channel_stats(x: np.ndarray, chunk: int = 1 << 15) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, std + 1e-6) of ``x`` (..., C) over every other axis, as float32, summed in
    float64 a chunk of rows at a time. The training split's patch grids are (N, 16, 16, 128) float16:
    converted to float64 whole (470 MB on SynthVid-NExT-QA) they took 8.8 s per method that reads
    them, chunk by chunk 0.5 s; the values are the same to the bit on the four SynthVid sets (a
    float16 sum in float64 is exact, so the mean cannot differ; the squared deviations are summed
    in another order, which moved no float32 std there)."""
    f = x.reshape(-1, x.shape[-1])
    total = np.zeros(f.shape[1])
    for s in range(0, len(f), chunk):
        total += f[s:s + chunk].sum(0, dtype=np.float64)
    mean = total / len(f)
    squares = np.zeros(f.shape[1])
    for s in range(0, len(f), chunk):
        d = f[s:s + chunk].astype(np.float64) - mean
        squares += np.einsum("ij,ij->j", d, d)
    return mean.astype(np.float32), (np.sqrt(squares / len(f)) + 1e-6).astype(np.float32)


@dataclass
class QABatch:
    idx: np.ndarray
    frames: torch.Tensor  # (B, F, D) standardised frozen frame embeddings
    raw_frames: torch.Tensor  # (B, F, D) as the ILFM gave them (for its own similarities)
    question: torch.Tensor  # (B, Dt) frozen text features of the question
    candidates: torch.Tensor  # (B, K, Dt) of each candidate
    joint: torch.Tensor  # (B, K, D) pooled joint-space embedding of "question candidate"
    answer: torch.Tensor  # (B,) correct candidate, -1 if none is
    texts: list[list[str]]  # (B, K) "question candidate" strings (for methods that run the text tower)
    questions: list[str]  # (B,) the questions' text
    options: list[tuple[str, ...]]  # (B, K) the candidates' text
    grid: torch.Tensor | None = None  # (B, F, g², W) standardised patch grid of the frames
    captions: torch.Tensor | None = None  # (B, S, Dt) text features of the video's captions
    caption_mask: torch.Tensor | None = None  # (B, S) True at a caption
    caption_frames: torch.Tensor | None = None  # (B, S, F) True where the caption's event is under way
    question_frames: torch.Tensor | None = None  # (B, F) True where the question's own event is under way
    motion: torch.Tensor | None = None  # (B, F, 4D) temporal_differences(frames), when taken once for the split


class _TrainInputs(NamedTuple):
    """The training split's frozen inputs, standardised once for a whole fit (see QAMethod.start_fit)."""

    split: QASplit
    frames: np.ndarray  # standardised with the training statistics
    grid: torch.Tensor | None  # likewise, for a method that reads the patch grid
    motion: torch.Tensor  # temporal_differences(frames)


class QAHead(nn.Module):
    """The one place answers are scored: frozen question and candidate text features embedded,
    and each candidate's logit read off (its video-side vector, its text vector, their product)."""

    def __init__(self, text_dim: int, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.question = nn.Sequential(nn.Linear(text_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.candidate = nn.Sequential(nn.Linear(text_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(3 * hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def embed(self, b: QABatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(question (B, H), candidates (B, K, H))."""
        return self.question(b.question), self.candidate(b.candidates)

    def forward(self, video: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """``video`` (B, K, H) or (B, H), ``candidates`` (B, K, H) → (B, K) logits."""
        if video.ndim == 2:
            video = video.unsqueeze(1).expand_as(candidates)
        return self.out(torch.cat([video, candidates, video * candidates], -1)).squeeze(-1)


class QAMethod(TrainableMethod):
    """A VideoQA method: ``forward(batch) -> (B, K) logits``; batching, loss and prediction shared."""

    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    grid_mean: np.ndarray | None = None
    grid_std: np.ndarray | None = None
    with_texts = False  # the method runs the text tower itself on "question candidate" strings
    _train_inputs: _TrainInputs | None = None  # while fitting, see start_fit

    def start_fit(self, train: QASplit) -> None:
        self.mean, self.std = channel_stats(train.frames)
        if train.grids is not None and "layers" in self.needs:
            self.grid_mean, self.grid_std = channel_stats(train.grids)
        # the training split's frozen inputs standardised once, not again at every epoch's batches: the same
        # elementwise operations, so the same values to the bit; dropped when fit() ends
        frames, grid = self._standardised(train, np.arange(len(train)))
        self._train_inputs = _TrainInputs(train, frames, grid, temporal_differences(torch.from_numpy(frames)))

    def fit(self, train: QASplit, seed: int = 0, progress: bool = True) -> list[float]:
        try:
            return super().fit(train, seed=seed, progress=progress)
        finally:
            self._train_inputs = None

    def _standardised(self, split: QASplit, idx: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, torch.Tensor | None]:
        """The frames (numpy) and, for a method that reads it, the patch grid (torch) of the items
        ``idx``, standardised with the training statistics; the grid ``chunk`` items at a time."""
        raw = split.frames[idx]
        frames = raw if self.mean is None else (raw - self.mean) / self.std
        if self.grid_mean is None or split.grids is None:
            return frames, None
        mean, std = torch.from_numpy(self.grid_mean), torch.from_numpy(self.grid_std)
        grid = torch.empty(len(idx), *split.grids.shape[1:])
        for s in range(0, len(idx), chunk):
            # in torch: its float16 → float32 conversion is 2x numpy's (2.4 ms against 4.7 a batch), same values
            grid[s:s + chunk] = (torch.from_numpy(split.grids[idx[s:s + chunk]]).float() - mean) / std
        return frames, grid

    def epoch_order(self, train: QASplit, rng: np.random.Generator) -> np.ndarray:
        keep = np.flatnonzero(train.answer_index >= 0)  # an answer outside the vocabulary teaches nothing
        return keep[rng.permutation(len(keep))]

    def batch(self, split: QASplit, idx: np.ndarray) -> QABatch:
        raw = split.frames[idx]
        prepared, motion = self._train_inputs, None
        if prepared is not None and prepared.split is split:
            rows = torch.from_numpy(idx)
            frames, motion = prepared.frames[idx], prepared.motion[rows]
            grid = None if prepared.grid is None else prepared.grid[rows]
        else:
            frames, grid = self._standardised(split, idx)
        t = split.text
        captions = mask = spans = None
        if split.caption_rows is not None:
            rows = split.caption_rows[idx]
            captions = torch.from_numpy(t.features(np.maximum(rows, 0)))
            mask, spans = torch.from_numpy(rows >= 0), torch.from_numpy(split.caption_frames[idx])
        texts = []
        if self.with_texts:
            texts = [[joint_text(split.items[i].question, c) for c in split.candidate_texts(i)] for i in idx]
        return QABatch(
            idx=idx, frames=torch.from_numpy(frames), raw_frames=torch.from_numpy(raw),
            question=torch.from_numpy(t.features(split.question_rows[idx])),
            candidates=torch.from_numpy(t.features(split.candidate_rows[idx])),
            joint=torch.from_numpy(t.pooled[split.joint_rows[idx]]),
            answer=torch.from_numpy(split.answer_index[idx]), texts=texts,
            questions=[split.items[i].question for i in idx], options=[split.candidate_texts(i) for i in idx],
            grid=grid, captions=captions, caption_mask=mask, caption_frames=spans,
            question_frames=None if split.question_frames is None else torch.from_numpy(split.question_frames[idx]),
            motion=motion,
        )

    def loss(self, b: QABatch) -> dict[str, torch.Tensor]:
        return {"ce": nn.functional.cross_entropy(self(b).float(), b.answer)}

    @torch.no_grad()
    def predict(self, split: QASplit, batch_size: int = 64) -> np.ndarray:
        """(N, K) candidate scores."""
        self.eval()
        out = [self(self.batch(split, np.arange(s, min(s + batch_size, len(split))))).float()
               for s in range(0, len(split), batch_size)]
        return torch.cat(out).numpy().astype(np.float64)


def attend(query: torch.Tensor, keys: torch.Tensor, times: torch.Tensor,
           keep: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query (B, K, H) reads the frames (B, T, H) by scaled dot-product attention; returns
    what it read (B, K, H) and *when*: the attention-weighted mean of the frames' ``times``
    (B, T) in [0, 1], i.e. where in the video the query found what it looked for. ``keep``
    (B, K, T), if given, is a hard frame selection: each query reads only its kept frames."""
    logits = query @ keys.transpose(1, 2) / keys.shape[-1] ** 0.5
    if keep is not None:
        logits = logits.masked_fill(~keep, float("-inf"))
    w = torch.softmax(logits, dim=-1)
    return w @ keys, (w * times.unsqueeze(1)).sum(-1)


def top_frames(logits: torch.Tensor, k: int) -> torch.Tensor:
    """(..., T) frame logits → (..., T) True at the ``k`` highest (a hard selection, no gradient)."""
    idx = logits.detach().topk(min(k, logits.shape[-1]), dim=-1).indices
    return torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, idx, True)


class FrameStates(nn.Module):
    """One state per frame from what the frozen ILFM gives: the pooled frame embedding with its
    motion channels (:func:`~i2vbench.methods.paradigms.common.temporal_differences`), plus, if
    ``grid_shape`` (cells, width) is given, the patch grid's :class:`PatchGridMotion` (what is where
    and where it goes, which the pooled embedding averages away). The temporal methods' shared
    input; positions and any temporal mixing are the method's."""

    def __init__(self, video_dim: int, hidden: int, grid_shape: tuple[int, int] | None = None, cell_dim: int = 8,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.frame = nn.Linear(4 * video_dim, hidden)  # frame + motion channels (3 spans)
        self.grid = None if grid_shape is None else PatchGridMotion(grid_shape[1], grid_shape[0], hidden, cell_dim,
                                                                    dropout)

    def forward(self, b: QABatch) -> torch.Tensor:
        """(B, T, hidden)."""
        x = self.frame(temporal_differences(b.frames) if b.motion is None else b.motion)
        if self.grid is not None:
            if b.grid is None:
                raise ValueError("this method reads the patch grid; the split has none (features without layers)")
            x = x + self.grid(b.grid)
        return x


class WhenReader(nn.Module):
    """Reads a video for each candidate by *where* things are, not only what: the candidate's
    query and the question's query each attend over the frame states, and the candidate's
    vector is what it read plus an embedding of its time, the question's, and their difference
    ("next after X" is the nearest event after X's time). The temporal methods' shared reader.

    With ``match``, also an embedding of how strongly the candidate's best frame matches it (its
    largest attention logit): the softmax over frames says where a candidate is best read, not
    whether the video shows it at all (an event played backwards still gets all its attention
    somewhere); trained on timed captions (:func:`caption_alignment` compares sentences at each
    frame), the logit's size says it."""

    def __init__(self, hidden: int, match: bool = False) -> None:
        super().__init__()
        self.candidate_query = nn.Linear(hidden, hidden)
        self.question_query = nn.Linear(hidden, hidden)
        self.time = nn.Sequential(nn.Linear(4, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.match = nn.Linear(1, hidden) if match else None

    def forward(self, q: torch.Tensor, cands: torch.Tensor, states: torch.Tensor,
                times: torch.Tensor, keep: torch.Tensor | None = None,
                question_keep: torch.Tensor | None = None) -> torch.Tensor:
        """``q`` (B, H), ``cands`` (B, K, H), ``states`` (B, T, H), ``times`` (B, T) → (B, K, H)
        video-side vectors for :class:`QAHead`. ``keep`` (B, K, T) and ``question_keep`` (B, T)
        restrict each candidate's and the question's reading to the frames selected for it."""
        query = self.candidate_query(cands)
        read_c, when_c = attend(query, states, times, keep)
        _, when_q = attend(self.question_query(q).unsqueeze(1), states, times,
                           None if question_keep is None else question_keep.unsqueeze(1))
        gap = when_c - when_q
        rel = torch.stack([when_c, when_q.expand_as(when_c), gap, gap.abs()], -1)
        out = read_c + self.time(rel) + q.unsqueeze(1)
        if self.match is not None:
            logits = query @ states.transpose(1, 2) / states.shape[-1] ** 0.5
            if keep is not None:
                logits = logits.masked_fill(~keep, float("-inf"))
            best = logits.amax(-1, keepdim=True)  # (B, K, 1) over the frames it reads
            out = out + self.match(best)
        return out

    def question_logits(self, q: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """(B, H) questions, (B, T, H) states → (B, T): the logits of the question's attention."""
        return (self.question_query(q).unsqueeze(1) @ states.transpose(1, 2))[:, 0] / states.shape[-1] ** 0.5

    def candidate_logits(self, cands: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """(B, S, H) sentences embedded as candidates, (B, T, H) states → (B, S, T): the logits of
        the candidate's attention over the frames (what :func:`attend` softmaxes)."""
        return self.candidate_query(cands) @ states.transpose(1, 2) / states.shape[-1] ** 0.5


def caption_alignment(logits: torch.Tensor, mask: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """The frame-level objective timed captions give: ``logits`` (B, S, T) of S sentences against
    T frames (a reader's attention logits), ``mask`` (B, S) the real sentences, ``frames`` (B, S, T)
    where each sentence's event is under way. Two cross-entropies, summed:

    - frame → sentence: a frame inside an event picks that event's sentence among the video's
      (its other events, and the events played backwards, which it never shows);
    - sentence → frames: a shown event's sentence puts its attention inside its span.

    So the reader's attention for an option learns *when* that event happens, and that its
    opposite does not, from the training videos' captions (zero when a batch has none).
    """
    spans = frames.float()
    per_frame = spans.sum(1) > 0  # (B, T) frames inside some caption's event
    masked = logits.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    terms = []
    if per_frame.any():
        target = spans.argmax(1)  # (B, T) the caption under way (events do not overlap)
        terms.append(nn.functional.cross_entropy(masked.transpose(1, 2)[per_frame], target[per_frame]))
    shown = spans.sum(-1) > 0  # (B, S)
    if shown.any():
        target = spans[shown] / spans[shown].sum(-1, keepdim=True)
        terms.append(-(target * torch.log_softmax(logits[shown], -1)).sum(-1).mean())
    return sum(terms) if terms else logits.sum() * 0.0


def span_attention(logits: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of attention ``logits`` (B, T) against a uniform target on ``frames`` (B, T),
    over the rows that have a span (zero when none has): the question's attention is put on the
    event it names (its timed caption)."""
    shown = frames.any(-1)
    if not shown.any():
        return logits.sum() * 0.0
    target = frames[shown].float()
    target = target / target.sum(-1, keepdim=True)
    return -(target * torch.log_softmax(logits[shown], -1)).sum(-1).mean()


def timed_caption_losses(b: QABatch, reader: WhenReader, embed: Callable[[torch.Tensor], torch.Tensor],
                         q: torch.Tensor, states: torch.Tensor, weight: float) -> dict[str, torch.Tensor]:
    """The terms a training split's timed captions give a :class:`WhenReader` over ``states``
    (B, T, H): :func:`caption_alignment` of the captions (``embed`` maps their text features to
    the candidates' space) on the reader's candidate attention, and :func:`span_attention` of the
    question's attention on the event it names. Empty when the batch has neither or ``weight`` is 0."""
    out: dict[str, torch.Tensor] = {}
    if not weight:
        return out
    if b.captions is not None:
        logits = reader.candidate_logits(embed(b.captions), states)
        out["captions"] = weight * caption_alignment(logits, b.caption_mask, b.caption_frames)
    if b.question_frames is not None:
        out["question_event"] = weight * span_attention(reader.question_logits(q, states), b.question_frames)
    return out

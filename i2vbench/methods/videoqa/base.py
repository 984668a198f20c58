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
question's segment (How2QA's ``[start:end]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from i2vbench.datasets.features import VideoFeatures, frame_indices
from i2vbench.datasets.qa import QAItem
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

    def __len__(self) -> int:
        return len(self.items)

    def candidate_texts(self, i: int) -> tuple[str, ...]:
        return tuple(self.candidates) if self.open_ended else self.items[i].options

    def predictions(self, scores: np.ndarray) -> list[int | str]:
        """The argmax candidate of each question: an option index, or an answer string."""
        best = scores.argmax(1)
        return [self.candidates[b] if self.open_ended else int(b) for b in best]


def make_split(items: list[QAItem], qtypes: list[str], videos: dict[str, VideoFeatures], fps: float,
               num_frames: int, text: TextTable, vocabulary: list[str] | None) -> QASplit:
    """Frames per question (its segment's, when it has one) and the text rows of its candidates."""
    frames = []
    for it in items:
        pooled = videos[it.video].pooled
        lo, hi = 0, len(pooled)
        if it.span is not None:  # frames whose time (i / fps) lies in the segment, at least one
            lo = min(max(0, int(np.floor(it.span[0] * fps))), len(pooled) - 1)
            hi = max(lo + 1, min(len(pooled), int(np.ceil(it.span[1] * fps))))
        frames.append(pooled[lo:hi][frame_indices(hi - lo, num_frames)])
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
    )


def split_strings(items: list[QAItem], vocabulary: list[str] | None) -> list[str]:
    """Every string :func:`make_split` will look up in the TextTable."""
    out: dict[str, None] = {}
    for it in items:
        cands = vocabulary if vocabulary is not None else it.options
        out[it.question] = None
        for c in cands:
            out[c] = None
            out[joint_text(it.question, c)] = None
    return list(out)


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
    with_texts = False  # the method runs the text tower itself on "question candidate" strings

    def start_fit(self, train: QASplit) -> None:
        f = train.frames.reshape(-1, train.frames.shape[-1]).astype(np.float64)
        self.mean, self.std = f.mean(0).astype(np.float32), (f.std(0) + 1e-6).astype(np.float32)

    def epoch_order(self, train: QASplit, rng: np.random.Generator) -> np.ndarray:
        keep = np.flatnonzero(train.answer_index >= 0)  # an answer outside the vocabulary teaches nothing
        return keep[rng.permutation(len(keep))]

    def batch(self, split: QASplit, idx: np.ndarray) -> QABatch:
        raw = split.frames[idx]
        frames = raw if self.mean is None else (raw - self.mean) / self.std
        t = split.text
        texts = []
        if self.with_texts:
            texts = [[joint_text(split.items[i].question, c) for c in split.candidate_texts(i)] for i in idx]
        return QABatch(
            idx=idx, frames=torch.from_numpy(frames), raw_frames=torch.from_numpy(raw),
            question=torch.from_numpy(t.features(split.question_rows[idx])),
            candidates=torch.from_numpy(t.features(split.candidate_rows[idx])),
            joint=torch.from_numpy(t.pooled[split.joint_rows[idx]]),
            answer=torch.from_numpy(split.answer_index[idx]), texts=texts,
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


def attend(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor | None = None) -> torch.Tensor:
    """Each candidate's query (B, K, H) reads the frames (B, T, H) by scaled dot-product attention."""
    values = keys if values is None else values
    w = torch.softmax(query @ keys.transpose(1, 2) / keys.shape[-1] ** 0.5, dim=-1)
    return w @ values

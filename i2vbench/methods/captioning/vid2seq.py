"""Vid2Seq (Yang et al., CVPR 2023; survey [107]): a pretrained language model as the decoder,
with time tokens in its vocabulary.

Vid2Seq (fine-tuning with extra models) encodes frozen CLIP frame features with a temporal
transformer (learned temporal positions) and decodes with a pretrained T5 whose vocabulary is
augmented with relative time tokens: its target for a video is the sequence of its events, each
written as ``<t_start> <t_end> caption``, so the language model says when each described event
happens and reads its own past time tokens while writing the next event.

The miniature keeps: the frozen ILFM's pooled frame embeddings (``num_frames`` of them) through a
new temporal transformer with learned positions (:class:`~.base.TemporalEncoder`), projected into
the pretrained LM (the shipped ``tinylm``, pretrained on SynthVid text only; any ``hf:<dir>``
causal LM) by the MLLM pattern, and the LM's own time tokens ``<t0> .. <t{time_bins-1}>``
(present in tinylm's vocabulary, never seen in its pretraining, learned here from their random
init as Vid2Seq's are added to T5): each reference's target interleaves its events' time tokens
with its words, ``first <t_s1> <t_e1> the red circle moves left, then <t_s2> <t_e2> the blue
square grows.``, a time-token pair before every clause, in the sentence's own order ("B after A"
puts B's span first). The references say what happens in order, so the clause → event alignment
is read with the grammar's parser (:func:`~i2vbench.datasets.synthvid.msrvtt.parse_caption`)
against the video's events; a reference it cannot align (and every reference of real MSR-VTT,
which has no event times) is trained as plain words. The caption is the generated sequence with
its time tokens dropped.

It drops: Vid2Seq's pretraining on narrated videos (YT-Temporal-1B, its transcribed speech as
input and its denoising objective), the T5 encoder over the speech tokens, and dense-captioning
evaluation of the predicted spans (the survey's captioning row scores the sentence only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from i2vbench.methods.backbones.lm import CausalLM
from i2vbench.methods.captioning.base import CaptionBatch, TemporalEncoder
from i2vbench.methods.captioning.llm import LMCaptioner, LMCaptionerConfig
from i2vbench.methods.mllm import time_bins
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig

# video → events in time order: ((colour, shape, motion), start, end), times as fractions of the video
EventSpans = dict[str, list[tuple[tuple[str, str, str], float, float]]]
_CLAUSE_AFTER = frozenset({"first", "then", "that", "after", "before"})
_DETERMINERS = frozenset({"the", "a", "an"})


@dataclass
class Vid2SeqConfig(LMCaptionerConfig):
    dim: int = 128  # the temporal encoder's width
    enc_layers: int = 1
    heads: int = 4
    dropout: float = 0.1
    time_bins: int = 20  # relative time tokens (Vid2Seq: 100 over any video length)
    time_tokens: bool = True  # interleave the events' time tokens with the words (False: words only)
    tuning: str = "full"  # Vid2Seq fine-tunes its whole language model
    # beam search over summed log-probabilities finds shorter sentences than greedy decoding (greedy
    # named 3 events in 138 of 150 val captions, where 79 videos have 2), which CIDEr-D's length
    # penalty rewards. SynthVid val (seed 0, 30 epochs, one trained model decoded four ways) CIDEr:
    # greedy 116.3, beam 3 127.7, 5 130.4, 8 127.2; beam 5 decoded 150 videos in ~27 s (one thread,
    # loaded machine)
    num_beams: int = 5
    # chosen on SynthVid val (seed 0; the nearest-caption baseline is at 119.3 val CIDEr): 8 epochs at
    # lr 1e-3 66.5 (beam 3), at 3e-3 75.7; 20 epochs at 3e-3 115.7 (batch 16: 111.5); 30 epochs 116.3 (greedy).
    # The LM at a tenth of the lr (lm_lr_scale 0.1, 30 epochs) 110.9 greedy / 120.2 beam 5: not better.
    # At beam 5, 30 epochs 130.4; 40 epochs 132.4 (its schedule's epochs 10/20/30: 87.9 / 114.8 / 127.3,
    # still rising; 1.3x the time). Without the time tokens (time_tokens False, 30 epochs, beam 5) 139.6:
    # writing the spans costs the sentence ~9 val CIDEr here; they are Vid2Seq's mechanism, so they stay
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=40, lr=3e-3, batch_size=32, grad_clip=1.0))


def clause_starts(words: list[str]) -> list[int]:
    """Where each clause of a caption of the pool's grammar begins: a determiner at the start or
    right after a connective ("first", "then", "after that", "after", "before")."""
    return [i for i, w in enumerate(words) if w in _DETERMINERS and (i == 0 or words[i - 1] in _CLAUSE_AFTER)]


def timed_segments(caption: str, spans: list[tuple[tuple[str, str, str], float, float]] | None
                   ) -> list[tuple[str, tuple[float, float] | None]]:
    """The caption cut before each clause, each piece with the (start, end) of the event its
    clause names (None for a lead-in such as "first"); the whole caption with None if it cannot
    be aligned with ``spans`` (outside the grammar, or no events)."""
    from i2vbench.datasets.synthvid.msrvtt import parse_caption
    from i2vbench.datasets.synthvid.text import tokenize

    named = parse_caption(caption) if spans else None
    words = tokenize(caption)
    starts = clause_starts(words)
    if not named or len(starts) != len(named):
        return [(caption, None)]
    seq = [w for w, _, _ in spans]
    at = next((i for i in range(len(seq) - len(named) + 1) if seq[i:i + len(named)] == named), None)
    if at is None:
        return [(caption, None)]
    times = [(s, e) for _, s, e in spans[at:at + len(named)]]
    if len(named) == 2 and "after" in words and words[words.index("after") + 1] != "that":
        times = times[::-1]  # "B after A": the sentence names the later event first
    out: list[tuple[str, tuple[float, float] | None]] = []
    if starts[0]:
        out.append((" ".join(words[:starts[0]]), None))
    for k, s in enumerate(starts):
        out.append((" ".join(words[s:starts[k + 1] if k + 1 < len(starts) else len(words)]), times[k]))
    return out


@register_method("vid2seq", task="captioning", paradigm="extra_models", display="Vid2Seq (tinylm)",
                 survey_row="Vid2Seq", ref=107,
                 paper="Vid2seq: Large-scale pretraining of a visual language model for dense video captioning",
                 # not in the default run: with Q-Adapter it took the empty-cache run from 226 to 477
                 # CPU-s (657 s wall on a loaded machine, over the 300 s budget) with greedy decoding,
                 # and beam 5 and 40 epochs cost more; run it with --methods vid2seq (record
                 # 20261201-195914-captioning-...: +7.2 test CIDEr over the nearest caption)
                 in_default_run=False)
class Vid2Seq(LMCaptioner):
    """Frozen frame embeddings → temporal transformer → the pretrained tinylm writing timed events."""

    config_class = Vid2SeqConfig
    needs = frozenset({"pooled"})

    def __init__(self, video_dim: int, event_spans: EventSpans | None = None, config: Vid2SeqConfig | None = None
                 ) -> None:
        c = config or Vid2SeqConfig()
        super().__init__(c.dim, c)
        self.times = self.lm.time_token_ids(c.time_bins)
        self.spans = event_spans or {}
        self.inp = nn.Sequential(nn.LayerNorm(video_dim), nn.Linear(video_dim, c.dim))
        self.encoder = TemporalEncoder(c.dim, c.enc_layers, c.heads, dropout=c.dropout)
        self._targets: dict[tuple[str, str], list[int]] = {}

    def new_tokens(self, lm: CausalLM) -> list[int]:
        return lm.time_token_ids(self.config.time_bins) if self.config.time_tokens else []

    def vision(self, b: CaptionBatch) -> torch.Tensor:
        return self.encoder(self.inp(b.pooled))

    def target(self, video: str, caption: str) -> list[int]:
        key = (video, caption)
        if key not in self._targets:
            ids: list[int] = []
            pieces = timed_segments(caption, self.spans.get(video)) if self.config.time_tokens else [(caption, None)]
            for text, span in pieces:
                if span is not None:
                    s, e = time_bins(*span, self.config.time_bins)
                    ids += [self.times[s], self.times[e]]
                ids += self.lm.encode(text)
            self._targets[key] = ids
        return self._targets[key]

    def text(self, ids: list[int]) -> str:
        times = set(self.times)
        return self.lm.decode([i for i in ids if i not in times])


"""SpaceVLLM (Wang et al., 2025; survey [55]) in miniature: an MLLM that says when and boxes where.

The survey's STVG row "SpaceVLLM" (post-network tuning, on LLaVA-style SigLIP + LLM). Its
mechanism: frame tokens of a frozen image encoder, projected into the LLM's input, are
**interleaved with spatio-temporal aware queries** (learned tokens placed after each frame's
visual tokens, so each query reads its frame and, through causal attention, the frames before
it); the LLM answers the **temporal span in text**, and a **query-guided space decoder** turns the
LLM's hidden state at each frame's query, together with that frame's visual features, into the
frame's box (L1 + GIoU), trained jointly with the next-token loss on the answer.

The miniature keeps:

* the MLLM pattern (:class:`~i2vbench.methods.mllm.MLLM`): frozen ILFM frame features → an MLP
  projector → the pretrained ``tinylm``, frozen or LoRA-tuned (``tuning``, chosen on val), **one
  visual token per frame**. The ILFM is the grounding ILFM (tinyground, MDETR's role in Table
  II's STVG rows; SpaceVLLM's is SigLIP): a frame's feature is its cached image-tower tokens
  through tinyground's frozen input projection, average-pooled to a ``pool`` x ``pool`` grid, plus
  where and how surely tinyground finds the sentence on that frame (its top box, sine-embedded,
  and its match score);
* one **spatio-temporal aware query per frame**, interleaved ``f_0 q_0 f_1 q_1 ...`` with the
  frame tokens: a learned vector plus the embedding of the frame's time token ``<t_i>`` (so the
  query knows *when* it is, and the answer names frames with the same tokens);
* the **temporal answer as text**, ``from <t_s> to <t_e> .`` over frame-index time tokens
  (:class:`~i2vbench.methods.mllm.SpanAnswer`, shared with VTimeLLM), teacher-forced loss on
  the answer only, grammar-constrained beam search at inference;
* the **query-guided space decoder** on the LLM's hidden state at each frame's query: projected to
  the grounding width, it cross-attends to that frame's candidate regions (tinyground's decoder
  states and boxes for the sentence on the frame, frozen), scores each against itself (added to
  tinyground's own phrase-match logit, so at init it picks the frame-wise baseline's box) and
  refines the picked box with a learned delta; pointer cross-entropy towards the candidate that
  overlaps the target most, L1 + GIoU on its refined box, on the frames of the ground-truth tube
  only; trained jointly with the answer's next-token loss.

It drops: SigLIP and the 7B LLM; the Uni-STG instruction data, the multi-stage training and the
other tasks (VTG, REC, video QA) trained alongside; SpaceVLLM's many visual tokens per frame
(tinylm's context of 96 tokens holds one per frame plus its query); the decoder's direct box
regression from the frame's visual tokens (boxes start from the grounding ILFM's candidates
instead, as the suite's other STVG methods start from tinyground). Sentence-conditioned frame
tokens (the grounder's top box) depart from SpaceVLLM's sentence-agnostic SigLIP tokens. The
sentence is placed *before* the video (``<bos> sentence f_0 q_0 ... <sep> answer``) so that the
causal queries can read it; where the paper puts the instruction was not checked against its code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from i2vbench.devices import autocast
from i2vbench.methods.backbones.lm import DEFAULT_LM, load_lm
from i2vbench.methods.backbones.tinyground import (
    Attention,
    box_cxcywh_to_xyxy,
    generalized_box_iou,
    inverse_sigmoid,
    sine_embed,
)
from i2vbench.methods.mllm import MLLM, SpanAnswer, label_log_probs
from i2vbench.methods.registry import register_method
from i2vbench.methods.stvg.base import Predictions, STVGMethod
from i2vbench.methods.stvg.data import STVGSplit
from i2vbench.methods.stvg.tubedetr import TubeBatch, make_batch
from i2vbench.methods.trainable import TrainConfig


@dataclass
class SpaceVLLMConfig:
    lm: str = DEFAULT_LM  # the LLM: "tinylm" or "hf:<dir>"
    lm_pretrained: str | None = None
    tuning: str = "lora"  # frozen | lora | full (the LLM; projector, queries, time tokens, decoder always learn)
    lora_rank: int = 8
    lora_alpha: float = 16.0
    projector: str = "mlp"
    pool: int = 2  # frame token: patch tokens average-pooled to pool x pool, flattened (+ the top box)
    max_frames: int = 32  # time tokens <t0>..<t{max_frames-1}>: one per frame
    num_beams: int = 3
    w_answer: float = 1.0
    w_pointer: float = 1.0
    w_l1: float = 5.0
    w_giou: float = 2.0
    # chosen on SynthVid VidSTG val (seed 0, LoRA): 6 epochs at lr 5e-3 box IoU on the tube's frames
    # 0.377 (the untrained decoder, i.e. the baseline's boxes: 0.372) and tIoU 0.266; 3 epochs at
    # 2e-3 (before the motion feature and the multi-positive pointer) 0.371 and 0.269; the frozen
    # LLM (projector, queries, time tokens and decoder only; 6 epochs at 5e-3) 0.367 and 0.267, with
    # a higher answer loss on val (1.44 vs LoRA's 1.15 nats per answer token): LoRA kept
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=6, batch_size=32, lr=5e-3,
                                                                   weight_decay=1e-4, grad_clip=1.0))


class InterleavedQueries(nn.Module):
    """The MLLM's projector for SpaceVLLM: (B, T, D) frame features → (B, 2T, W) tokens
    ``f_0 q_0 f_1 q_1 ...``, where ``q_t`` = a learned query + the embedding of time token ``<t_t>``."""

    def __init__(self, projector: nn.Module, mllm: MLLM, time_ids: list[int]) -> None:
        super().__init__()
        self.projector = projector
        self._embed = mllm.embed  # a bound method: the MLLM's (tuned) token rows, not a submodule
        self.query = nn.Parameter(torch.zeros(mllm.lm.width))
        self.register_buffer("time_ids", torch.tensor(time_ids), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        f = self.projector(x)
        q = (self.query + self._embed(self.time_ids[:T]))[None].expand(B, -1, -1)
        return torch.stack([f, q], 2).reshape(B, 2 * T, -1)


def query_positions(prefix_lengths: list[int], T: int) -> torch.Tensor:
    """(B, T) sequence position of frame t's query in ``<bos> prefix f_0 q_0 f_1 q_1 ...`` (right
    padded, as :meth:`MLLM.build_inputs` lays it out)."""
    return torch.tensor(prefix_lengths)[:, None] + 1 + 2 * torch.arange(T)[None] + 1


def box_iou_each(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of boxes ``a`` (…, 4) with ``b`` (…, 4) element by element, xyxy."""
    lt, rb = torch.maximum(a[..., :2], b[..., :2]), torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp_min(0).prod(-1)
    area = (a[..., 2:] - a[..., :2]).clamp_min(0).prod(-1) + (b[..., 2:] - b[..., :2]).clamp_min(0).prod(-1)
    return inter / (area - inter).clamp_min(1e-8)


class SpaceDecoder(nn.Module):
    """Query-guided space decoder: an LLM query state attends to its frame's candidate regions (the
    grounding ILFM's decoder states and boxes for the sentence on that frame), scores each against
    itself and refines the picked one. The score starts as the grounder's own phrase-match logit
    (the learned part is zero at init), so the untrained decoder picks the frame-wise baseline's box."""

    def __init__(self, lm_width: int, width: int, heads: int) -> None:
        super().__init__()
        self.q_in = nn.Sequential(nn.LayerNorm(lm_width), nn.Linear(lm_width, width))
        self.k_in = nn.LayerNorm(width)
        self.pos = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        self.attn = Attention(width, heads)
        self.ln = nn.LayerNorm(width)
        self.score_q, self.score_k = nn.Linear(width, width), nn.Linear(width, width)
        nn.init.zeros_(self.score_q.weight)
        nn.init.zeros_(self.score_q.bias)
        self.match_weight = nn.Parameter(torch.tensor(1.0))
        self.delta = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, 4))
        nn.init.zeros_(self.delta[-1].weight)
        nn.init.zeros_(self.delta[-1].bias)

    def forward(self, query: torch.Tensor, regions: torch.Tensor, boxes: torch.Tensor, match: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``query`` (M, W_lm), ``regions`` (M, K, d), ``boxes`` (M, K, 4) cxcywh, ``match`` (M, K)
        logits → (scores (M, K), the attended query (M, d), the keys (M, K, d)) for :meth:`refine`."""
        d = regions.shape[-1]
        k = self.k_in(regions) + self.pos(sine_embed(boxes, d))
        q = self.q_in(query)[:, None]
        q = self.ln(q + self.attn(q, k, k))  # the query looks at its frame's regions
        scores = (self.score_q(q) * self.score_k(k)).sum(-1) * d ** -0.5 + self.match_weight * match
        return scores, q[:, 0], k

    def refine(self, q: torch.Tensor, k: torch.Tensor, boxes: torch.Tensor, pick: torch.Tensor) -> torch.Tensor:
        """(M, 4) cxcywh: candidate ``pick`` (M,) of each frame moved by a delta read from the
        query and that candidate's key."""
        m = torch.arange(len(pick))
        return (inverse_sigmoid(boxes[m, pick]) + self.delta(q + k[m, pick])).sigmoid()


class SpaceBatch(NamedTuple):
    tube: TubeBatch
    sentences: list[list[int]]  # each sentence's words as LM token ids
    frames: torch.Tensor  # (B, T, D) one feature per frame: the LM's visual token before the projector
    regions: torch.Tensor  # (B, T, K, d) the grounder's candidate-region states for the sentence
    boxes: torch.Tensor  # (B, T, K, 4) their boxes, cxcywh in [0, 1]
    match: torch.Tensor  # (B, T, K) their phrase-match logits


# Not in the default `bench run --task stvg`: in `--methods framewise,spacevllm` (record
# 20261201-170258-stvg-synthvid-vidstg-seed0, shared 2-core machine at load ~12) its training took
# 419 s wall (6 epochs, grounding the 1,200 training sentences on their 24 frames once included)
# and val + test decoding 174 s, more than the default run's whole 300 s budget, which the
# features, the baseline and TubeDETR already take. Run it by name: bench run --task stvg --methods framewise,spacevllm
@register_method("spacevllm", task="stvg", paradigm="post_network_tuning", display="SpaceVLLM (tinylm)",
                 survey_row="SpaceVLLM", ref=55,
                 paper="SpaceVLLM: Endowing Multimodal Large Language Model with Spatio-Temporal Video "
                       "Grounding Capability", in_default_run=False)
class SpaceVLLM(STVGMethod):
    """Frame tokens interleaved with per-frame queries → tinylm; the span in text, boxes from the
    query states. See the module docstring for what the miniature keeps and drops."""

    config_class = SpaceVLLMConfig

    def __init__(self, grounder: nn.Module, config: SpaceVLLMConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or SpaceVLLMConfig()
        self.train_config = c.train
        self.grounder = grounder.freeze()
        d = grounder.config.width
        lm = load_lm(c.lm, c.lm_pretrained)
        self.span = SpanAnswer(lm, c.max_frames)
        self.mllm = MLLM(lm, c.pool * c.pool * d + d + 5, tuning=c.tuning, lora_rank=c.lora_rank,
                         lora_alpha=c.lora_alpha, projector=c.projector, tuned_token_ids=self.span.times)
        self.mllm.projector = InterleavedQueries(self.mllm.projector, self.mllm, self.span.times)
        self.decoder = SpaceDecoder(lm.width, d, grounder.config.heads)
        self._sentences: dict[str, list[int]] = {}
        # the frozen grounder's outputs, computed once: vid → pooled frames, (vid, sentence) → regions
        self._pooled: dict[str, torch.Tensor] = {}
        self._grounded: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def train(self, mode: bool = True) -> SpaceVLLM:
        super().train(mode)
        self.grounder.eval()
        return self

    @torch.no_grad()
    def _ground(self, split: STVGSplit, pairs: list[tuple[str, str]]) -> None:
        """The frozen grounder on every frame of each (video, sentence): its decoder's candidate
        regions (states, boxes, phrase-match logits), and each video's frames pooled."""
        g, p = self.grounder, self.config.pool
        for vid in {v for v, _ in pairs} - set(self._pooled):
            tok = torch.from_numpy(split.tokens[vid].astype(np.float32))
            with autocast():
                img = g.img_in(tok).float()  # (T, N, d)
            side = int(round(img.shape[1] ** 0.5))
            grid = img.view(len(img), side, side, -1).permute(0, 3, 1, 2)
            self._pooled[vid] = nn.functional.adaptive_avg_pool2d(grid, p).flatten(1)
        if not pairs:
            return
        lengths = [len(split.tokens[v]) for v, _ in pairs]
        tok = torch.from_numpy(np.concatenate([split.tokens[v] for v, _ in pairs]).astype(np.float32))
        with autocast():
            out = g.ground(g.img_in(tok), [s for (_, s), n in zip(pairs, lengths, strict=True) for _ in range(n)])
        states, boxes, match = out.queries.float(), out.boxes[-1].float(), out.match[-1].float()
        for k, part in enumerate(np.split(np.arange(len(tok)), np.cumsum(lengths)[:-1])):
            self._grounded[pairs[k]] = (states[part], boxes[part], match[part])

    def batch(self, split: STVGSplit, idx: np.ndarray) -> SpaceBatch:
        lm = self.mllm.lm
        qs = [split.queries[i] for i in idx]
        for q in qs:
            if q.caption not in self._sentences:
                self._sentences[q.caption] = lm.encode(q.caption)
        todo = sorted({(q.vid, q.caption) for q in qs} - set(self._grounded))
        self._ground(split, todo)
        tb = make_batch(split, idx)
        T = tb.frame_mask.shape[1]

        def padded(x: torch.Tensor) -> torch.Tensor:
            return nn.functional.pad(x, (0, 0) * (x.dim() - 1) + (0, T - len(x)))

        frames, regions, boxes, match = [], [], [], []
        for q in qs:
            st, bx, m = self._grounded[(q.vid, q.caption)]
            top = m.argmax(-1)
            best = bx[torch.arange(len(bx)), top]
            # the LM's visual token of a frame: its pooled patch grid, and where and how surely the
            # grounding ILFM finds the sentence on it (its top box and match score)
            # and how that box moved since the previous frame (motion words name a displacement)
            motion = (best - torch.cat([best[:1], best[:-1]])) * 10.0
            frames.append(padded(torch.cat([self._pooled[q.vid], sine_embed(best, st.shape[-1]),
                                            m.max(-1).values.sigmoid()[:, None], motion], 1)))
            regions.append(padded(st))
            boxes.append(padded(bx))
            match.append(padded(m))
        return SpaceBatch(tb, [self._sentences[q.caption] for q in qs], *(torch.stack(x) for x in (frames, regions, boxes,
                                                                                                   match)))

    def forward_batch(self, b: SpaceBatch, answers: list[list[int]] | None, decode: torch.Tensor
                      ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One LM pass over ``<bos> sentence f_0 q_0 ... <sep> [answer]``, then the space decoder
        on the frames where ``decode`` (B, T) is True: (answer NLL or None, candidate scores
        (M, K), attended queries (M, d), keys (M, K, d), candidate boxes (M, K, 4)) for those M frames."""
        B, T = b.tube.frame_mask.shape
        prompts: list[list[int]] = [[] for _ in range(B)]
        targets = None if answers is None else [[*a, self.mllm.lm.eos_id] for a in answers]
        vmask = b.tube.frame_mask.repeat_interleave(2, 1)
        embeds, mask, labels = self.mllm.build_inputs(b.frames, vmask, prompts, targets, prefixes=b.sentences)
        out = self.mllm.run(embeds, mask)
        nll = None
        if answers is not None:
            lp, keep = label_log_probs(out.logits, labels)
            nll = -lp.sum() / keep.sum().clamp_min(1)
        pos = query_positions([len(s) for s in b.sentences], T).clamp(max=out.hidden.shape[1] - 1)
        h = out.hidden.gather(1, pos[..., None].expand(-1, -1, out.hidden.shape[-1]))  # (B, T, W)
        scores, q, k = self.decoder(h[decode], b.regions[decode], b.boxes[decode], b.match[decode])
        return nll, scores, q, k, b.boxes[decode]

    def loss(self, b: SpaceBatch) -> dict[str, torch.Tensor]:
        c, tb = self.config, b.tube
        answers = [self.span.ids(int(s), int(e)) for s, e in zip(tb.start, tb.end, strict=True)]
        inside = tb.in_tube  # boxes are supervised on the frames of the tube only
        nll, scores, q, k, proposals = self.forward_batch(b, answers, inside)
        tgt = tb.boxes[inside]
        # the pointer's targets: the candidate that overlaps the target most, and every candidate
        # that overlaps it at IoU >= 0.5 (the grounder's queries often box one object twice)
        iou = box_iou_each(box_cxcywh_to_xyxy(proposals), box_cxcywh_to_xyxy(tgt)[:, None])
        target = iou.argmax(-1)
        positive = (iou >= 0.5) | nn.functional.one_hot(target, iou.shape[1]).bool()
        n = max(len(tgt), 1)
        logp = scores.float().log_softmax(-1)
        pointer = -torch.logsumexp(logp.masked_fill(~positive, float("-inf")), -1).sum() / n
        pb = self.decoder.refine(q, k, proposals, target)
        l1 = (pb - tgt).abs().sum() / n
        giou = (1 - torch.diagonal(generalized_box_iou(box_cxcywh_to_xyxy(pb), box_cxcywh_to_xyxy(tgt)))).sum() / n
        return {"answer": c.w_answer * nll, "pointer": c.w_pointer * pointer, "l1": c.w_l1 * l1,
                "giou": c.w_giou * giou}

    def decode(self, b: SpaceBatch, split: STVGSplit, idx: np.ndarray) -> Predictions:
        """Each query's span from the generated answer, each frame's box from its query state."""
        tb = b.tube
        B, T = tb.frame_mask.shape
        every = torch.ones(B, T, dtype=torch.bool)
        _, scores, q, k, proposals = self.forward_batch(b, None, every)
        best = self.decoder.refine(q, k, proposals, scores.argmax(-1)).view(B, T, 4)
        xyxy = (box_cxcywh_to_xyxy(best).clamp(0, 1) * split.image_size).numpy()
        gen = self.mllm.generate(b.frames, tb.frame_mask.repeat_interleave(2, 1), [[] for _ in idx],
                                 max_new_tokens=6, num_beams=self.config.num_beams,
                                 constraint=self.span.constraint, prefixes=b.sentences)
        out: Predictions = {}
        for j, i in enumerate(idx):
            q_ = split.queries[i]
            span = next((p for p in (self.span.parse(ids) for ids, _ in gen[j]) if p is not None),
                        (0, q_.n_frames - 1))
            s = min(span[0], q_.n_frames - 1)
            out[q_.qid] = ((s, min(max(span[1], s) + 1, q_.n_frames)), xyxy[j, :q_.n_frames])
        return out

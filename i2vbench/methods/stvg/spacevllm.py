"""SpaceVLLM (Wang et al., 2025; survey [55]) in miniature: an MLLM that says when and boxes where.

The survey's STVG row "SpaceVLLM" (post-network tuning, on LLaVA-style SigLIP + LLM). Its
mechanism: frame tokens of a frozen image encoder, projected into the LLM's input, are
**interleaved with spatio-temporal aware queries** (learned tokens placed after each frame's
visual tokens, so each query reads its frame and, through causal attention, the frames before
it); the LLM answers the **temporal span in text**, and a **query-guided space decoder** turns the
LLM's hidden state at each frame's query, together with that frame's visual features, into the
frame's box (L1 + GIoU), trained jointly with the next-token loss on the answer.

The miniature keeps:

* the MLLM pattern (:class:`~i2vbench.methods.mllm.MLLM`): frozen ILFM frame tokens (the
  grounding ILFM tinyground's cached image-tower tokens through its frozen input projection,
  average-pooled to a ``pool`` x ``pool`` grid and flattened into **one token per frame**) →
  an MLP projector → the pretrained ``tinylm``, frozen or LoRA-tuned (``tuning``, chosen on val);
* one **spatio-temporal aware query per frame**, interleaved ``f_0 q_0 f_1 q_1 ...`` with the
  frame tokens: a learned vector plus the embedding of the frame's time token ``<t_i>`` (so the
  query knows *when* it is, and the answer names frames with the same tokens);
* the **temporal answer as text**, ``from <t_s> to <t_e> .`` over frame-index time tokens
  (:class:`~i2vbench.methods.mllm.SpanAnswer`, shared with VTimeLLM), teacher-forced loss on
  the answer only, grammar-constrained beam search at inference;
* the **query-guided space decoder**: the LLM's hidden state at frame t's query, projected to
  the grounding width, cross-attends to frame t's patch tokens, then scores that frame's box
  proposals (one per patch: tinyground's frozen proposal head on the frame's tokens) against
  itself and refines the picked one with a learned delta; pointer cross-entropy towards the
  proposal that overlaps the target most, L1 + GIoU on its refined box, on the frames of the
  ground-truth tube, as SpaceVLLM supervises boxes inside the tube only.

It drops: SigLIP and the 7B LLM; the Uni-STG instruction data, the multi-stage training and the
other tasks (VTG, REC, video QA) trained alongside; SpaceVLLM's many visual tokens per frame
(the tinylm context of 96 tokens holds one per frame plus its query); the decoder's direct
regression from scratch (boxes start from tinyground's patch proposals, which the suite's
pretraining made good: the best of a frame's 64 covers the target at IoU 0.68 on val on
average). The sentence is placed *before* the video (``<bos> sentence f_0 q_0 ... <sep>
answer``) so that the causal queries can read it; where the paper puts the instruction was not
checked against its code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

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
    pool: int = 4  # frame token: patch tokens average-pooled to pool x pool, flattened
    max_frames: int = 32  # time tokens <t0>..<t{max_frames-1}>: one per frame
    num_beams: int = 3
    w_answer: float = 1.0
    w_pointer: float = 1.0
    w_l1: float = 5.0
    w_giou: float = 2.0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, batch_size=32, lr=2e-3,
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
    """Query-guided space decoder: an LLM query state + its frame's patch tokens and patch box
    proposals → a score per proposal and a refined box per proposal."""

    def __init__(self, lm_width: int, width: int, heads: int) -> None:
        super().__init__()
        self.q_in = nn.Sequential(nn.LayerNorm(lm_width), nn.Linear(lm_width, width))
        self.k_in = nn.LayerNorm(width)
        self.pos = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        self.attn = Attention(width, heads)
        self.ln = nn.LayerNorm(width)
        self.score_q, self.score_k = nn.Linear(width, width), nn.Linear(width, width)
        self.delta = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, 4))
        nn.init.zeros_(self.delta[-1].weight)
        nn.init.zeros_(self.delta[-1].bias)

    def forward(self, query: torch.Tensor, tokens: torch.Tensor, proposals: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``query`` (M, W_lm), ``tokens`` (M, N, d), ``proposals`` (M, N, 4) cxcywh → (scores
        (M, N), the attended query (M, d), the keys (M, N, d)) for :meth:`refine`."""
        d = tokens.shape[-1]
        k = self.k_in(tokens) + self.pos(sine_embed(proposals, d))
        q = self.q_in(query)[:, None]
        q = self.ln(q + self.attn(q, k, k))  # the query looks at its frame
        scores = (self.score_q(q) * self.score_k(k)).sum(-1) * d ** -0.5
        return scores, q[:, 0], k

    def refine(self, q: torch.Tensor, k: torch.Tensor, proposals: torch.Tensor, pick: torch.Tensor) -> torch.Tensor:
        """(M, 4) cxcywh: proposal ``pick`` (M,) of each frame moved by a delta read from the
        query and that proposal's key."""
        m = torch.arange(len(pick))
        return (inverse_sigmoid(proposals[m, pick]) + self.delta(q + k[m, pick])).sigmoid()


class SpaceBatch(NamedTuple):
    tube: TubeBatch
    sentences: list[list[int]]  # each sentence's words as LM token ids
    img: torch.Tensor  # (B, T, N, d) the frozen grounder's patch tokens
    pooled: torch.Tensor  # (B, T, pool² d) one feature per frame
    proposals: torch.Tensor  # (B, T, N, 4) cxcywh, one box proposal per patch


@register_method("spacevllm", task="stvg", paradigm="post_network_tuning", display="SpaceVLLM (tinylm)",
                 survey_row="SpaceVLLM", ref=55,
                 paper="SpaceVLLM: Endowing Multimodal Large Language Model with Spatio-Temporal Video "
                       "Grounding Capability")
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
        self.mllm = MLLM(lm, c.pool * c.pool * d, tuning=c.tuning, lora_rank=c.lora_rank, lora_alpha=c.lora_alpha,
                         projector=c.projector, tuned_token_ids=self.span.times)
        self.mllm.projector = InterleavedQueries(self.mllm.projector, self.mllm, self.span.times)
        self.decoder = SpaceDecoder(lm.width, d, grounder.config.heads)
        self._sentences: dict[str, list[int]] = {}
        self._frames: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}  # vid → frames()

    def train(self, mode: bool = True) -> SpaceVLLM:
        super().train(mode)
        self.grounder.eval()
        return self

    def batch(self, split: STVGSplit, idx: np.ndarray) -> SpaceBatch:
        lm = self.mllm.lm
        for i in idx:
            s = split.queries[i].caption
            if s not in self._sentences:
                self._sentences[s] = lm.encode(s)
        tb = make_batch(split, idx)
        T = tb.frame_mask.shape[1]
        parts = []
        for i in idx:  # the frozen grounder's part is computed once per video (the queries share it)
            vid = split.queries[i].vid
            if vid not in self._frames:
                self._frames[vid] = self.frames(torch.from_numpy(split.tokens[vid].astype(np.float32))[None])
            parts.append([nn.functional.pad(x[0], (0, 0) * (x.dim() - 2) + (0, T - x.shape[1])) for x in self._frames[vid]])
        img, pooled, proposals = (torch.stack(x) for x in zip(*parts, strict=True))
        return SpaceBatch(tb, [self._sentences[split.queries[i].caption] for i in idx], img, pooled, proposals)

    @torch.no_grad()
    def frames(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The frozen grounder on (B, T, N, W) tokens: its patch tokens (B, T, N, d), each
        frame pooled to one feature (B, T, pool² d), and its patch proposals (B, T, N, 4) cxcywh."""
        g, p = self.grounder, self.config.pool
        B, T, N, _ = tokens.shape
        img = g.img_in(tokens)
        side = int(round(N ** 0.5))
        grid = img.view(B * T, side, side, -1).permute(0, 3, 1, 2)
        pooled = nn.functional.adaptive_avg_pool2d(grid, p).flatten(1).view(B, T, -1)
        proposals = (g.proposal_anchors + g.enc_box_head(g.ln_enc(img))).sigmoid()
        return img, pooled, proposals

    def forward_batch(self, b: SpaceBatch, answers: list[list[int]] | None, decode: torch.Tensor
                      ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One LM pass over ``<bos> sentence f_0 q_0 ... <sep> [answer]``, then the space decoder
        on the frames where ``decode`` (B, T) is True: (answer NLL or None, proposal scores
        (M, N), attended queries (M, d), keys (M, N, d), raw proposals (M, N, 4)) for those M frames."""
        tb = b.tube
        B, T = tb.frame_mask.shape
        img, pooled, proposals = b.img, b.pooled, b.proposals
        prompts: list[list[int]] = [[] for _ in range(B)]
        targets = None if answers is None else [[*a, self.mllm.lm.eos_id] for a in answers]
        vmask = tb.frame_mask.repeat_interleave(2, 1)
        embeds, mask, labels = self.mllm.build_inputs(pooled, vmask, prompts, targets, prefixes=b.sentences)
        out = self.mllm.run(embeds, mask)
        nll = None
        if answers is not None:
            lp, keep = label_log_probs(out.logits, labels)
            nll = -lp.sum() / keep.sum().clamp_min(1)
        pos = query_positions([len(s) for s in b.sentences], T).clamp(max=out.hidden.shape[1] - 1)
        h = out.hidden.gather(1, pos[..., None].expand(-1, -1, out.hidden.shape[-1]))  # (B, T, W)
        scores, q, k = self.decoder(h[decode], img[decode], proposals[decode])
        return nll, scores, q, k, proposals[decode]

    def loss(self, b: SpaceBatch) -> dict[str, torch.Tensor]:
        c, tb = self.config, b.tube
        answers = [self.span.ids(int(s), int(e)) for s, e in zip(tb.start, tb.end, strict=True)]
        inside = tb.in_tube  # boxes are supervised on the frames of the tube only
        nll, scores, q, k, proposals = self.forward_batch(b, answers, inside)
        tgt = tb.boxes[inside]
        # the pointer's target: the proposal that overlaps the target most
        target = box_iou_each(box_cxcywh_to_xyxy(proposals), box_cxcywh_to_xyxy(tgt)[:, None]).argmax(-1)
        n = max(len(tgt), 1)
        pointer = nn.functional.cross_entropy(scores, target, reduction="sum") / n
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
        gen = self.mllm.generate(b.pooled, tb.frame_mask.repeat_interleave(2, 1), [[] for _ in idx],
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

    @torch.no_grad()
    def predict(self, split: STVGSplit, batch_size: int = 32) -> Predictions:
        self.eval()
        out: Predictions = {}
        for a in range(0, len(split), batch_size):
            idx = np.arange(a, min(a + batch_size, len(split)))
            out.update(self.decode(self.batch(split, idx), split, idx))
        return out

"""The MLLM pattern, once: ILFM vision tokens → projector → a causal LM, for every task's LLM rows.

LLaVA (and Video-LLaVA, VTimeLLM, Vid2Seq's decoder side, BIMBA, Q-Adapter's host) connect a
frozen image encoder to an LLM the same way: visual features are mapped by a small projector
into the LLM's token-embedding space and placed in the LLM's input sequence beside the text
embeddings; the LLM is trained only on the answer tokens. This module is that pattern for any
:class:`~i2vbench.methods.backbones.lm.CausalLM` (the embedded ``tinylm`` or an ``hf:<dir>``
model) and any vision tokens (pooled frame embeddings, patch tokens or tokens compressed by a
method), with the layout::

    <bos> [prefix words] [vision tokens v_1 .. v_n] [prompt words] <sep> answer <eos>

What the LLM may learn is a paradigm choice (``tuning``): ``frozen`` (only the projector, as in
LLaVA's stage 1), ``lora`` (low-rank deltas in every block via
:func:`~i2vbench.methods.paradigms.lora.insert_lora`, as VTimeLLM's stages 2-3), or ``full``.
Tokens the LM never saw in pretraining (tinylm's time tokens) can be tuned on their own with
``tuned_token_ids``: a trainable delta on their rows of the (tied) token table, added to their
input embeddings and to their output logits.

Decoding: :meth:`MLLM.generate` (greedy, or beam search keeping the ``num_beams`` best
continuations by summed log-probability; finished beams stay in the beam at no extra cost,
optional constraint on allowed tokens per step) and :meth:`MLLM.score_options` (the
log-likelihood of each candidate answer given the prompt, summed or averaged over its tokens,
all candidates of a batch in one pass) for multiple-choice answering. :class:`SpanAnswer` is the
time span said in text over time tokens (VTimeLLM's and SpaceVLLM's temporal answer), and
:meth:`MLLM.run` returns the LM's hidden states beside its logits for methods that decode from
the states at tokens they placed (SpaceVLLM's per-frame queries).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from i2vbench.errors import BenchError
from i2vbench.methods.backbones.lm import CausalLM, LMOutput

IGNORE = -100
# (N, t) ids generated so far → (N, V) bool: the tokens allowed next
Constraint = Callable[[torch.Tensor], torch.Tensor]
TUNINGS = ("frozen", "lora", "full")


class Projector(nn.Module):
    """Vision width → LM width: ``linear`` (LLaVA) or ``mlp`` (LLaVA-1.5's Linear-GELU-Linear)."""

    def __init__(self, vision_dim: int, lm_width: int, kind: str = "mlp") -> None:
        super().__init__()
        if kind == "linear":
            self.net: nn.Module = nn.Linear(vision_dim, lm_width)
        elif kind == "mlp":
            self.net = nn.Sequential(nn.Linear(vision_dim, lm_width), nn.GELU(), nn.Linear(lm_width, lm_width))
        else:
            raise BenchError(f"projector must be 'linear' or 'mlp', got {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLLM(nn.Module):
    """A causal LM that reads projected vision tokens before its prompt (see the module docstring)."""

    def __init__(self, lm: CausalLM, vision_dim: int, *, tuning: str = "lora", lora_rank: int = 4,
                 lora_alpha: float = 8.0, projector: str = "mlp", tuned_token_ids: Sequence[int] = ()) -> None:
        super().__init__()
        if tuning not in TUNINGS:
            raise BenchError(f"LM tuning must be one of {', '.join(TUNINGS)}, got {tuning!r}")
        self.lm, self.tuning = lm, tuning
        self.projector = Projector(vision_dim, lm.width, projector)
        if tuning != "full":
            lm.freeze()
        if tuning == "lora":
            from i2vbench.methods.paradigms.lora import insert_lora

            insert_lora(lm.blocks, rank=lora_rank, alpha=lora_alpha)
        ids = sorted(set(int(i) for i in tuned_token_ids)) if tuning != "full" else []
        self.register_buffer("tuned_ids", torch.tensor(ids, dtype=torch.long), persistent=False)
        self.token_delta = nn.Parameter(torch.zeros(len(ids), lm.width)) if ids else None
        # row of each vocabulary id in token_delta (-1: not tuned)
        row = torch.full((lm.vocab_size,), -1, dtype=torch.long)
        row[self.tuned_ids] = torch.arange(len(ids))
        self.register_buffer("delta_row", row, persistent=False)

    # -- embeddings and logits with the tuned token rows ---------------------------------------

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.lm.embed_tokens(ids)
        if self.token_delta is None:
            return e
        r = self.delta_row[ids]
        return e + torch.where((r >= 0)[..., None], self.token_delta[r.clamp_min(0)], 0.0)

    def run(self, embeds: torch.Tensor, mask: torch.Tensor) -> LMOutput:
        """The LM over built inputs: logits (with the tuned token rows) and last hidden states,
        which methods that decode from the LM's states at placed tokens read (SpaceVLLM's queries)."""
        out = self.lm(embeds, mask)
        if self.token_delta is None:
            return out
        return LMOutput(out.logits.index_add(-1, self.tuned_ids, out.hidden @ self.token_delta.t()), out.hidden)

    def _run(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.run(embeds, mask).logits

    # -- sequences -----------------------------------------------------------------------------

    def build_inputs(self, vision: torch.Tensor, vision_mask: torch.Tensor | None, prompts: Sequence[Sequence[int]],
                     targets: Sequence[Sequence[int]] | None = None, *, prefixes: Sequence[Sequence[int]] | None = None,
                     side: str = "right") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(inputs_embeds (B, L, W), attention_mask (B, L) bool, labels (B, L))`` for the layout
        ``<bos> prefix V prompt <sep> target``; only the vision tokens where ``vision_mask`` is
        True are placed (a padded video is compacted); ``labels`` hold the target ids at their
        positions and :data:`IGNORE` elsewhere. ``side``: where the batch is padded."""
        B = vision.shape[0]
        if len(prompts) != B or (targets is not None and len(targets) != B):
            raise ValueError("vision, prompts and targets must have the same batch size")
        lm = self.lm
        dev = vision.device
        proj = self.projector(vision)
        rows_e, rows_l = [], []
        for i in range(B):
            pre = [lm.bos_id, *(prefixes[i] if prefixes else [])]
            post = [*prompts[i], lm.sep_id]
            tgt = list(targets[i]) if targets is not None else []
            v = proj[i] if vision_mask is None else proj[i][vision_mask[i]]
            text = self.embed(torch.tensor(pre + post + tgt, dtype=torch.long, device=dev))
            rows_e.append(torch.cat([text[:len(pre)], v, text[len(pre):]]))
            rows_l.append([IGNORE] * (len(pre) + len(v) + len(post)) + tgt)
        n = max(len(r) for r in rows_l)
        if n > lm.context_length:
            raise BenchError(f"MLLM input of {n} tokens exceeds the LM's context of {lm.context_length} "
                             "(fewer vision tokens or a shorter prompt)")
        embeds = proj.new_zeros(B, n, lm.width)
        mask = torch.zeros(B, n, dtype=torch.bool, device=dev)
        labels = torch.full((B, n), IGNORE, dtype=torch.long, device=dev)
        for i, (e, lab) in enumerate(zip(rows_e, rows_l, strict=True)):
            sl = slice(n - len(lab), n) if side == "left" else slice(0, len(lab))
            embeds[i, sl], mask[i, sl] = e, True
            labels[i, sl] = torch.tensor(lab, dtype=torch.long, device=dev)
        return embeds, mask, labels

    def token_log_probs(self, vision: torch.Tensor, vision_mask: torch.Tensor | None,
                        prompts: Sequence[Sequence[int]], targets: Sequence[Sequence[int]],
                        prefixes: Sequence[Sequence[int]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p of each label token (B, L-1), mask of label tokens (B, L-1)), teacher-forced."""
        embeds, mask, labels = self.build_inputs(vision, vision_mask, prompts, targets, prefixes=prefixes)
        return label_log_probs(self._run(embeds, mask), labels)

    def loss(self, vision: torch.Tensor, vision_mask: torch.Tensor | None, prompts: Sequence[Sequence[int]],
             answers: Sequence[Sequence[int]], prefixes: Sequence[Sequence[int]] | None = None) -> torch.Tensor:
        """Teacher-forced cross-entropy over the answer tokens and their ``<eos>`` only."""
        eos = self.lm.eos_id
        lp, keep = self.token_log_probs(vision, vision_mask, prompts, [[*a, eos] for a in answers], prefixes)
        return -lp.sum() / keep.sum().clamp_min(1)

    @torch.no_grad()
    def score_options(self, vision: torch.Tensor, vision_mask: torch.Tensor | None, prompts: Sequence[Sequence[int]],
                      options: Sequence[Sequence[Sequence[int]]], reduce: str = "sum",
                      prefixes: Sequence[Sequence[int]] | None = None) -> torch.Tensor:
        """(B, K) log-likelihood of each option (its tokens and ``<eos>``) given item b's vision and
        prompt; ``reduce`` "sum" or "mean" over the option's tokens. Items with fewer than K
        options get -inf in the missing columns. One LM pass for all B × K candidates."""
        if reduce not in ("sum", "mean"):
            raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
        k = max(len(o) for o in options)
        item = [b for b, opts in enumerate(options) for _ in opts]
        col = [j for opts in options for j in range(len(opts))]
        eos = self.lm.eos_id
        idx = torch.tensor(item, device=vision.device)
        lp, keep = self.token_log_probs(vision[idx], None if vision_mask is None else vision_mask[idx],
                                        [prompts[b] for b in item], [[*o, eos] for opts in options for o in opts],
                                        None if prefixes is None else [prefixes[b] for b in item])
        score = lp.sum(1)
        if reduce == "mean":
            score = score / keep.sum(1).clamp_min(1)
        out = torch.full((len(options), k), float("-inf"), device=vision.device)
        out[idx, torch.tensor(col, device=vision.device)] = score
        return out

    @torch.no_grad()
    def generate(self, vision: torch.Tensor, vision_mask: torch.Tensor | None, prompts: Sequence[Sequence[int]],
                 *, max_new_tokens: int = 24, num_beams: int = 1, constraint: Constraint | None = None,
                 prefixes: Sequence[Sequence[int]] | None = None) -> list[list[tuple[list[int], float]]]:
        """Per item, the ``num_beams`` best continuations after ``<sep>`` as (ids without
        ``<eos>``, summed log-probability), best first; ``num_beams=1`` is greedy decoding.
        Generation stops at ``<eos>`` or after ``max_new_tokens``."""
        if num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {num_beams}")
        B, K = vision.shape[0], num_beams
        embeds, mask, _ = self.build_inputs(vision, vision_mask, prompts, prefixes=prefixes, side="left")
        embeds, mask = embeds.repeat_interleave(K, 0), mask.repeat_interleave(K, 0)
        eos = self.lm.eos_id
        scores = torch.full((B, K), float("-inf"), device=vision.device)
        scores[:, 0] = 0.0  # the first step expands one beam only
        done = torch.zeros(B * K, dtype=torch.bool, device=vision.device)
        seqs = torch.zeros(B * K, 0, dtype=torch.long, device=vision.device)
        steps = min(max_new_tokens, self.lm.context_length - embeds.shape[1])
        for _ in range(steps):
            logp = self._run(embeds, mask)[:, -1].float().log_softmax(-1)  # (B*K, V)
            V = logp.shape[-1]
            if constraint is not None:
                logp = logp.masked_fill(~constraint(seqs).to(logp.device), float("-inf"))
            # a finished beam continues with <eos> at no cost, so it keeps its score
            logp[done] = float("-inf")
            logp[done, eos] = 0.0
            cand = (scores.view(B * K, 1) + logp).view(B, K * V)
            top, pos = cand.topk(K, dim=1)
            beam = (pos // V) + torch.arange(B, device=vision.device)[:, None] * K
            tok = (pos % V).view(-1)
            beam = beam.view(-1)
            seqs = torch.cat([seqs[beam], tok[:, None]], 1)
            done = done[beam] | (tok == eos)
            scores = top
            embeds = torch.cat([embeds[beam], self.embed(tok)[:, None]], 1)
            mask = torch.cat([mask[beam], torch.ones(B * K, 1, dtype=torch.bool, device=mask.device)], 1)
            if bool(done.all()):
                break
        out = []
        for b in range(B):
            items = []
            for j in range(K):
                s = float(scores[b, j])
                if s == float("-inf"):
                    continue
                ids = seqs[b * K + j].tolist()
                items.append((ids[:ids.index(eos)] if eos in ids else ids, s))
            out.append(items)
        return out


def label_log_probs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p of each label token (B, L-1), mask of label tokens (B, L-1)) from next-token
    ``logits`` (B, L, V) and ``labels`` (B, L) holding :data:`IGNORE` where nothing is scored."""
    logp = logits[:, :-1].float().log_softmax(-1)
    tgt = labels[:, 1:]
    keep = tgt != IGNORE
    return logp.gather(-1, tgt.clamp_min(0)[..., None]).squeeze(-1) * keep, keep


class SpanAnswer:
    """A time span said in text over time tokens, ``from <t_s> to <t_e> .`` (VTimeLLM's "From 05
    to 45.", SpaceVLLM's temporal answer): its ids, its grammar as a :data:`Constraint` for
    :meth:`MLLM.generate` (``from``, a time, ``to``, a time not before the first, ``.``, eos),
    and its parse back to indices. Index ``i`` is time token ``<t_i>`` of ``n``."""

    def __init__(self, lm: CausalLM, n: int) -> None:
        self.n = n
        self.times = lm.time_token_ids(n)
        self.word = {w: lm.encode(w)[0] for w in ("from", "to", ".")}
        self.vocab_size, self.eos_id = lm.vocab_size, lm.eos_id

    def ids(self, start: int, end: int) -> list[int]:
        """``from <t_start> to <t_end> .`` (both indices inclusive, ``start <= end``)."""
        return [self.word["from"], self.times[start], self.word["to"], self.times[end], self.word["."]]

    def parse(self, ids: Sequence[int]) -> tuple[int, int] | None:
        """(start, end) indices of a generated answer, None if it is not one."""
        if len(ids) < 4 or ids[0] != self.word["from"] or ids[2] != self.word["to"]:
            return None
        s, e = ids[1] - self.times[0], ids[3] - self.times[0]
        return (s, e) if 0 <= s <= e < self.n else None

    def constraint(self, seqs: torch.Tensor) -> torch.Tensor:
        n, t = seqs.shape
        allowed = torch.zeros(n, self.vocab_size, dtype=torch.bool)
        times = torch.tensor(self.times)
        if t in (0, 2, 4):
            allowed[:, self.word[("from", None, "to", None, ".")[t]]] = True
        elif t == 1:
            allowed[:, times] = True
        elif t == 3:
            first = (seqs[:, 1:2] - self.times[0]).clamp(0, len(times) - 1)
            allowed[:, times] = torch.arange(len(times))[None] >= first
        else:
            allowed[:, self.eos_id] = True
        return allowed


def time_bins(start: float, end: float, n: int) -> tuple[int, int]:
    """Normalised [start, end] (fractions of the video) → the first and last of ``n`` equal time
    bins the span covers (bin i covers [i, i + 1) / n), as time tokens ``<t_s> .. <t_e>`` name
    it: Vid2Seq's relative time tokens and VTimeLLM's frame indices are this quantisation."""
    s = min(n - 1, int(np.floor(start * n)))
    e = min(n - 1, max(s, int(np.ceil(end * n)) - 1))
    return s, e


def trainable_summary(model: nn.Module) -> dict[str, int]:
    """Trainable parameters by top-level part (projector, LM LoRA deltas, token rows, ...)."""
    out: dict[str, int] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            key = "lm.lora" if "parametrizations" in name else name.split(".")[0]
            out[key] = out.get(key, 0) + p.numel()
    return out


__all__ = ["IGNORE", "MLLM", "Projector", "SpanAnswer", "label_log_probs", "time_bins", "trainable_summary"]

"""The caption decoder every captioner shares: a small word-level transformer decoder.

A captioning method of the survey is a visual encoder path (the paradigm: how the ILFM's
frames become a memory of visual tokens) followed by a language decoder. Here every method
keeps its own visual path and ends in this one decoder, so methods differ only in what the
survey's rows differ in. The decoder is trained with teacher forcing (cross-entropy on the next
word, label smoothing) and decodes greedily or by beam search.

Words: the training captions' words under one rule (:func:`words`: lower-cased words and
``. , ? !`` marks, which on SynthVid is exactly the grammar's tokenisation), plus ``<pad>``,
``<bos>``, ``<eos>``, ``<unk>``. A word seen fewer than ``min_count`` times in training is
``<unk>`` (real MSR-VTT has a long tail; SynthVid's closed vocabulary is all seen).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.,?!]")
_PUNCT = frozenset(".,?!")


def words(text: str) -> list[str]:
    """The shared tokenisation: lower-cased words (digits, an apostrophe suffix) and ``. , ? !``."""
    return _WORD.findall(text.lower())


class Vocabulary:
    """Word ↔ id, with the four specials first (``<pad>`` = 0)."""

    def __init__(self, vocabulary: Iterable[str]) -> None:
        self.itos = [*SPECIALS, *sorted(set(vocabulary) - set(SPECIALS))]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.pad, self.bos, self.eos, self.unk = (self.stoi[s] for s in SPECIALS)

    @classmethod
    def from_captions(cls, captions: Iterable[str], min_count: int = 1) -> Vocabulary:
        counts = Counter(w for c in captions for w in words(c))
        return cls(w for w, n in counts.items() if n >= min_count)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, captions: list[str], max_len: int) -> torch.Tensor:
        """(C, L) ids ``<bos> w1 .. wn <eos> <pad>..``, L = the longest + 2, at most ``max_len``
        (a longer caption is cut, keeping its ``<eos>``)."""
        rows = [[self.stoi.get(w, self.unk) for w in words(c)][: max_len - 2] for c in captions]
        out = torch.full((len(rows), max(len(r) for r in rows) + 2), self.pad, dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, : len(r) + 2] = torch.tensor([self.bos, *r, self.eos])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Words up to the first ``<eos>``, punctuation attached to the word before it."""
        out: list[str] = []
        for i in ids:
            i = int(i)
            if i == self.eos:
                break
            if i in (self.pad, self.bos):
                continue
            w = self.itos[i]
            if w in _PUNCT and out:
                out[-1] += w
            else:
                out.append(w)
        return " ".join(out)


class CaptionDecoder(nn.Module):
    """Pre-LN transformer decoder: causal self-attention over the words so far, cross-attention to
    the visual memory (B, M, dim) with its padding mask, tied input/output word embeddings."""

    def __init__(self, vocab_size: int, dim: int = 128, layers: int = 2, heads: int = 4, max_len: int = 32,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.max_len = max_len
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        layer = nn.TransformerDecoderLayer(dim, heads, 4 * dim, dropout=dropout, batch_first=True, norm_first=True)
        self.layers = nn.TransformerDecoder(layer, layers)
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.embed.weight, std=dim**-0.5)

    def forward(self, ids: torch.Tensor, memory: torch.Tensor, memory_pad: torch.Tensor | None = None) -> torch.Tensor:
        """(C, L) input ids, memory (C, M, dim) → (C, L, vocab) next-word logits."""
        n = ids.shape[1]
        x = self.embed(ids) + self.pos[:n]
        causal = torch.triu(torch.full((n, n), float("-inf")), diagonal=1)
        h = self.layers(x, memory, tgt_mask=causal, memory_key_padding_mask=memory_pad)
        return self.norm(h) @ self.embed.weight.T

    def loss(self, ids: torch.Tensor, memory: torch.Tensor, memory_pad: torch.Tensor | None, pad: int,
             label_smoothing: float = 0.0) -> torch.Tensor:
        """Teacher forcing: predict ``ids[:, 1:]`` from ``ids[:, :-1]`` (``<pad>`` targets ignored)."""
        logits = self(ids[:, :-1], memory, memory_pad)
        return F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten(), ignore_index=pad,
                               label_smoothing=label_smoothing)

    def _next_logp(self, ids: torch.Tensor, memory: torch.Tensor, memory_pad: torch.Tensor | None) -> torch.Tensor:
        return self(ids, memory, memory_pad)[:, -1].float().log_softmax(-1)

    @torch.no_grad()
    def greedy(self, memory: torch.Tensor, memory_pad: torch.Tensor | None, bos: int, eos: int,
               max_len: int | None = None) -> torch.Tensor:
        """(B, L) ids starting with ``<bos>``: the most likely word at every step, until ``<eos>``."""
        max_len = min(max_len or self.max_len, self.max_len)
        ids = torch.full((len(memory), 1), bos, dtype=torch.long)
        done = torch.zeros(len(memory), dtype=torch.bool)
        for _ in range(max_len - 1):
            nxt = self._next_logp(ids, memory, memory_pad).argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, eos), nxt)
            ids = torch.cat([ids, nxt[:, None]], 1)
            done |= nxt == eos
            if done.all():
                break
        return ids

    @torch.no_grad()
    def beam_search(self, memory: torch.Tensor, memory_pad: torch.Tensor | None, bos: int, eos: int,
                    beam_size: int = 3, max_len: int | None = None, length_penalty: float = 0.0) -> torch.Tensor:
        """(B, L) ids of the best of ``beam_size`` hypotheses per video, ranked by the sum of word
        log-probabilities divided by length**``length_penalty`` (0: the plain sum; with
        ``beam_size`` 1 this is :meth:`greedy`). A finished hypothesis keeps its score and is
        extended only by ``<eos>``."""
        max_len = min(max_len or self.max_len, self.max_len)
        b, k = len(memory), beam_size
        mem = memory.repeat_interleave(k, 0)
        pad = None if memory_pad is None else memory_pad.repeat_interleave(k, 0)
        ids = torch.full((b * k, 1), bos, dtype=torch.long)
        scores = torch.full((b, k), float("-inf"))
        scores[:, 0] = 0.0  # one live hypothesis at the start, not k copies of it
        done = torch.zeros(b * k, dtype=torch.bool)
        lengths = torch.zeros(b * k)
        for _ in range(max_len - 1):
            logp = self._next_logp(ids, mem, pad)  # (B*K, V)
            frozen = torch.full_like(logp, float("-inf"))
            frozen[:, eos] = 0.0
            logp = torch.where(done[:, None], frozen, logp)
            v = logp.shape[-1]
            cand = (scores.view(b * k, 1) + logp).view(b, k * v)
            scores, flat = cand.topk(k, dim=-1)
            src = (flat // v + torch.arange(b)[:, None] * k).flatten()
            word = (flat % v).flatten()
            ids = torch.cat([ids[src], word[:, None]], 1)
            lengths = lengths[src] + (~done[src]).float()
            done = done[src] | (word == eos)
            if done.all():
                break
        ranked = scores.flatten() / lengths.clamp(min=1) ** length_penalty if length_penalty else scores.flatten()
        best = ranked.view(b, k).argmax(-1) + torch.arange(b) * k
        return ids[best]

    def generate(self, memory: torch.Tensor, memory_pad: torch.Tensor | None, bos: int, eos: int,
                 beam_size: int = 1, length_penalty: float = 0.0) -> torch.Tensor:
        if beam_size <= 1:
            return self.greedy(memory, memory_pad, bos, eos)
        return self.beam_search(memory, memory_pad, bos, eos, beam_size, length_penalty=length_penalty)

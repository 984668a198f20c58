"""The embedded language model: a small decoder-only causal LM over SynthVid's words.

It plays the role of the LLM in the survey's MLLM rows (LLaVA's Vicuna, Qwen-VL, InternVL,
Vid2Seq's T5 decoder, VTimeLLM's Vicuna): a language model pretrained on *text only* (SynthVid
captions, event sentences, questions and answers from the grammar, see :mod:`.lm_pretrain`)
that the MLLM pattern (:mod:`i2vbench.methods.mllm`) puts behind an ILFM.

What the miniature keeps from a GPT-style LLM: a pre-LN transformer decoder with causal
self-attention, learned absolute positions, tied input/output token embeddings, next-token
pretraining on packed documents, and special tokens for the chat layout (``<bos>``, ``<eos>``,
``<sep>`` between a prompt and its answer). What it drops: sub-word tokenisation (the grammar's
closed vocabulary is word-level, so there are no unknown words in SynthVid text), scale (~0.8 M
parameters instead of billions) and anything beyond the SynthVid grammar.

Time tokens ``<t0> .. <t{N-1}>`` (Vid2Seq's relative time tokens, N = 100 by default) are part of
the vocabulary but never occur in the text-only pretraining corpus: their embeddings stay at
their random init and are learned downstream by the methods that emit times (Vid2Seq,
VTimeLLM-style grounding), as Vid2Seq adds them to a text-pretrained T5.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from i2vbench.errors import BenchError
from i2vbench.methods.backbones.lm import CausalLM, LMOutput, positions_from_mask
from i2vbench.methods.backbones.tinyclip import init_weights

PAD, UNK, BOS, EOS, SEP = "<pad>", "<unk>", "<bos>", "<eos>", "<sep>"
SPECIALS = (PAD, UNK, BOS, EOS, SEP)
_PIECE = re.compile(r"<[a-z]+\d*>|[a-z]+|[.,?]")


def default_vocabulary() -> list[str]:
    from i2vbench.datasets.synthvid.text import VOCABULARY

    return sorted(set(VOCABULARY))


def time_token(i: int) -> str:
    return f"<t{i}>"


class LMTokenizer:
    """Word-level tokenizer: the five specials, then the words, then the time tokens.

    Text is split by SynthVid's shared rule (lower-cased words and ``. , ?``) with special
    tokens written as ``<name>`` recognised in place; anything else (digits, other symbols) is
    not a token. :meth:`decode` writes words separated by spaces with punctuation attached, so
    ``encode(decode(ids)) == ids`` for every id sequence without padding/unknown tokens.
    """

    def __init__(self, vocabulary: Sequence[str], n_time_tokens: int) -> None:
        words = [w for w in vocabulary if w not in SPECIALS and not w.startswith("<")]
        self.itos = [*SPECIALS, *words, *(time_token(i) for i in range(n_time_tokens))]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.n_time_tokens = n_time_tokens
        self.first_time_id = len(SPECIALS) + len(words)
        self.pad_id, self.unk_id, self.bos_id, self.eos_id, self.sep_id = range(5)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.stoi.get(p, self.unk_id) for p in _PIECE.findall(text.lower())]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids: Sequence[int], *, skip_special: bool = True) -> str:
        out: list[str] = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"token id {i} is outside the vocabulary (0..{len(self.itos) - 1})")
            if skip_special and i in (self.pad_id, self.bos_id, self.eos_id, self.sep_id):
                continue
            w = self.itos[i]
            if w in (".", ",", "?") and out:
                out[-1] += w
            else:
                out.append(w)
        return " ".join(out)


@dataclass
class TinyLMConfig:
    """Everything needed to rebuild the model; saved as ``config.json`` beside the weights."""

    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 4
    context_length: int = 96
    n_time_tokens: int = 100
    dropout: float = 0.0
    vocabulary: list[str] = field(default_factory=list)  # words only; specials and time tokens are added

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TinyLMConfig:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise BenchError(f"tinylm config.json: unknown keys {unknown}; expected {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, N, W = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, W // self.heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) * (W // self.heads) ** -0.5 + bias
        att = self.drop(att.softmax(-1))
        return self.out((att @ v).transpose(1, 2).reshape(B, N, W))


class DecoderBlock(nn.Module):
    """Pre-LN block: ``x + attn(ln1(x))`` then ``+ mlp(ln2(x))`` (GPT-2's layout)."""

    def __init__(self, width: int, heads: int, mlp_ratio: int, dropout: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads, dropout)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(),
                                 nn.Linear(mlp_ratio * width, width), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), bias)
        return x + self.mlp(self.ln_2(x))


class TinyLM(CausalLM):
    """Word-level GPT: token + position embeddings, pre-LN causal blocks, tied output head."""

    def __init__(self, config: TinyLMConfig) -> None:
        super().__init__()
        if not config.vocabulary:
            config.vocabulary = default_vocabulary()
        c = self.config = config
        if c.width % c.heads:
            raise ValueError(f"width {c.width} is not a multiple of heads {c.heads}")
        self.tokenizer = LMTokenizer(c.vocabulary, c.n_time_tokens)
        t = self.tokenizer
        self.width, self.vocab_size, self.context_length = c.width, len(t), c.context_length
        self.pad_id, self.bos_id, self.eos_id, self.sep_id = t.pad_id, t.bos_id, t.eos_id, t.sep_id
        self.token_embedding = nn.Embedding(len(t), c.width)
        self.pos_embedding = nn.Parameter(torch.randn(c.context_length, c.width) * 0.01)
        self.drop = nn.Dropout(c.dropout)
        self._blocks = nn.ModuleList(DecoderBlock(c.width, c.heads, c.mlp_ratio, c.dropout) for _ in range(c.depth))
        self.ln_f = nn.LayerNorm(c.width)
        self.apply(init_weights)
        for name, p in self.named_parameters():  # GPT-2: residual projections scaled by depth
            if name.endswith(("attn.out.weight", "mlp.2.weight")):
                nn.init.normal_(p, std=0.02 / (2 * c.depth) ** 0.5)

    @property
    def blocks(self) -> nn.ModuleList:
        return self._blocks

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        return self.tokenizer.encode(text, bos=bos, eos=eos)

    def decode(self, ids: Sequence[int], *, skip_special: bool = True) -> str:
        return self.tokenizer.decode(ids, skip_special=skip_special)

    def time_token_ids(self, n: int) -> list[int]:
        if n > self.tokenizer.n_time_tokens:
            raise BenchError(f"tinylm has {self.tokenizer.n_time_tokens} time tokens, {n} were asked for")
        return list(range(self.tokenizer.first_time_id, self.tokenizer.first_time_id + n))

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.token_embedding(ids)

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None) -> LMOutput:
        B, L, _ = inputs_embeds.shape
        if L > self.context_length:
            raise BenchError(f"tinylm: sequence of {L} tokens exceeds its context of {self.context_length}")
        dev = inputs_embeds.device
        if attention_mask is None:
            attention_mask = torch.ones(B, L, dtype=torch.bool, device=dev)
        attention_mask = attention_mask.bool()
        if position_ids is None:
            position_ids = positions_from_mask(attention_mask)
        causal = torch.ones(L, L, dtype=torch.bool, device=dev).tril()
        allowed = causal[None] & attention_mask[:, None, :]
        allowed |= torch.eye(L, dtype=torch.bool, device=dev)[None]  # padding rows see themselves: no NaN
        bias = torch.zeros(allowed.shape, dtype=inputs_embeds.dtype, device=dev).masked_fill_(~allowed, -1e9)
        x = self.drop(inputs_embeds + self.pos_embedding[position_ids].to(inputs_embeds.dtype))
        bias = bias[:, None]
        for blk in self._blocks:
            x = blk(x, bias)
        h = self.ln_f(x)
        return LMOutput(logits=h @ self.token_embedding.weight.t(), hidden=h)


def save_tinylm(model: TinyLM, out_dir: str | Path, metrics: dict | None = None) -> Path:
    """The embedded checkpoint format (:mod:`~i2vbench.methods.backbones.checkpoint`), in fp32."""
    from i2vbench.methods.backbones.checkpoint import save_checkpoint

    return save_checkpoint(model, out_dir, metrics)


def load_tinylm(path: str | Path, device: str = "cpu") -> TinyLM:
    from i2vbench.methods.backbones.checkpoint import load_checkpoint

    return load_checkpoint(path, "tinylm", lambda c: TinyLM(TinyLMConfig.from_dict(c)), device)

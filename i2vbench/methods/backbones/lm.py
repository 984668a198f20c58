"""One interface for the language model (LLM) role: causal LMs addressed by spec strings.

The survey's MLLM rows (LLaVA, Qwen-VL, InternVL, Vid2Seq's T5, VTimeLLM's Vicuna) put an LLM
behind the ILFM. Methods only talk to :class:`CausalLM`: token ids become embeddings with
:meth:`~CausalLM.embed_tokens`, visual tokens projected to the same width are concatenated with
them, and :meth:`~CausalLM.forward` takes ``inputs_embeds`` + ``attention_mask`` and returns
next-token logits and the last hidden states. Two implementations:

- ``tinylm``: the embedded word-level LM pretrained by the suite on SynthVid text
  (:mod:`.tinylm`, shipped in ``i2vbench/assets/tinylm``);
- ``hf:<dir>``: any Hugging Face causal LM saved with ``save_pretrained`` (:mod:`.hf_lm`),
  loaded offline from safetensors.

Both take positions from the attention mask (``cumsum - 1``), so a left-padded and a
right-padded batch give the same logits at every real token.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from i2vbench.errors import BenchError
from i2vbench.paths import ASSETS
from i2vbench.registry import Registry

TINYLM_DIR = ASSETS / "tinylm"
DEFAULT_LM = "tinylm"


@dataclass
class LMOutput:
    logits: torch.Tensor  # (B, L, V) next-token logits at every position
    hidden: torch.Tensor  # (B, L, W) last hidden states, what the output head reads


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, L) position of each token among its row's real tokens (0 at padding): the same
    positions whether a row is padded on the left or on the right."""
    return (attention_mask.long().cumsum(1) - 1).clamp_min(0)


class CausalLM(nn.Module, ABC):
    """A decoder-only language model seen as token table + transformer over embeddings."""

    width: int  # W, the width of token embeddings and hidden states
    vocab_size: int
    context_length: int  # longest sequence the position table covers
    pad_id: int
    bos_id: int
    eos_id: int
    sep_id: int  # ends a prompt / question, before the answer
    spec: str = ""  # set by load_lm
    lm_id: str = ""  # spec + weights hash, set by load_lm

    @abstractmethod
    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text`` (special tokens written as ``<sep>``, ``<t12>`` are recognised)."""

    @abstractmethod
    def decode(self, ids: Sequence[int], *, skip_special: bool = True) -> str:
        """Text of ``ids``; ``skip_special`` drops pad/bos/eos/sep (time tokens are kept)."""

    @abstractmethod
    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids → (B, L, W) input embeddings (positions are added inside :meth:`forward`)."""

    @abstractmethod
    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None) -> LMOutput:
        """Causal pass over ``inputs_embeds`` (B, L, W); ``attention_mask`` (B, L) True/1 at real
        tokens; positions default to :func:`positions_from_mask`."""

    @property
    @abstractmethod
    def blocks(self) -> nn.ModuleList:
        """The transformer's residual blocks, in order (LoRA and adapters wrap them)."""

    @abstractmethod
    def time_token_ids(self, n: int) -> list[int]:
        """Ids of the time tokens ``<t0> .. <t{n-1}>`` (Vid2Seq / VTimeLLM-style time output)."""

    def freeze(self) -> CausalLM:
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def pad_batch(self, rows: Sequence[Sequence[int]], side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
        """Ids of unequal lengths → ``(ids, mask)`` (B, L), padded on ``side`` ("left"/"right")."""
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        n = max((len(r) for r in rows), default=0)
        ids = torch.full((len(rows), n), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.bool)
        for i, r in enumerate(rows):
            if r:
                sl = slice(n - len(r), n) if side == "left" else slice(0, len(r))
                ids[i, sl], mask[i, sl] = torch.as_tensor(list(r), dtype=torch.long), True
        return ids, mask

    def log_likelihood(self, rows: Sequence[Sequence[int]]) -> torch.Tensor:
        """(B,) sum of log p(token | earlier tokens) over each row's tokens after its first."""
        ids, mask = self.pad_batch(rows)
        ids, mask = ids.to(self.device), mask.to(self.device)
        logp = self(self.embed_tokens(ids), mask).logits[:, :-1].float().log_softmax(-1)
        tok = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
        return (tok * mask[:, 1:]).sum(1)


# name -> loader(arg, pretrained, device)
LMLoader = Callable[[str | None, str | None, str], CausalLM]
LANGUAGE_MODELS: Registry[LMLoader] = Registry("language model")


def load_lm(spec: str = DEFAULT_LM, pretrained: str | None = None, *, device: str | None = None) -> CausalLM:
    """The causal LM named by ``spec`` (``tinylm`` or ``hf:<dir>``), in eval mode, with ``.spec``
    and ``.lm_id`` (spec + weights hash) set; on ``device`` (default: the run's)."""
    from i2vbench.devices import current

    device = device or str(current())
    name, sep, arg = spec.partition(":")
    model = LANGUAGE_MODELS.get(name)(arg if sep else None, pretrained, device)
    model.spec, model.lm_id = spec, lm_id(spec, pretrained)
    return model.to(device).eval()


def lm_id(spec: str, pretrained: str | None = None) -> str:
    """Spec + the sha256 prefix of the weight files, e.g. ``tinylm-1a2b3c4d5e6f``."""
    from i2vbench.methods.backbones import file_sha256

    name, _, arg = spec.partition(":")
    if name == "tinylm":
        d = Path(pretrained) if pretrained else TINYLM_DIR
        files = [d / "model.safetensors" if d.is_dir() else d]
    else:
        d = Path(pretrained or arg or "")
        files = sorted(f for f in d.glob("*") if f.suffix == ".safetensors" or f.name == "config.json")
    files = [f for f in files if f.is_file()]
    h = hashlib.sha256()
    for f in files:
        h.update(file_sha256(f).encode())
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in spec)
    return f"{safe}-{h.hexdigest()[:12] if files else 'random'}"


@LANGUAGE_MODELS.register("tinylm")
def _load_tinylm(arg: str | None, pretrained: str | None, device: str) -> CausalLM:
    """Embedded ~0.8 M-param word-level causal LM pretrained on SynthVid text (assets/tinylm)."""
    from i2vbench.methods.backbones.tinylm import load_tinylm

    if arg:
        raise BenchError(f"language model 'tinylm' takes no argument, got 'tinylm:{arg}'")
    source = Path(pretrained) if pretrained else TINYLM_DIR
    if not (source / "model.safetensors" if source.is_dir() else source).is_file():
        raise BenchError(f"no tinylm checkpoint at {source} (run `bench pretrain --backbone tinylm`)")
    return load_tinylm(source, device=device)


@LANGUAGE_MODELS.register("hf")
def _load_hf_lm(arg: str | None, pretrained: str | None, device: str) -> CausalLM:
    """A Hugging Face causal LM saved in a local directory (hf:<dir>), safetensors only."""
    from i2vbench.methods.backbones.hf_lm import load_hf_lm

    return load_hf_lm(arg, pretrained, device)

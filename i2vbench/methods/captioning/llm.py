"""Captioners whose decoder is the pretrained language model: the MLLM pattern on captioning.

The captioners in :mod:`.base` end in the small word-level decoder every one of them trains from
scratch; the survey's LLM-era rows (Vid2Seq's T5 decoder, Q-Adapter's Qwen2.5-VL) caption with a
*pretrained* language model instead. :class:`LMCaptioner` is that: a method's visual path
(:meth:`LMCaptioner.vision`, the part its paradigm decides) → the projector → the causal LM
(``tinylm``, or any ``hf:<dir>`` LM) of :class:`~i2vbench.methods.mllm.MLLM`, in the layout
``<bos> V <sep> caption <eos>`` (no prompt words: the task is the only one the model is asked),
trained with the LM's next-token loss on the caption tokens only, decoded by the MLLM's beam
search. What the LM may learn (``tuning``: frozen / lora / full) is part of each method's recipe.

Batches are the shared captioning batches (:func:`~.base.make_batch`): each video encoded once a
step, ``refs_per_video`` of its references decoded against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from i2vbench.devices import autocast
from i2vbench.methods.backbones.lm import DEFAULT_LM, CausalLM, load_lm
from i2vbench.methods.captioning.base import CaptionBatch, Captioner
from i2vbench.methods.mllm import MLLM
from i2vbench.methods.trainable import TrainConfig


@dataclass
class LMCaptionerConfig:
    """The LM decoder's fields; every LM captioner's config carries them."""

    lm: str = DEFAULT_LM  # the LLM: "tinylm" or "hf:<dir>"
    lm_pretrained: str | None = None  # another checkpoint of it (a directory)
    tuning: str = "lora"  # frozen | lora | full (the LM; the projector always learns)
    lora_rank: int = 8
    lora_alpha: float = 16.0
    projector: str = "mlp"
    # the LM's trainable weights (all of them, or its LoRA deltas) at this fraction of the lr; the
    # visual path, the projector and new token rows at the lr (as a tuned ILFM's backbone_lr_scale)
    lm_lr_scale: float = 1.0
    # references decoded per video and step: every LM token costs the whole LM forward and
    # backward, 2 keeps the default run within its budget (the shared decoder's methods use 3)
    refs_per_video: int | None = 2
    num_beams: int = 3
    max_new_tokens: int = 40
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, lr=1e-3, batch_size=32))


class LMCaptioner(Captioner):
    """A visual path (:meth:`vision`) into the MLLM pattern; the LM writes the caption."""

    def __init__(self, vision_dim: int, config: LMCaptionerConfig) -> None:
        super().__init__()
        self.config = config
        self.train_config = config.train
        lm = load_lm(config.lm, config.lm_pretrained)
        self.mllm = MLLM(lm, vision_dim, tuning=config.tuning, lora_rank=config.lora_rank,
                         lora_alpha=config.lora_alpha, projector=config.projector,
                         tuned_token_ids=self.new_tokens(lm))
        self._prompt: list[int] = []

    @property
    def lm(self) -> CausalLM:
        return self.mllm.lm

    def param_groups(self) -> list[dict]:
        lm = {id(p) for p in self.lm.parameters()}
        groups = [{"params": [p for p in self.lm.parameters() if p.requires_grad], "lr_scale": self.config.lm_lr_scale},
                  {"params": [p for p in self.parameters() if p.requires_grad and id(p) not in lm]}]
        return [g for g in groups if g["params"]]

    def new_tokens(self, lm: CausalLM) -> Sequence[int]:
        """Token ids the LM never saw in pretraining that the method writes (tuned on their own
        rows when the LM is not fully tuned)."""
        return ()

    def vision(self, b: CaptionBatch) -> torch.Tensor:
        """(B, M, vision_dim) the batch's visual tokens, in time order."""
        raise NotImplementedError

    def target(self, video: str, caption: str) -> list[int]:
        """The LM's target sequence for one reference (its tokens; Vid2Seq adds time tokens)."""
        return self.lm.encode(caption)

    def text(self, ids: list[int]) -> str:
        """A generated sequence back to a caption."""
        return self.lm.decode(ids)


    def loss(self, b: CaptionBatch) -> dict[str, torch.Tensor]:
        own = b.caption_video
        targets = [self.target(b.videos[int(v)], c) for v, c in zip(own, b.captions, strict=True)]
        # bf16 autocast: on these CPUs ~1.5-2x faster for small transformers (DESIGN.md, measured notes)
        with autocast():
            v = self.vision(b)
            nll = self.mllm.loss(v[own], None, [self._prompt] * len(targets), targets)
        return {"caption": nll.float()}

    def generate(self, b: CaptionBatch) -> list[str]:
        """The best beam of each video, its non-text tokens dropped."""
        beams = self.mllm.generate(self.vision(b), None, [self._prompt] * len(b.videos),
                                   num_beams=self.config.num_beams, max_new_tokens=self.config.max_new_tokens)
        return [self.text(best[0][0]) if best else "" for best in beams]

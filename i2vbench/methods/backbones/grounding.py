"""One detector interface for grounding ILFMs: boxes, scores and region embeddings per phrase.

``load_grounder("tinyground")`` gives the embedded model (shipped in
``i2vbench/assets/tinyground``); ``load_grounder("owlvit:DIR")`` an OWL-ViT saved with
``save_pretrained`` (Hugging Face ``transformers``), loaded offline from disk. Tasks that need
phrase-to-box grounding per frame (STVG, OV-MOT) call :meth:`Grounder.detect` and never look
inside the model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from i2vbench.devices import autocast
from i2vbench.errors import BenchError
from i2vbench.paths import ASSETS

TINYGROUND_DIR = ASSETS / "tinyground"


@dataclass
class Detections:
    """What a grounder says about F frames and P phrases, with Q candidate boxes each."""

    boxes: torch.Tensor       # (F, P, Q, 4) x1, y1, x2, y2 in pixels of the input frames
    scores: torch.Tensor      # (F, P, Q) in [0, 1]: the box holds what the phrase names
    embeddings: torch.Tensor  # (F, P, Q, E) L2-normalised region embeddings
    phrase_embeddings: torch.Tensor  # (P, E) L2-normalised, same space as the region embeddings

    def top(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The best box per (frame, phrase): ``boxes (F, P, 4)``, ``scores (F, P)``."""
        s, i = self.scores.max(-1)
        return torch.gather(self.boxes, 2, i[..., None, None].expand(-1, -1, 1, 4)).squeeze(2), s


class Grounder(ABC):
    """A phrase-grounding detector over uint8 RGB frames ``(F, H, W, 3)``."""

    spec: str = ""

    @abstractmethod
    def detect(self, frames: np.ndarray | torch.Tensor, phrases: list[str]) -> Detections:
        """Every phrase on every frame."""


class TinyGroundDetector(Grounder):
    """The embedded tinyground behind the :class:`Grounder` interface (frozen, eval mode)."""

    def __init__(self, model: torch.nn.Module, batch: int = 256, bf16: bool = True) -> None:
        self.model, self.batch, self.bf16 = model.eval(), batch, bf16
        self.spec = getattr(model, "spec", "tinyground")

    @torch.no_grad()
    def detect(self, frames: np.ndarray | torch.Tensor, phrases: list[str]) -> Detections:
        from i2vbench.methods.backbones.tinyground import box_cxcywh_to_xyxy

        x = torch.as_tensor(np.ascontiguousarray(frames))
        F, H, W = x.shape[0], x.shape[1], x.shape[2]
        P = len(phrases)
        boxes, scores, emb = [], [], []
        phrase_emb = None
        with autocast(self.bf16):
            per = max(1, self.batch // max(P, 1))
            for a in range(0, F, per):
                tok = self.model.image_tokens(self.model.preprocess(x[a:a + per]))
                n = tok.shape[0]
                # each phrase encoded once per batch, not once per frame
                out = self.model.ground(tok, phrases, torch.arange(n).repeat_interleave(P), torch.arange(P).repeat(n))
                boxes.append(box_cxcywh_to_xyxy(out.boxes[-1]).view(n, P, -1, 4))
                scores.append(out.match[-1].sigmoid().view(n, P, -1))
                emb.append(out.region_embeddings.view(n, P, out.region_embeddings.shape[1], -1))
                phrase_emb = out.phrase_embeddings[:P]
        b = torch.cat(boxes).float().clamp(0, 1) * torch.tensor([W, H, W, H], dtype=torch.float32)
        return Detections(b, torch.cat(scores).float(), torch.cat(emb).float(), phrase_emb.float())


class OwlViTDetector(Grounder):
    """OWL-ViT (``transformers.OwlViTForObjectDetection``) from a ``save_pretrained`` directory.

    OWL-ViT predicts one box per image patch; its class embeddings are phrase independent, so
    ``embeddings`` repeats them over phrases. Scores are the sigmoid of its phrase logits.
    """

    def __init__(self, path: str | Path, batch: int = 16) -> None:
        from transformers import OwlViTForObjectDetection, OwlViTProcessor

        p = Path(path)
        if not (p / "config.json").is_file():
            raise BenchError(f"owlvit:{p}: expected a directory written by save_pretrained (config.json, weights, "
                             "tokenizer and preprocessor files)")
        # safetensors only: a pickled pytorch_model.bin is never unpickled
        self.model = OwlViTForObjectDetection.from_pretrained(p, local_files_only=True, use_safetensors=True).eval()
        self.processor = OwlViTProcessor.from_pretrained(p, local_files_only=True)
        self.batch, self.spec = batch, f"owlvit:{p}"

    @torch.no_grad()
    def detect(self, frames: np.ndarray | torch.Tensor, phrases: list[str]) -> Detections:
        x = np.asarray(frames)
        F, H, W = x.shape[:3]
        boxes, scores, emb = [], [], []
        text = self.processor(text=[phrases], return_tensors="pt", padding=True)
        for a in range(0, F, self.batch):
            imgs = self.processor(images=list(x[a:a + self.batch]), return_tensors="pt")
            n = imgs["pixel_values"].shape[0]
            out = self.model(input_ids=text["input_ids"].repeat(n, 1),
                             attention_mask=text["attention_mask"].repeat(n, 1),
                             pixel_values=imgs["pixel_values"])
            P = len(phrases)
            # pred_boxes (n, Q, 4) cxcywh normalised; logits (n, Q, P); class_embeds (n, Q, E)
            b = out.pred_boxes
            xyxy = torch.stack([b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2,
                                b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2], -1).clamp(0, 1)
            xyxy = xyxy * torch.tensor([W, H, W, H], dtype=xyxy.dtype)
            boxes.append(xyxy[:, None].expand(-1, P, -1, -1))
            scores.append(out.logits.sigmoid().permute(0, 2, 1))
            e = torch.nn.functional.normalize(out.class_embeds, dim=-1)
            emb.append(e[:, None].expand(-1, P, -1, -1))
            phrase = torch.nn.functional.normalize(out.text_embeds.reshape(-1, out.text_embeds.shape[-1])[:P], dim=-1)
        return Detections(torch.cat(boxes).float(), torch.cat(scores).float(), torch.cat(emb).float(),
                          phrase.float())


def load_grounder(spec: str = "tinyground", pretrained: str | Path | None = None) -> Grounder:
    """``tinyground`` (the shipped checkpoint, or ``pretrained``) or ``owlvit:DIR``."""
    name, _, arg = spec.partition(":")
    if name == "tinyground":
        model = load_tinyground(pretrained or TINYGROUND_DIR)
        model.spec = "tinyground"
        return TinyGroundDetector(model)
    if name == "owlvit":
        return OwlViTDetector(arg or pretrained or "")
    raise BenchError(f"unknown grounder {spec!r}; expected 'tinyground' or 'owlvit:<save_pretrained dir>'")


# ---------------------------------------------------------------------------------------------
# tinyground checkpoints: the embedded models' format (:mod:`.checkpoint`), fp16 as tinyclip's


def save_tinyground(model: torch.nn.Module, out_dir: str | Path, metrics: dict | None = None,
                    dtype: torch.dtype = torch.float16) -> Path:
    from i2vbench.methods.backbones.checkpoint import save_checkpoint

    return save_checkpoint(model, out_dir, metrics, dtype)


def load_tinyground(path: str | Path, device: str = "cpu") -> torch.nn.Module:
    """A tinyground checkpoint directory → the model in eval mode (fp32)."""
    from i2vbench.methods.backbones.checkpoint import load_checkpoint
    from i2vbench.methods.backbones.tinyground import TinyGround, TinyGroundConfig

    return load_checkpoint(path, "tinyground", lambda c: TinyGround(TinyGroundConfig.from_dict(c)), device,
                           hint="run `bench pretrain --backbone tinyground`")

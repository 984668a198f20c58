"""``hf:<dir>`` in the LM role: a Hugging Face causal LM saved with ``save_pretrained``.

Loaded with ``AutoModelForCausalLM`` / ``AutoTokenizer`` from the directory only
(``local_files_only=True``, ``use_safetensors=True``: a pickled ``pytorch_model.bin`` is never
read). Tokens the checkpoint lacks for the suite's prompt layout (a ``<sep>`` between prompt and
answer, the time tokens ``<t0> ..``) are added as new rows of the token table, learned
downstream like tinylm's time tokens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from i2vbench.errors import BenchError
from i2vbench.methods.backbones.lm import CausalLM, LMOutput, positions_from_mask


def _find_blocks(model: nn.Module, n_layers: int | None) -> nn.ModuleList:
    """The decoder's block list (GPT-2 ``h``, Llama/Qwen ``layers``, ...): the longest ModuleList
    (of ``num_hidden_layers`` entries when the config says so)."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    if n_layers:
        lists = [m for m in lists if len(m) == n_layers] or lists
    if not lists:
        raise BenchError(f"{type(model).__name__}: no list of transformer blocks found")
    return max(lists, key=len)


class HFCausalLM(CausalLM):
    def __init__(self, model: nn.Module, tokenizer, path: Path) -> None:  # noqa: ANN001
        super().__init__()
        self.model, self.tokenizer, self.path = model, tokenizer, path
        cfg = model.config
        self.width = int(getattr(cfg, "hidden_size", None) or cfg.n_embd)
        self.context_length = int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", 2048))
        self._blocks = _find_blocks(model, getattr(cfg, "num_hidden_layers", None))
        added = []
        if tokenizer.sep_token_id is None:
            added.append("<sep>")
        if added:
            self._add_tokens(added, special=True)
        self.eos_id = int(tokenizer.eos_token_id)
        self.bos_id = int(tokenizer.bos_token_id if tokenizer.bos_token_id is not None else self.eos_id)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id)
        self.sep_id = int(tokenizer.sep_token_id if tokenizer.sep_token_id is not None
                          else tokenizer.convert_tokens_to_ids("<sep>"))
        self.vocab_size = int(model.get_input_embeddings().weight.shape[0])

    def _add_tokens(self, tokens: list[str], special: bool = False) -> None:
        if special:
            self.tokenizer.add_special_tokens({"sep_token": tokens[0]} if tokens == ["<sep>"]
                                              else {"additional_special_tokens": tokens})
        else:
            self.tokenizer.add_tokens(tokens)
        self.model.resize_token_embeddings(len(self.tokenizer))
        self.vocab_size = int(self.model.get_input_embeddings().weight.shape[0])

    @property
    def blocks(self) -> nn.ModuleList:
        return self._blocks

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids: Sequence[int], *, skip_special: bool = True) -> str:
        keep = [int(i) for i in ids if not (skip_special and int(i) in (self.pad_id, self.bos_id, self.eos_id, self.sep_id))]
        return self.tokenizer.decode(keep, skip_special_tokens=False).strip()

    def time_token_ids(self, n: int) -> list[int]:
        names = [f"<t{i}>" for i in range(n)]
        missing = [t for t in names if t not in self.tokenizer.get_vocab()]
        if missing:
            self._add_tokens(missing)
        return [int(i) for i in self.tokenizer.convert_tokens_to_ids(names)]

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids)

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None) -> LMOutput:
        if attention_mask is None:
            attention_mask = torch.ones(inputs_embeds.shape[:2], dtype=torch.bool, device=inputs_embeds.device)
        if position_ids is None:
            position_ids = positions_from_mask(attention_mask)
        out = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask.long(),
                         position_ids=position_ids, output_hidden_states=True, use_cache=False)
        return LMOutput(logits=out.logits, hidden=out.hidden_states[-1])


def load_hf_lm(arg: str | None, pretrained: str | None, device: str = "cpu") -> HFCausalLM:
    """``hf:<dir>`` (or ``hf`` with ``pretrained=<dir>``): a saved causal LM and its tokenizer."""
    if not (arg or pretrained):
        raise BenchError("language model 'hf' needs a model directory: hf:<dir> (saved with save_pretrained)")
    d = Path(pretrained or arg or "")
    if not (d / "config.json").is_file():
        raise BenchError(f"hf model directory {d} has no config.json (expected a save_pretrained folder)")
    try:
        json.loads((d / "config.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BenchError(f"{d / 'config.json'}:{e.lineno}: malformed JSON ({e.msg})") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from i2vbench.methods.backbones.openclip import offline

    with offline():
        try:
            # safetensors only: a pickled pytorch_model.bin can run code when it is loaded
            model = AutoModelForCausalLM.from_pretrained(str(d), local_files_only=True, use_safetensors=True)
            tokenizer = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
        except (OSError, ValueError) as e:
            hint = ("; only safetensors weights are loaded (convert pytorch_model.bin with save_pretrained("
                    "..., safe_serialization=True))" if not any(d.glob("*.safetensors")) else "")
            raise BenchError(f"hf:{d}: could not load causal LM/tokenizer ({e}){hint}") from None
    return HFCausalLM(model.to(device).eval(), tokenizer, d)

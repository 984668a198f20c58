"""The survey's taxonomy of image-to-video transfer paradigms (Section III), with stable ids.

Tables II and III print paradigm names in several spellings ("Post Network Tuning",
"Post-Network Tuning", "F.Tuning with Adapter"); :func:`paradigm_from_label` maps each printed
form to one :class:`Paradigm`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from i2vbench.errors import unknown


class Root(str, Enum):
    FROZEN = "frozen features"
    ADAPTED = "adapted features"


@dataclass(frozen=True)
class Paradigm:
    id: str
    name: str
    root: Root
    section: str  # where the survey defines it
    table_label: str  # how Tables II/III print it (canonical spelling)


PARADIGMS: tuple[Paradigm, ...] = (
    Paradigm("knowledge_distillation", "Knowledge Distillation", Root.FROZEN, "III-A.1", "Knowledge Distillation"),
    Paradigm("post_network_tuning", "Post-Network Tuning", Root.FROZEN, "III-A.2", "Post Network Tuning"),
    Paradigm("side_tuning", "Side-Tuning", Root.FROZEN, "III-A.3", "Side-Tuning"),
    Paradigm("full_fine_tuning", "Full Fine-Tuning", Root.ADAPTED, "III-B.1", "Full Fine-Tuning"),
    Paradigm("partial_tuning", "Partial Tuning", Root.ADAPTED, "III-B.2", "Partial tuning"),
    Paradigm("extra_models", "Fine-Tuning with Extra Models", Root.ADAPTED, "III-B.3", "F.Tuning with Extra Models"),
    Paradigm("adapter", "Fine-Tuning with Adapter", Root.ADAPTED, "III-B.4", "F.Tuning with Adapter"),
    Paradigm("lora", "Fine-Tuning with LoRA", Root.ADAPTED, "III-B.5", "F.Tuning with LoRA"),
    Paradigm("prompt_tuning", "Prompt Tuning", Root.ADAPTED, "III-B.6", "Prompt Tuning"),
)
PARADIGM_IDS: tuple[str, ...] = tuple(p.id for p in PARADIGMS)
_BY_ID = {p.id: p for p in PARADIGMS}


def _norm(label: str) -> str:
    label = label.lower().replace("f.tuning", "fine tuning").replace("fine-tuning", "fine tuning")
    return re.sub(r"[^a-z]+", " ", label).strip()


_BY_LABEL = {_norm(p.name): p for p in PARADIGMS} | {_norm(p.table_label): p for p in PARADIGMS}


def paradigm(pid: str) -> Paradigm:
    try:
        return _BY_ID[pid]
    except KeyError:
        raise unknown("paradigm", pid, PARADIGM_IDS) from None


def paradigm_from_label(label: str) -> Paradigm:
    """Map a printed paradigm name (any of the survey's spellings) to its :class:`Paradigm`."""
    try:
        return _BY_LABEL[_norm(label)]
    except KeyError:
        raise unknown("paradigm label", label, [p.table_label for p in PARADIGMS]) from None

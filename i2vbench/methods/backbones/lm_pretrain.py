"""Pretraining the embedded LM (tinylm) on SynthVid *text only*: next-token prediction.

The corpus is written from sampled SynthVid scenes (:func:`~i2vbench.datasets.synthvid.world.sample_scene`)
through the grammar of :mod:`i2vbench.datasets.synthvid.text`, never rendered: no frame, no image
reaches the LM, as an LLM has read text and no video. Each scene gives documents of four kinds:

- event sentences (the TVG queries' grammar: "the red circle moves to the left.");
- video captions naming events in order (the MSR-VTT writer's grammar, ``caption``);
- object descriptions ("there is a large red circle on the left.");
- questions with their answers, ``question <sep> answer`` ("what color is the circle that
  grows? <sep> red.", "which object moves up after the red circle moves left? <sep> the blue
  square.", "when does the red circle shrink? <sep> at the end.", yes/no questions).

Documents are ``<bos> text <eos>``, concatenated and cut into ``context_length`` windows (GPT
packing), so every position of the table is trained. The held-out split is written from scenes
of another seed stream; its perplexity and next-word accuracy are measured per document (each
from its own ``<bos>``). Deterministic: scenes from ``(seed, split, i)``, the init from ``seed``,
batch ``i`` from ``(seed, i)``.
"""

from __future__ import annotations

import math
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from i2vbench.errors import BenchError
from i2vbench.methods.backbones.pretrain import lr_at
from i2vbench.methods.backbones.tinylm import TinyLM, TinyLMConfig

# the base form of each motion, for yes/no and "when" questions
BASE = {"move left": "move to the left", "move right": "move to the right", "move up": "move up",
        "move down": "move down", "appear": "appear", "disappear": "disappear", "grow": "grow",
        "shrink": "shrink", "stay": "stay still"}
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass
class LMPretrainConfig:
    """Defaults: the recipe of the shipped tinylm (``bench pretrain --backbone tinylm``)."""

    steps: int = 800
    batch_size: int = 32  # windows of context_length tokens per step
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 0.1
    seed: int = 0
    train_scenes: int = 10000
    heldout_scenes: int = 500
    width: int = 128
    depth: int = 4
    heads: int = 4
    context_length: int = 96
    n_time_tokens: int = 100
    threads: int = 2

    def __post_init__(self) -> None:
        self.warmup_steps = min(self.warmup_steps, self.steps)  # a run shorter than the warm-up is all warm-up


# -- the corpus ------------------------------------------------------------------------------


def _obj(scene, j: int, rng: np.random.Generator, size: int | None = None) -> str:  # noqa: ANN001
    from i2vbench.datasets.synthvid.text import noun_phrase

    o = scene.objects[j]
    return noun_phrase("the", o.color, o.shape, size if size is not None and rng.random() < 0.3 else None)


def _pred(rng: np.random.Generator, motion: str) -> str:
    from i2vbench.datasets.synthvid.text import event_phrase

    return event_phrase(rng, motion)


def scene_questions(scene, rng: np.random.Generator) -> list[tuple[str, str]]:  # noqa: ANN001
    """(question, answer) pairs about one scene from the grammar, answerable from the scene."""
    from i2vbench.datasets.synthvid.text import position_phrase
    from i2vbench.datasets.synthvid.world import COLORS, MOTIONS, SHAPES, SIZES, region

    qa: list[tuple[str, str]] = []
    events = sorted(scene.events, key=lambda e: e.start)
    n = len(scene.objects)
    qa.append(("how many objects are there in the video?", f"{NUMBERS[min(n, 10)]}."))
    for k, e in enumerate(events):
        o = scene.objects[e.obj]
        qa.append((f"what does {_obj(scene, e.obj, rng, e.size)} do?", f"it {_pred(rng, e.motion)}."))
        if sum(scene.objects[x.obj].shape == o.shape and x.motion == e.motion for x in events) == 1:
            qa.append((f"what color is the {SHAPES[o.shape]} that {_pred(rng, e.motion)}?", f"{COLORS[o.color]}."))
        if sum(x.motion == e.motion for x in events) == 1:
            qa.append((f"what shape {_pred(rng, e.motion)}?", f"{SHAPES[o.shape]}."))
        third = min(2, int(3 * (e.start + e.end) / 2 / scene.duration))
        when = ("at the beginning", "in the middle", "at the end")[third]
        qa.append((f"when does {_obj(scene, e.obj, rng)} {BASE[e.motion]}?", f"{when}."))
        if k + 1 < len(events):
            nxt = events[k + 1]
            qa.append((f"which object {_pred(rng, nxt.motion)} after {_obj(scene, e.obj, rng)} "
                       f"{_pred(rng, e.motion)}?", f"{_obj(scene, nxt.obj, rng)}."))
            qa.append((f"what does {_obj(scene, e.obj, rng)} do before {_obj(scene, nxt.obj, rng)} "
                       f"{_pred(rng, nxt.motion)}?", f"it {_pred(rng, e.motion)}."))
    # yes / no, balanced: a motion the object does, and one it does not
    j = int(rng.integers(n))
    done = {e.motion for e in events if e.obj == j}
    if done:
        m = sorted(done)[int(rng.integers(len(done)))]
        qa.append((f"does {_obj(scene, j, rng)} {BASE[m]}?", "yes."))
        not_done = [m for m in MOTIONS if m not in done and m != "stay"]
        qa.append((f"does {_obj(scene, j, rng)} {BASE[not_done[int(rng.integers(len(not_done)))]]}?", "no."))
    col, row = region(scene.cx[0, j], scene.cy[0, j], scene.image_size)
    qa.append((f"where is {_obj(scene, j, rng)} at the start?", f"{position_phrase(int(col), int(row))}."))
    qa.append((f"what size is {_obj(scene, j, rng)} at the start?", f"{SIZES[scene.objects[j].size]}."))
    return qa


def scene_documents(scene, rng: np.random.Generator) -> list[str]:  # noqa: ANN001
    """Every document one scene gives (see the module docstring)."""
    from i2vbench.datasets.synthvid.msrvtt import MSRVTTConfig, caption
    from i2vbench.datasets.synthvid.text import event_sentence, object_caption
    from i2vbench.datasets.synthvid.world import region

    docs = []
    for e in scene.events:
        o = scene.objects[e.obj]
        docs.append(event_sentence(rng, e.motion, o.color, o.shape, e.size if rng.random() < 0.3 else None))
    events = sorted(scene.events, key=lambda e: e.start)
    cap_cfg = MSRVTTConfig()
    for _ in range(2):
        k = int(rng.integers(1, min(3, len(events)) + 1))
        i = int(rng.integers(len(events) - k + 1))
        docs.append(caption(rng, scene, events[i:i + k], cap_cfg))
    j = int(rng.integers(len(scene.objects)))
    o = scene.objects[j]
    col, row = region(scene.cx[0, j], scene.cy[0, j], scene.image_size)
    docs.append(f"there is {object_caption(o.color, o.shape, o.size, int(col), int(row))}.")
    qa = scene_questions(scene, rng)
    for i in rng.choice(len(qa), size=min(4, len(qa)), replace=False):
        docs.append(f"{qa[i][0]} <sep> {qa[i][1]}")
    return docs


def corpus(n_scenes: int, seed: int, split: int) -> list[str]:
    """Documents from ``n_scenes`` scenes of stream ``(seed, split)`` (0: train, 1: held out)."""
    from i2vbench.datasets.synthvid.world import sample_scene

    docs: list[str] = []
    for i in range(n_scenes):
        rng = np.random.default_rng([seed, split, i])
        docs.extend(scene_documents(sample_scene(rng), rng))
    return docs


def encode_corpus(model: TinyLM, docs: list[str]) -> list[list[int]]:
    """``<bos> text <eos>`` ids per document; a word outside the vocabulary is an error (the
    grammar and the vocabulary must agree)."""
    rows = [model.encode(d, bos=True, eos=True) for d in docs]
    bad = next((d for d, r in zip(docs, rows, strict=True) if model.tokenizer.unk_id in r), None)
    if bad is not None:
        raise BenchError(f"tinylm corpus: a document has words outside the vocabulary: {bad!r}")
    return rows


# -- training ---------------------------------------------------------------------------------


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, keep = [], []
    for name, p in model.named_parameters():
        (keep if p.ndim < 2 or "embedding" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate(model: TinyLM, rows: list[list[int]], batch: int = 256) -> dict[str, float]:
    """Per-document perplexity and next-word accuracy over every token after ``<bos>``, the
    same for answer tokens (after ``<sep>``) alone, and the perplexity of a uniform model."""
    was = model.training
    model.eval()
    nll = hits = n = a_nll = a_hits = a_n = 0.0
    for s in range(0, len(rows), batch):
        chunk = rows[s:s + batch]
        ids, mask = model.pad_batch(chunk)
        logp = model(model.embed_tokens(ids), mask).logits[:, :-1].float().log_softmax(-1)
        tgt, m = ids[:, 1:], mask[:, 1:]
        tok = -logp.gather(-1, tgt[:, :, None]).squeeze(-1)
        right = logp.argmax(-1) == tgt
        answer = (ids == model.sep_id).long().cumsum(1)[:, :-1].bool() & m
        nll += float(tok[m].sum())
        hits += float(right[m].sum())
        n += float(m.sum())
        a_nll += float(tok[answer].sum())
        a_hits += float(right[answer].sum())
        a_n += float(answer.sum())
    model.train(was)
    return {"heldout_perplexity": math.exp(nll / n), "heldout_next_word_acc": hits / n,
            "heldout_answer_perplexity": math.exp(a_nll / max(a_n, 1)),
            "heldout_answer_next_word_acc": a_hits / max(a_n, 1),
            "uniform_perplexity": float(model.vocab_size), "heldout_tokens": int(n)}


def unigram_perplexity(train_rows: list[list[int]], heldout_rows: list[list[int]], vocab: int) -> float:
    """Held-out perplexity of the add-one unigram model of the training tokens (a reference that
    knows word frequencies and no order)."""
    counts = Counter(t for r in train_rows for t in r[1:])
    total = sum(counts.values()) + vocab
    toks = [t for r in heldout_rows for t in r[1:]]
    return math.exp(-sum(math.log((counts[t] + 1) / total) for t in toks) / len(toks))


def pretrain(cfg: LMPretrainConfig, progress: bool = False,
             log: Callable[[str], None] = lambda s: None) -> tuple[TinyLM, dict]:
    """Train tinylm from scratch with ``cfg``; returns the model and its metrics. (No progress bar:
    ``progress`` is taken for ``bench pretrain``'s common signature; the loop logs its held-out
    loss instead.)"""
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model = TinyLM(TinyLMConfig(width=cfg.width, depth=cfg.depth, heads=cfg.heads,
                                context_length=cfg.context_length, n_time_tokens=cfg.n_time_tokens))
    train_docs = corpus(cfg.train_scenes, cfg.seed, 0)
    held_docs = corpus(cfg.heldout_scenes, cfg.seed, 1)
    train_rows, held_rows = encode_corpus(model, train_docs), encode_corpus(model, held_docs)
    stream = torch.tensor([t for r in train_rows for t in r], dtype=torch.long)
    L = cfg.context_length
    if len(stream) <= L + 1:
        raise BenchError(f"tinylm corpus of {len(stream)} tokens is shorter than one window of {L}")
    seen = set(train_docs)
    log(f"corpus: {len(train_docs)} train documents ({len(stream)} tokens), {len(held_docs)} held out "
        f"({sum(d in seen for d in held_docs) / len(held_docs):.0%} of them also occur in train)")
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
    model.train()
    history = []
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        gen = np.random.default_rng([cfg.seed, 2, step])
        starts = torch.from_numpy(gen.integers(0, len(stream) - L - 1, size=cfg.batch_size))
        win = stream[starts[:, None] + torch.arange(L + 1)]
        logits = model(model.embed_tokens(win[:, :-1])).logits
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), win[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % max(1, cfg.steps // 10) == 0 or step + 1 == cfg.steps:
            history.append({"step": step + 1, "loss": round(loss.item(), 4)})
            log(f"step {step + 1}/{cfg.steps} loss {loss.item():.3f}")
    train_s = time.perf_counter() - t0
    model.eval()
    metrics = evaluate(model, held_rows)
    # the grammar is small: most held-out documents also occur in train; these do not
    unseen = evaluate(model, [r for r, d in zip(held_rows, held_docs, strict=True) if d not in seen])
    metrics.update(heldout_unseen_perplexity=unseen["heldout_perplexity"],
                   heldout_unseen_next_word_acc=unseen["heldout_next_word_acc"])
    metrics.update(
        heldout_unigram_perplexity=unigram_perplexity(train_rows, held_rows, model.vocab_size),
        heldout_documents=len(held_docs), heldout_documents_seen_in_train=sum(d in seen for d in held_docs),
        train_documents=len(train_docs), train_tokens=int(len(stream)),
        tokens_seen=cfg.steps * cfg.batch_size * L, final_loss=loss.item(), steps=cfg.steps,
        parameters=sum(p.numel() for p in model.parameters()), vocab_size=model.vocab_size,
        wall_time_s=round(train_s, 1), history=history, config=asdict(cfg),
        torch=torch.__version__, machine=platform.machine())
    return model, metrics

"""One captioner trained as ``bench run --task captioning`` trains it (one seed), scored on **val**
during training and after it: where does it fail? Prints one JSON line per checkpoint: val CIDEr
(coco-caption's, the run's), twin-order, the % of captions in the pool's grammar and naming the
video's number of events, and, per event position, the % with the right colour, shape and
motion (``parse_caption`` reads each caption back into its events). docs/tasks/captioning.md
quotes these lines::

    python -m i2vbench.experiments.caption_val_curve qadapter --set '{"num_beams": 1}' --every 5 \\
        --decode '[{"num_beams": 3}, {"num_beams": 5}, {"num_beams": 8}]'

``--every K`` decodes val after every K epochs of the recipe's schedule (the cosine decay runs
over all of its epochs, so epoch 10 of a 30-epoch run is not a 10-epoch run); ``--decode``
decodes the trained model again with other decoding settings (no retraining). Val only: test
is never read. ``--record RUN_DIR`` trains nothing: it reads a captioning run record's
prediction files and prints the same diagnostics per method and split, averaged over seeds::

    python -m i2vbench.experiments.caption_val_curve --record results/runs/<id>
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from i2vbench.experiments import run_main
from i2vbench.io import read_json


def diagnose(captions: dict[str, str], events: dict[str, list], twins: list) -> dict[str, float]:
    """Grammar, number of events and colour / shape / motion per position of one split's captions."""
    from i2vbench.benchmarks.captioning import order_scores
    from i2vbench.datasets.synthvid.msrvtt import parse_caption

    parsed = {v: parse_caption(captions[v]) for v in events}
    right = np.zeros(3)
    named = 0
    for v, seq in events.items():
        for said, true in zip(parsed[v] or [], seq, strict=False):
            named += 1
            right += [a == b for a, b in zip(said, true, strict=True)]
    out = {"in_grammar": 100.0 * np.mean([p is not None for p in parsed.values()]),
           "right_count": 100.0 * np.mean([len(parsed[v] or []) == len(s) for v, s in events.items()]),
           "clauses": float(np.mean([len(p or []) for p in parsed.values()])),
           **dict(zip(("colour", "shape", "motion"), (100.0 * right / max(named, 1)).tolist(), strict=True))}
    out.update(order_scores(captions, events, twins))
    return {k: round(float(v), 2) for k, v in out.items()}


def val_nll(method: Any, split: Any, videos_per_batch: int = 16) -> tuple[float, list[float]]:
    """The method's teacher-forced caption loss on every reference of ``split`` (its ``loss`` in
    eval mode, the mean over batches of ``videos_per_batch`` videos) and the adapters' share
    (:func:`adapter_share`): an overfit shows here as a
    rising loss while the training loss falls; two seeds with equal loss and unequal CIDEr differ in
    what decoding picks, not in how well they model the references."""
    import torch

    from i2vbench.methods.captioning.base import make_batch

    method.eval()
    losses = []
    with torch.no_grad(), adapter_share(method) as share:
        for start in range(0, len(split), videos_per_batch):
            idx = np.arange(start, min(start + videos_per_batch, len(split)))
            b = make_batch(split, idx, True, method.uses_layers, method.uses_frames, None)
            losses.append(float(sum(method.loss(b).values())))
    return float(np.mean(losses)), share


@contextmanager
def adapter_share(method: Any) -> Iterator[list[float]]:
    """Yields a list that fills with ``‖adapter(x) − x‖ / ‖x‖`` of each Q-Adapter, the mean over
    the forward passes inside: how much the adapters change the tokens they are inserted after."""
    from i2vbench.methods.captioning.qadapter import QueryAdapter

    mods = [m for m in method.modules() if isinstance(m, QueryAdapter)]
    ratios: list[list[float]] = [[] for _ in mods]

    def hook(k: int) -> Any:
        def record(_mod: Any, args: tuple, out: Any) -> None:
            ratios[k].append(float((out - args[0]).detach().norm() / args[0].norm().clamp_min(1e-12)))
        return record

    handles = [m.register_forward_hook(hook(k)) for k, m in enumerate(mods)]
    share: list[float] = []
    try:
        yield share
    finally:
        for h in handles:
            h.remove()
        share.extend(round(float(np.mean(r)), 4) for r in ratios if r)


def record_diagnostics(run: Path, events: dict) -> None:
    """Print :func:`diagnose` of every method and split of a run record, the mean over its seeds."""
    record = read_json(run / "run.json", "run record")
    for r in record["records"]:
        if r["split"] not in events:
            continue
        per_seed = [diagnose({row["video_id"]: row["caption"] for row in read_json(run / s["predictions"], "predictions")},
                             *events[r["split"]]) for s in r["per_seed"]]
        mean = {k: round(float(np.mean([d[k] for d in per_seed])), 2) for k in per_seed[0]}
        print(json.dumps({"method": r["method_id"], "split": r["split"], "seeds": len(per_seed), **mean}))


def main(argv: list[str] | None = None) -> None:
    import torch
    from pycocoevalcap.cider.cider import Cider

    from i2vbench.benchmarks.captioning import CaptioningRunConfig, load_annotations, task_data
    from i2vbench.benchmarks.runner import seed_everything
    from i2vbench.methods.registry import get_method
    from i2vbench.metrics.captioning import tokenize

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("method", nargs="?")
    ap.add_argument("--record", help="a captioning run folder: diagnose its predictions instead of training")
    ap.add_argument("--set", default="{}", help="overrides of the method's config, as JSON")
    ap.add_argument("--every", type=int, default=0, help="decode val every K epochs (0: only at the end)")
    ap.add_argument("--decode", default="[]", help="JSON list of decoding settings to decode the trained model with")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    cfg = CaptioningRunConfig(threads=1)
    if args.record:
        record_diagnostics(Path(args.record), load_annotations(cfg, False)[1])
        return
    data, refs, _ = task_data(cfg, progress=False)
    _, events, *_ = load_annotations(cfg, False)
    val = data.eval_splits["val"]
    gts = tokenize(refs["val"])
    seed_everything(args.seed)
    method = get_method("captioning", args.method).build(data.provided, json.loads(args.set), data.dataset)
    epochs = method.train_config.epochs
    state: dict[str, Any] = {"epoch": 0, "t0": time.perf_counter()}

    def report(**extra: Any) -> None:
        was = method.training
        captions = dict(zip(val.videos, method.captions(val), strict=True))
        nll, share = val_nll(method, val)
        method.train(was)
        res = tokenize({v: [c] for v, c in captions.items()})
        cider = 100.0 * Cider().compute_score(gts, res)[0]
        # a method's tanh gates (Q-Adapter's) and how much its adapters change their tokens
        gates = [round(float(torch.tanh(p)), 3) for n, p in method.named_parameters() if n.endswith("gate")]
        print(json.dumps({"epoch": state["epoch"], **extra, "CIDEr": round(cider, 2), "val_nll": round(nll, 4),
                          **({"adapter_share": share} if share else {}), **({"gates": gates} if gates else {}),
                          **diagnose(captions, *events["val"]), "s": round(time.perf_counter() - state["t0"], 1)}),
              flush=True)

    order = method.epoch_order

    def epoch_order(train: Any, rng: np.random.Generator) -> np.ndarray:  # a checkpoint before each epoch
        if args.every and state["epoch"] and state["epoch"] % args.every == 0:
            report()
        state["epoch"] += 1
        return order(train, rng)

    method.epoch_order = epoch_order
    seed_everything(args.seed)
    method.fit(data.train, seed=args.seed, progress=False)
    state["epoch"] = epochs
    report()
    for setting in json.loads(args.decode):
        for key, value in setting.items():
            setattr(method.config, key, value)
        report(decode=setting)


if __name__ == "__main__":
    sys.exit(run_main(main))

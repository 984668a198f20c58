"""What a perfect model could reach on the SynthVid MSR-VTT pool, by what it can tell apart.

For each val / test video, the key a model of a given kind can know of it from the scene's event
list (:func:`~i2vbench.datasets.synthvid.msrvtt.event_sequence`); a query (the video's reference
caption) ties with every video of the split sharing its key, so a perfect model of that kind has
expected text-to-video R@1 = mean over videos of 1 / (videos with its key), ties broken at random:

- everything: the ordered events (colour, shape, motion);
- order-blind, direction-aware: the multiset of events;
- order- and direction-blind (mean pooling of stills that show the kind of change, not its
  direction): the multiset of (colour, shape, motion up to its opposite);
- objects: the set of (colour, shape) that take part in events;
- colours: the set of their colours; kinds: the set of motions up to their opposites.

Reads the default pool (built if missing)::

    python -m i2vbench.experiments.vtr_ceilings
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable

from i2vbench.datasets.synthvid.msrvtt import EventWords, build_msrvtt, event_sequence
from i2vbench.datasets.synthvid.world import OPPOSITE
from i2vbench.experiments import run_main


def _kind(motion: str) -> tuple[str, ...]:
    return tuple(sorted((motion, OPPOSITE[motion])))


KEYS: dict[str, Callable[[list[EventWords]], object]] = {
    "everything (ordered events)": tuple,
    "order-blind, direction-aware": lambda seq: tuple(sorted(Counter(seq).items())),
    "order- and direction-blind": lambda seq: tuple(sorted(Counter((c, s, _kind(m)) for c, s, m in seq).items())),
    "objects taking part": lambda seq: frozenset((c, s) for c, s, _ in seq),
    "their colours only": lambda seq: frozenset(c for c, _, _ in seq),
    "kinds of change only": lambda seq: frozenset(_kind(m) for _, _, m in seq),
}


def ceiling(sequences: list[list[EventWords]], key: Callable[[list[EventWords]], object]) -> float:
    """Expected R@1 (%) of a perfect model that knows ``key`` of each video and nothing else."""
    keys = [key(seq) for seq in sequences]
    count = Counter(keys)
    return 100 * sum(1 / count[k] for k in keys) / len(keys)


def main() -> None:
    pool = build_msrvtt()
    seqs = {split: [event_sequence(scene) for _, _, scene, _ in pool.scenes(split)] for split in ("val", "test")}
    print("| what a perfect model knows | val R@1 | test R@1 |\n|---|--:|--:|")
    for name, key in KEYS.items():
        print(f"| {name} | {ceiling(seqs['val'], key):.2f} | {ceiling(seqs['test'], key):.2f} |")


if __name__ == "__main__":
    sys.exit(run_main(main))

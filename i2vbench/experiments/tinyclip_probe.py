"""What the shipped ILFMs read from one still and from a task sentence, side by side.

Evaluates checkpoints on the held-out stills of the tinyclip recipe (the eval sets of
``PretrainConfig()``'s seed, so the v2 column equals ``metrics.json``) and prints the table of
``i2vbench/assets/tinyclip/README.md``::

    python -m i2vbench.experiments.tinyclip_probe [CHECKPOINT ...]
"""

from __future__ import annotations

import sys

from i2vbench.experiments import run_main
from i2vbench.methods.backbones.pretrain import EvalSet, PretrainConfig, evaluate, synthvid_frames

ROWS = (
    ("zero_shot_shape_acc", "zero-shot shape (8-way)"),
    ("zero_shot_color_acc", "zero-shot colour (8-way)"),
    ("caption_r1_among_256", "caption R@1 among 256"),
    ("zero_shot_kind_balanced_acc", "zero-shot kind of change (5-way, mean recall)"),
    ("zero_shot_direction_acc", "zero-shot direction within a kind (2-way)"),
    ("text_event_prototype_acc", "text: event type of a task sentence by nearest prototype (9-way)"),
    ("text_kind_prototype_acc", "text: kind of change of a task sentence by nearest prototype (5-way)"),
)


def main(argv: list[str]) -> None:
    import torch

    from i2vbench.methods.backbones.checkpoint import load_tinyclip
    from i2vbench.methods.backbones.pretrain import resolve_init

    torch.set_num_threads(2)
    names = argv or ["tinyclip-v1", "tinyclip"]
    data = EvalSet.build(PretrainConfig(), synthvid_frames)
    cols = {n: evaluate(load_tinyclip(resolve_init(n)), data) for n in names}
    print("| metric | " + " | ".join(names) + " |")
    print("|---|" + "--:|" * len(names))
    for key, label in ROWS:
        print(f"| {label} | " + " | ".join(f"{100 * cols[n][key]:.1f} %" for n in names) + " |")


if __name__ == "__main__":
    sys.exit(run_main(lambda: main(sys.argv[1:])))

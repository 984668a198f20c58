"""The embedded models ``bench pretrain`` trains, one registry entry each.

Each entry names its recipe dataclass, whose defaults *are* the shipped checkpoint's recipe (so
``bench pretrain --backbone NAME`` with no option remakes the shipped model), the command-line
options it takes (option → recipe field, in the order the recorded command writes them), and the
functions that train and save it. The command is then the same for every model: options given
on the line override the recipe, an option the model does not take is refused, the checkpoint is
written atomically, and its ``metrics.json`` records the full command that remakes it.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from i2vbench.registry import Registry


@dataclass(frozen=True)
class Pretrainable:
    name: str
    role: str  # what the model stands for in the suite, for --help and errors
    recipe: str  # "module:Class" of the recipe dataclass
    train: str  # "module:function": (recipe, progress=, log=) -> (model, metrics)
    save: str  # "module:function": (model, out_dir, metrics)
    options: dict[str, str]  # command-line option (its parameter name) -> recipe field
    summary: tuple[str, ...]  # metrics printed after training
    out_name: Callable[[Any], str]  # checkpoint folder under CACHE/backbones for a recipe
    # options that shape the run but not the weights: not written into the recorded command
    unrecorded: frozenset[str] = field(default_factory=frozenset)

    def recipe_class(self) -> type:
        return _resolve(self.recipe)

    def make_recipe(self, given: dict[str, Any], from_scratch: bool = False) -> Any:
        """The recipe with the options ``given`` (parameter name -> value) applied."""
        from i2vbench.errors import BenchError

        foreign = sorted(set(given) - set(self.options))
        if foreign:
            raise BenchError(f"bench pretrain --backbone {self.name} does not take {_flags(foreign)}; "
                             f"it takes {_flags(self.options)}" + (" --from-scratch" if "init" in self.options else ""))
        if from_scratch and "init" not in self.options:
            raise BenchError(f"bench pretrain --backbone {self.name} always starts from a random init; "
                             "--from-scratch applies to models that continue from a checkpoint")
        values = {self.options[k]: v for k, v in given.items()}
        if from_scratch:
            values["init"] = None
        return self.recipe_class()(**values)

    def command(self, recipe: Any) -> str:
        """The ``bench pretrain`` line that remakes ``recipe``: every recorded option written out."""
        parts = [f"bench pretrain --backbone {self.name}"]
        for option, name in self.options.items():
            value = getattr(recipe, name)
            if option in self.unrecorded or value is None:
                continue
            parts.append(f"{_flags([option])} {value:g}" if isinstance(value, float) else f"{_flags([option])} {value}")
        if "init" in self.options and recipe.init is None:
            parts.append("--from-scratch")
        return " ".join(parts)

    def pretrain(self, recipe: Any, progress: bool, log: Callable[[str], None]) -> tuple[Any, dict]:
        model, metrics = _resolve(self.train)(recipe, progress=progress, log=log)
        metrics["command"] = self.command(recipe)
        return model, metrics

    def save_to(self, model: Any, out_dir: Any, metrics: dict) -> None:
        _resolve(self.save)(model, out_dir, metrics)


def _resolve(ref: str) -> Any:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def _flags(options: Any) -> str:
    return " ".join("--" + o.replace("_", "-") for o in options)


def recipe_defaults(model: Pretrainable) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(model.recipe_class())}


PRETRAINABLE: Registry[Pretrainable] = Registry("pretrainable model")

_B = "i2vbench.methods.backbones"
for _model in (
    Pretrainable(
        "tinyclip", "the ILFM: image-text contrastive on SynthVid stills with alt-text",
        f"{_B}.pretrain:PretrainConfig", f"{_B}.pretrain:pretrain", f"{_B}.checkpoint:save_tinyclip",
        {"steps": "steps", "batch_size": "batch_size", "lr": "lr", "warmup": "warmup_steps", "seed": "seed",
         "eval_every": "eval_every", "eval_frames": "eval_frames", "partial": "partial",
         "single_object_fraction": "single_object_fraction", "event_focus": "event_focus",
         "stop_after": "stop_after", "snapshot_dir": "snapshot_dir", "init": "init"},
        ("zero_shot_shape_acc", "zero_shot_color_acc", "zero_shot_kind_balanced_acc", "caption_r1_among_256"),
        lambda r: f"tinyclip-s{r.seed}-n{r.steps}", unrecorded=frozenset({"snapshot_dir"})),
    Pretrainable(
        "tinylm", "the LLM role: next-token prediction on SynthVid text only",
        f"{_B}.lm_pretrain:LMPretrainConfig", f"{_B}.lm_pretrain:pretrain", f"{_B}.tinylm:save_tinylm",
        {"steps": "steps", "batch_size": "batch_size", "lr": "lr", "warmup": "warmup_steps", "seed": "seed"},
        ("heldout_perplexity", "heldout_unigram_perplexity", "heldout_next_word_acc"), lambda r: f"tinylm-s{r.seed}-n{r.steps}"),
    Pretrainable(
        "tinyground", "the MDETR / Grounding-DINO role: phrase-to-box on SynthVid stills",
        f"{_B}.pretrain_ground:GroundPretrainConfig", f"{_B}.pretrain_ground:pretrain_ground",
        f"{_B}.grounding:save_tinyground",
        {"steps": "steps", "batch_size": "batch_size", "lr": "lr", "warmup": "warmup_steps", "seed": "seed",
         "eval_every": "eval_every", "init": "init"},
        ("box_ap50", "box_ap50_base", "box_ap50_novel", "referring_acc"),
        lambda r: f"tinyground-s{r.seed}-n{r.steps}"),
    Pretrainable(
        "tinyvideo", "the extra video model: per-frame event labels on SynthVid clips",
        f"{_B}.tinyvideo_pretrain:VideoPretrainConfig", f"{_B}.tinyvideo_pretrain:pretrain_tinyvideo",
        f"{_B}.tinyvideo:save_tinyvideo",
        {"epochs": "epochs", "clips": "train_clips", "eval_clips": "eval_clips", "frames": "frames",
         "batch_size": "batch_size", "lr": "lr", "warmup": "warmup_steps", "seed": "seed"},
        ("frame_motion_acc", "frame_direction_acc", "clip_motion_acc"),
        lambda r: f"tinyvideo-s{r.seed}-e{r.epochs}"),
):
    PRETRAINABLE.add(_model.name, _model)

"""``bench pretrain``'s registry: every embedded model's shipped checkpoint is its recipe's
defaults, and the command recorded with it remakes that recipe."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict

import pytest

from i2vbench.methods.backbones.pretrainable import PRETRAINABLE, recipe_defaults
from i2vbench.paths import ASSETS


def _options(command: str) -> tuple[dict[str, str], bool]:
    """The options (parameter name -> value text) of a recorded ``bench pretrain`` line."""
    words = shlex.split(command)
    assert words[:4] == ["bench", "pretrain", "--backbone", words[3]]
    words, from_scratch = words[4:], "--from-scratch" in words
    words = [w for w in words if w != "--from-scratch"]
    assert len(words) % 2 == 0, command
    return {words[i][2:].replace("-", "_"): words[i + 1] for i in range(0, len(words), 2)}, from_scratch


@pytest.mark.parametrize("name", PRETRAINABLE.names())
def test_shipped_checkpoint_is_the_recipe_and_its_command_remakes_it(name):
    model = PRETRAINABLE.get(name)
    shipped = json.loads((ASSETS / name / "metrics.json").read_text())
    defaults = recipe_defaults(model)
    assert {k: shipped["config"][k] for k in defaults} == defaults
    given, from_scratch = _options(model.command(model.make_recipe({})))
    types = {k: type(defaults[f]) if defaults[f] is not None else str for k, f in model.options.items()}
    recipe = model.make_recipe({k: types[k](v) for k, v in given.items()}, from_scratch)
    assert asdict(recipe) == defaults


def test_options_a_model_does_not_take_are_refused(bench, tmp_path):
    code, _, err = bench("pretrain", "--backbone", "tinylm", "--partial", "0.5", "--out", str(tmp_path / "x"))
    assert code == 2 and "does not take --partial" in err and "--steps" in err
    code, _, err = bench("pretrain", "--backbone", "tinyvideo", "--from-scratch", "--out", str(tmp_path / "x"))
    assert code == 2 and "random init" in err
    assert not (tmp_path / "x").exists()


def test_warmup_never_outlasts_the_run():
    model = PRETRAINABLE.get("tinylm")
    assert model.make_recipe({"steps": 3}).warmup_steps == 3

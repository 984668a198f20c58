"""The method registry: a named method is a paradigm + a task head + a loss + a recipe.

Each method registers itself with the task it solves, the survey paradigm it belongs to, and
the table row it stands for, e.g.::

    @register_method("moment_detr", task="tvg", paradigm="post_network_tuning",
                     display="Moment-DETR", survey_row="MomentDETR", ref=47)
    class MomentDETR(TVGMethod): ...

A baseline that transfers nothing (the TVG window prior) registers with ``paradigm=None``: it
prints as "-", and its result records say paradigm "other" with a description.

Modules that define methods are listed in :data:`METHOD_MODULES` and imported on first lookup,
so ``import i2vbench`` stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from i2vbench.registry import Registry
from i2vbench.taxonomy import paradigm as _check_paradigm


@dataclass(frozen=True)
class MethodSpec:
    name: str
    task: str
    paradigm: str | None  # taxonomy id (see i2vbench.taxonomy); None for a baseline without transfer
    display: str
    survey_row: str | None  # the method as Table II/III prints it, if it stands for a row
    ref: int | None  # the survey's reference number
    paper: str | None  # title of the paper the method reimplements
    factory: Callable[..., Any]
    summary: str


METHODS: Registry[MethodSpec] = Registry("method")

METHOD_MODULES = (
    "i2vbench.methods.tvg",
)
_loaded = False


def load_all() -> Registry[MethodSpec]:
    global _loaded
    if not _loaded:
        for m in METHOD_MODULES:
            importlib.import_module(m)
        _loaded = True
    return METHODS


def register_method(
    name: str,
    *,
    task: str,
    paradigm: str | None,
    display: str,
    survey_row: str | None = None,
    ref: int | None = None,
    paper: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    if paradigm is not None:
        _check_paradigm(paradigm)

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        doc = (factory.__doc__ or "").strip().splitlines()
        METHODS.add(name, MethodSpec(name, task, paradigm, display, survey_row, ref, paper, factory,
                                     doc[0] if doc else ""))
        return factory

    return deco


def methods_for(task: str) -> list[MethodSpec]:
    return [s for _, s in load_all().items() if s.task == task]

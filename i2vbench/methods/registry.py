"""The method registry: a named method is a paradigm + a task head + a loss + a recipe.

Each method registers itself with the task it solves, the survey paradigm it belongs to, and
the table row it stands for, e.g.::

    @register_method("moment_detr", task="tvg", paradigm="post_network_tuning",
                     display="Moment-DETR", survey_row="MomentDETR", ref=47)
    class MomentDETR(TVGMethod): ...

Names are unique within a task, not across tasks: VTR and VideoQA may both have a
``clip4clip``. Every lookup (``bench list methods``, ``--methods``, a run config's
``overrides``) is within the run's task.

A baseline that transfers nothing (the TVG window prior) registers with ``paradigm=None``: it
prints as "-", and its result records say paradigm "other" with a description.

A run config's ``overrides: {<method>: {...}}`` reach every field of the method's
``config_class`` (architecture included) and, flat beside them, every field of its ``train``
:class:`~i2vbench.methods.trainable.TrainConfig`, e.g. ``{hidden: 64, enc_layers: 3, epochs: 1}``
(see :meth:`MethodSpec.make_config`). Unknown keys are refused. A config class may carry
``dataset_recipes: ClassVar[dict[str, dict]]``, the same kind of keys per dataset id, chosen on
that dataset's val; a run's overrides apply on top.

Modules that define methods are listed in :data:`METHOD_MODULES` and imported on first lookup,
so ``import i2vbench`` stays light.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from i2vbench.errors import BenchError
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

    @property
    def config_class(self) -> type | None:
        return getattr(self.factory, "config_class", None)

    @property
    def needs(self) -> frozenset[str]:
        """Inputs the method cannot run without (see ``i2vbench.datasets.features.INPUTS``)."""
        return getattr(self.factory, "needs", frozenset())

    @property
    def uses(self) -> frozenset[str]:
        return getattr(self.factory, "uses", frozenset())

    def override_keys(self) -> tuple[list[str], list[str]]:
        """(the config's own fields, the fields of its ``train`` recipe) an override may set."""
        cls = self.config_class
        if cls is None:
            return [], []
        own = [f.name for f in dataclasses.fields(cls) if f.name != "train"]
        if not any(f.name == "train" for f in dataclasses.fields(cls)):
            return own, []
        from i2vbench.methods.trainable import TrainConfig

        return own, [f.name for f in dataclasses.fields(TrainConfig)]

    def make_config(self, overrides: Mapping[str, Any] | None = None, dataset: str | None = None) -> Any:
        """The method's config: its defaults, then its recipe for ``dataset`` (the config class's
        ``dataset_recipes``, as papers train longer on SSv2 than on Kinetics), then ``overrides``;
        types checked.

        Flat keys: the config's own fields, and the fields of its ``train`` recipe beside them
        (the two never share a name; a method whose config did would be refused here).
        """
        cls = self.config_class
        recipe = getattr(cls, "dataset_recipes", {}).get(dataset, {}) if cls is not None else {}
        overrides = {**recipe, **(overrides or {})}
        if cls is None:
            if overrides:
                raise BenchError(f"overrides.{self.name}: method {self.name!r} has no settings to override")
            return None
        own, train = self.override_keys()
        clash = sorted(set(own) & set(train))
        if clash:
            raise BenchError(f"method {self.name!r}: config fields {clash} shadow train recipe fields")
        bad = sorted(set(overrides) - set(own) - set(train))
        if bad:
            raise BenchError(f"overrides.{self.name}: unknown keys {bad} for method {self.name!r} "
                             f"({self.task}); valid keys: {', '.join(own + train)}")
        base = cls()
        values = {f.name: getattr(base, f.name) for f in dataclasses.fields(cls)}
        values.update({k: v for k, v in overrides.items() if k in own})
        if train:
            values["train"] = {**dataclasses.asdict(base.train), **{k: v for k, v in overrides.items() if k in train}}
        from pydantic import TypeAdapter, ValidationError

        try:
            return TypeAdapter(cls).validate_python(values)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'][-1:]))}: {err['msg']}" for err in e.errors())
            raise BenchError(f"overrides.{self.name}: {problems}") from None

    def build(self, provided: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
              dataset: str | None = None) -> Any:
        """Construct the method, passing exactly the constructor parameters it names.

        ``provided`` maps parameter names to values, or to zero-argument callables wrapped in
        :class:`Lazy` (e.g. loading a backbone) that are called only if the method asks for them.
        ``config`` is always the method's config for ``dataset`` with ``overrides`` applied.
        """
        provided = {**provided, "config": self.make_config(overrides, dataset)}
        kwargs = {}
        for p in inspect.signature(self.factory).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise BenchError(f"method {self.name!r}: its constructor must name what it needs, "
                                 f"not take *{p.name}")
            if p.name in provided:
                v = provided[p.name]
                kwargs[p.name] = v() if isinstance(v, Lazy) else v
            elif p.default is p.empty:
                raise BenchError(f"method {self.name!r} needs {p.name!r}, which this run does not provide")
        return self.factory(**kwargs)


class Lazy:
    """A constructor argument computed only for the methods that ask for it."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def __call__(self) -> Any:
        return self.make()


_BY_TASK: dict[str, Registry[MethodSpec]] = {}

METHOD_MODULES = (
    "i2vbench.methods.tvg",
    "i2vbench.methods.var",
    "i2vbench.methods.vtr",
    "i2vbench.methods.videoqa",
    "i2vbench.methods.captioning",
    "i2vbench.methods.ovmot",
)
_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for m in METHOD_MODULES:
            importlib.import_module(m)


def all_methods() -> list[MethodSpec]:
    """Every registered method, task by task in registration order."""
    _load()
    return [spec for reg in _BY_TASK.values() for _, spec in reg.items()]


def methods_for(task: str) -> list[MethodSpec]:
    """The task's methods, in registration order (the order ``bench run`` lists them)."""
    _load()
    reg = _BY_TASK.get(task)
    return [spec for _, spec in reg.items()] if reg else []


def get_method(task: str, name: str) -> MethodSpec:
    """The task's method ``name``; an unknown name is an error listing the task's methods."""
    _load()
    return _BY_TASK.get(task, Registry(f"{task} method")).get(name)


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
    from i2vbench.datasets.features import check_inputs
    from i2vbench.tasks import TASKS

    TASKS.get(task)  # an unknown task is an error listing the known ones
    if paradigm is not None:
        _check_paradigm(paradigm)

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        doc = (factory.__doc__ or "").strip().splitlines()
        spec = MethodSpec(name, task, paradigm, display, survey_row, ref, paper, factory, doc[0] if doc else "")
        check_inputs(spec.needs | spec.uses, f"method {name!r}")
        _BY_TASK.setdefault(task, Registry(f"{task} method")).add(name, spec)
        return factory

    return deco

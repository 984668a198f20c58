"""The seven video-language tasks of the survey, with their datasets and table columns.

This is the single place that says which columns Tables II and III print for a task, which
dataset each column is measured on, and which metric key (as ``bench eval`` names it) fills it.
"""

from __future__ import annotations

from dataclasses import dataclass

from i2vbench.registry import Registry


@dataclass(frozen=True)
class Column:
    header: str  # as the survey prints it, without the arrow
    dataset: str  # dataset id the number is measured on
    metric: str  # metric key in `bench eval --json`
    higher_is_better: bool = True


@dataclass(frozen=True)
class TaskSpec:
    id: str
    label: str  # as the survey's tables print it
    title: str
    table: str  # "II" (fine-grained) or "III" (coarse-grained)
    datasets: tuple[str, ...]
    columns: tuple[Column, ...]
    main_column: str  # header of the column leaderboards rank by
    run_metrics: tuple[str, ...] = ()  # metric keys `bench run` prints beside the survey's columns

    def column(self, header: str) -> Column:
        for c in self.columns:
            if c.header == header:
                return c
        raise KeyError(header)


TASKS: Registry[TaskSpec] = Registry("task")


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task. The survey's seven are registered below; a plugin or a test may add its own
    (the runner, method and record code only ever look a task up here)."""
    TASKS.add(spec.id, spec)
    return spec


register_task(TaskSpec(
    "ovmot", "OV-MOT", "Open-vocabulary multi-object tracking", "II", ("tao",),
    tuple(Column(h, "tao", h) for h in ("TETA", "LocA", "AssocA", "ClsA")), "TETA",
    run_metrics=("base/TETA", "novel/TETA", "crossings/AssocA"),  # OVTrack's split; association where tracks cross
))
register_task(TaskSpec(
    "stvg", "STVG", "Spatio-temporal video grounding", "II", ("vidstg",),
    tuple(Column(h, "vidstg", f"declarative/{h}") for h in ("m_vIoU", "vIoU@0.3", "vIoU@0.5", "m_tIoU")),
    "m_vIoU",
))
register_task(TaskSpec(
    "tvg", "TVG", "Temporal video grounding", "II", ("charades-sta",),
    (
        Column("R@0.3", "charades-sta", "R1@0.3"),
        Column("R@0.5", "charades-sta", "R1@0.5"),
        Column("R@0.7", "charades-sta", "R1@0.7"),
        Column("m_IoU", "charades-sta", "mIoU"),
    ),
    "m_IoU",
))
register_task(TaskSpec(
    "vtr", "VTR", "Video-text retrieval", "III", ("msrvtt",),
    tuple(Column(h, "msrvtt", f"t2v/{h}") for h in ("R@1", "R@5", "R@10", "R@sum")),
    "R@1",
))
register_task(TaskSpec(
    "var", "VAR", "Video action recognition", "III", ("kinetics400", "ssv2"),
    (
        Column("K400 Top-1", "kinetics400", "Top-1"),
        Column("K400 Top-5", "kinetics400", "Top-5"),
        Column("SSv2 Top-1", "ssv2", "Top-1"),
        Column("SSv2 Top-5", "ssv2", "Top-5"),
    ),
    "K400 Top-1",
))
register_task(TaskSpec(
    "videoqa", "VideoQA", "Video question answering", "III", ("msrvtt-mc", "nextqa", "msvd-qa", "how2qa"),
    (
        Column("MSRVTT", "msrvtt-mc", "Acc"),
        Column("NEXt-QA", "nextqa", "Acc"),
        Column("MSVD-QA", "msvd-qa", "Acc"),
        Column("How2QA", "how2qa", "Acc"),
    ),
    "NEXt-QA",
))
register_task(TaskSpec(
    "captioning", "Captioning", "Video captioning", "III", ("msrvtt",),
    (
        Column("BLEU4", "msrvtt", "BLEU4"),
        Column("ROUGE-L", "msrvtt", "ROUGE-L"),
        Column("METEOR", "msrvtt", "METEOR"),
        Column("CIDEr", "msrvtt", "CIDEr"),
    ),
    "CIDEr",
))

"""What a run's records claim: a run on an ILFM without pretrained weights is not a reproduction."""

from __future__ import annotations

import pytest

from i2vbench.benchmarks.runner import (
    DatasetResult,
    MethodResult,
    RunResult,
    SeedResult,
    method_records,
)
from i2vbench.methods.registry import get_method
from i2vbench.results.schema import ResultRecord
from i2vbench.results.store import load_records
from i2vbench.results.tables import build_rows
from i2vbench.tasks import TASKS


def _records(ilfm: str) -> list[ResultRecord]:
    spec = get_method("vtr", "clip4clip_meanp")
    metrics = {"R@1": 10.0, "R@5": 30.0, "R@10": 40.0, "MdR": 12.0}
    seed = SeedResult(0, {"test": metrics}, {"test": []}, 1.0, 1.0)
    m = MethodResult("clip4clip_meanp", "CLIP4Clip", spec.paradigm, "CLIP4Clip", 1, 2, [seed])
    result = RunResult("vtr", ilfm, [DatasetResult("msrvtt", {}, [m], {})])
    return [ResultRecord(**r) for r in method_records(result, {"config": {"backbone": "open_clip:ViT-B-32"}})]


@pytest.mark.parametrize(("ilfm", "kind"), [("open_clip_ViT-B-32-random", "random-init"),
                                            ("open_clip_ViT-B-32-0123456789ab", "reproduced")])
def test_random_init_runs_are_their_own_kind_and_never_under_a_survey_row(ilfm, kind):
    recs = _records(ilfm)
    assert {r.kind for r in recs} == {kind}
    spec = TASKS.get("vtr")
    rows = build_rows(load_records("vtr") + recs, spec)
    i = next(i for i, row in enumerate(rows) if row.kind != "reported")
    under_clip4clip = rows[i - 1].kind == "reported" and rows[i - 1].ref == rows[i].ref
    assert under_clip4clip == (kind == "reproduced")
    if kind == "random-init":
        assert rows[i].label.startswith("CLIP4Clip") and "(random-init" in rows[i].label
        assert i == len(rows) - 1  # listed after the survey's rows

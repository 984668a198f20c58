"""``--device``: one code path; a device torch does not see is a clear error before any work."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from i2vbench.devices import autocast, current, resolve, to_device, use
from i2vbench.errors import BenchError


def test_cpu_is_the_default_and_use_scopes_it():
    assert current() == torch.device("cpu")
    with use("cpu") as dev:
        assert dev == current() == torch.device("cpu")
        assert autocast().fast_dtype == torch.bfloat16
    assert current() == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "mps"])
def test_gpu_devices_resolve_only_where_torch_sees_them(name):
    have = torch.cuda.is_available() if name.startswith("cuda") else torch.backends.mps.is_available()
    if have:
        assert resolve(name).startswith(name.split(":")[0])
    else:
        with pytest.raises(BenchError, match=f"--device {name}: this torch build"):
            resolve(name)


@pytest.mark.parametrize("name", ["tpu", "cpu:1", "cuda:x", ""])
def test_unknown_devices_are_refused(name):
    with pytest.raises(BenchError, match="--device"):
        resolve(name)


@dataclass
class _Batch:
    x: torch.Tensor
    rows: list
    names: tuple[str, ...]


def test_to_device_moves_every_tensor_and_nothing_else():
    b = _Batch(torch.ones(2), [torch.zeros(1), 3], ("a", "b"))
    assert to_device(b, torch.device("cpu")) is b  # the CPU path is the identity
    moved = to_device({"b": b, "n": 1}, torch.device("meta"))
    assert moved["b"].x.is_meta and moved["b"].rows[0].is_meta and moved["b"].rows[1] == 3
    assert moved["b"].names == ("a", "b") and moved["n"] == 1


def test_run_refuses_a_device_it_does_not_have_before_building_data(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("I2VBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = bench("run", "--task", "tvg", "--device", "cuda", "--out", str(tmp_path / "runs"), "--no-progress")
    assert code == 2 and "--device cuda: this torch build sees no CUDA device" in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()

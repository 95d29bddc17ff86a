"""The dataset runner on Ray Data (a local Ray of two CPUs, two model actors of half a CPU each, so
that Ray's read and write tasks keep a CPU): the same rows as the local run."""

from __future__ import annotations

import pytest
import ray
import torch

from explain.dataset import main
from explain.dataset.raydata import RUNTIME_ENV
from explain.dataset.table import read_rows
from tests.helpers import BUNDLED, example_folder, time_limit

pytestmark = pytest.mark.slow  # starts a Ray cluster
MAPS = "rollout,raw_attention:1,gradient_rollout,gradcam:stage3,layercam"


def test_the_ray_run_has_the_rows_of_the_local_run(tmp_path):
    expected = example_folder(tmp_path / "src")
    options = [str(tmp_path / "src"), "--model", str(BUNDLED), "--maps", MAPS, "--chunk", "5", "--view", "whole"]
    main([*options, "--out", str(tmp_path / "local")])
    ray.init(num_cpus=2, include_dashboard=False, runtime_env=RUNTIME_ENV)
    try:
        with time_limit(300):
            main([*options, "--out", str(tmp_path / "ray"), "--ray", "--actors", "2", "--actor-cpus", "0.5"])
    finally:
        ray.shutdown()
    local, on_ray = (read_rows(tmp_path / name).to_pylist() for name in ("local", "ray"))
    assert [r["path"] for r in on_ray] == [r["path"] for r in local] == sorted(expected)
    for got, want in zip(on_ray, local):
        assert {k: v for k, v in got.items() if k not in ("maps", "predictions", "target_probability")} == \
               {k: v for k, v in want.items() if k not in ("maps", "predictions", "target_probability")}
        if want["error"] is not None:
            assert expected[want["path"]] in want["error"] and got["maps"] is None
            continue
        assert [p["index"] for p in got["predictions"]] == [p["index"] for p in want["predictions"]]
        assert got["target_probability"] == pytest.approx(want["target_probability"], rel=1e-5)
        for g, w in zip(got["maps"], want["maps"], strict=True):
            assert {k: v for k, v in g.items() if k != "values"} == {k: v for k, v in w.items() if k != "values"}
            values = torch.tensor(w["values"])
            assert (torch.tensor(g["values"]) - values).abs().max() <= 1e-4 * values.abs().max()

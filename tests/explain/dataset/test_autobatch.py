"""The batch size chosen by timing: the decision with a fake clock and fake work (the order of the
passes, the faster per image wins, ties and too few images go to batch 1), and the dataset runner
with --batch-size auto on the small fixture model, whose rows equal those of --batch-size 1."""

from __future__ import annotations

import re

import numpy as np
import PIL.Image
import pytest
import torch

import explain.dataset.autobatch
from explain.dataset import main
from explain.dataset.autobatch import Choice, choose, decide
from explain.dataset.table import METRICS, read_rows
from tests.helpers import MODELS


class FakeDevice:
    """Work that moves a fake clock by `cost[n]` seconds per image at n images a pass (plus `first`
    seconds on its first pass, a warm-up), recording each pass's positions."""

    def __init__(self, cost: dict[int, float], first: float = 0.0) -> None:
        self.cost, self.first, self.now, self.passes = cost, first, 0.0, []

    def clock(self) -> float:
        return self.now

    def work(self, positions: list[int]) -> None:
        self.now += self.cost[len(positions)] * len(positions) + (self.first if not self.passes else 0.0)
        self.passes.append(positions)


def test_the_passes_alternate_one_and_b_taking_the_images_in_order():
    device = FakeDevice({1: 1.0, 4: 1.0})
    decide(device.work, 10, 4, device.clock)
    assert device.passes == [[0], [1, 2, 3, 4], [5], [6, 7, 8, 9]]


def test_too_few_images_for_the_passes_start_again_from_the_first_never_twice_in_one_pass():
    device = FakeDevice({1: 1.0, 3: 1.0})
    decide(device.work, 3, 16, device.clock)  # B is the images there are when fewer than the batch size
    assert device.passes == [[0], [1, 2, 0], [1], [2, 0, 1]]


@pytest.mark.parametrize(("cost", "chosen"), [({1: 1.0, 8: 0.5}, 8), ({1: 0.5, 8: 1.0}, 1), ({1: 0.75, 8: 0.75}, 1)])
def test_the_faster_per_image_wins_and_a_tie_goes_to_batch_one(cost, chosen):
    device = FakeDevice(cost)
    assert decide(device.work, 20, 8, device.clock) == Choice(chosen, cost)


def test_each_size_keeps_its_best_pass():
    device = FakeDevice({1: 0.5, 8: 0.75}, first=5.0)  # the first pass (at batch 1) pays a warm-up
    assert decide(device.work, 20, 8, device.clock) == Choice(1, {1: 0.5, 8: 0.75})
    assert choose({1: 2.0, 4: 1.5, 8: 1.5}) == 4


@pytest.mark.parametrize(("count", "batch_size"), [(0, 16), (1, 16), (5, 1)])
def test_fewer_than_two_images_a_pass_mean_batch_one_without_timing(count, batch_size):
    device = FakeDevice({})
    choice = decide(device.work, count, batch_size, device.clock)
    assert choice == Choice(1) and device.passes == []
    assert choice.describe() == "batch size auto: 1 (fewer than 2 images of one size to time)"


def test_the_choice_in_one_line():
    line = "batch size auto: 4 (seconds per image: 0.25 s at 1, 0.125 s at 4)"
    assert Choice(4, {1: 0.25, 4: 0.125}).describe() == line


# whole view: squares (4 in the first part file of 8), 3:2 and 2:3 inputs; each size batched apart
SIZES = [(64, 64), (80, 120), (64, 64), (120, 80), (80, 120), (64, 64), (70, 70), (120, 80),
         (64, 64), (80, 120), (120, 80), (70, 70)]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("source")
    rng = np.random.default_rng(3)
    for index, (height, width) in enumerate(SIZES):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        PIL.Image.fromarray(pixels).save(root / f"image-{index:02d}.png")
    return root


def run(source, out, *options: str) -> list[dict]:
    main([str(source), "--out", str(out), "--model", str(MODELS / "same_padding"), "--view", "whole", "--chunk", "8",
          "--faithfulness", "--steps", "2", *options])
    return read_rows(out).to_pylist()


@pytest.fixture(scope="module")
def one_at_a_time(source, tmp_path_factory) -> list[dict]:
    return run(source, tmp_path_factory.mktemp("one") / "out", "--batch-size", "1")


@pytest.mark.parametrize("kept", ["measured", "one", "batched"])
def test_auto_has_the_rows_of_batch_one_and_says_what_it_chose(source, one_at_a_time, tmp_path, capsys, monkeypatch,
                                                               kept):
    if kept != "measured":  # whichever size the timing keeps, the rows are the same
        monkeypatch.setattr(explain.dataset.autobatch, "choose", min if kept == "one" else max)
    rows = run(source, tmp_path / "out")  # auto is the default
    said = re.findall(r"batch size auto: (\d+) \(seconds per image: [\d.e-]+ s at 1, [\d.e-]+ s at 4\)",
                      capsys.readouterr().out)
    assert len(said) == 1 and said[0] in {"one": ["1"], "batched": ["4"]}.get(kept, ["1", "4"])
    assert [r["path"] for r in rows] == [r["path"] for r in one_at_a_time] == [f"image-{i:02d}.png" for i in range(12)]
    for got, want in zip(rows, one_at_a_time):
        assert {k: got[k] for k in ("original_size", "crop_box", "target_index", "error")} == \
               {k: want[k] for k in ("original_size", "crop_box", "target_index", "error")}
        assert [p["index"] for p in got["predictions"]] == [p["index"] for p in want["predictions"]]
        assert got["target_probability"] == pytest.approx(want["target_probability"], rel=1e-5)
        for g, w in zip(got["maps"], want["maps"], strict=True):
            assert g["name"] == w["name"] and g["grid"] == w["grid"]
            values = torch.tensor(w["values"])
            assert (torch.tensor(g["values"]) - values).abs().max() <= 1e-4 * values.abs().max()
            # the curves' passes at the chosen size; a map's own order can swap two pixels whose values
            # differ by 1e-7, so its curves are compared where no value is nearly tied (no ReLU zeros:
            # not the class-specific maps)
            class_specific = w["class_index"] is not None
            for name in ("random_deletion", "random_insertion") if class_specific else METRICS[:4]:
                assert g[name] == pytest.approx(w[name], abs=1e-5), name
    capsys.readouterr()
    run(source, tmp_path / "out", "--batch-size", "3")  # the manifest holds no batch size: a number resumes it
    assert "12 done before, 0 to explain" in capsys.readouterr().out


def test_a_first_group_with_nothing_to_time_leaves_the_choice_to_a_later_group(source):
    """A part file or Ray batch whose images failed, or a single image, times nothing: it runs one
    at a time and the next group with two images of one size decides (never stuck at 1)."""
    from explain.dataset.mapspec import PAGE_DEFAULTS, parse_maps
    from explain.dataset.rows import FileExplainer, Job
    from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor

    model = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")
    processor = ViTHybridImageProcessor(size=64, crop_size=64, image_mean=0.5, image_std=0.5)
    said = []
    explainer = FileExplainer(model, processor, Job(maps=tuple(parse_maps(PAGE_DEFAULTS, model.config))), said.append)
    (first,) = explainer([("image-00.png", source / "image-00.png")])
    assert first["path"] == "image-00.png" and "error" not in first and said == [] and explainer.batch_size is None
    rows = explainer([(f"image-{i:02d}.png", source / f"image-{i:02d}.png") for i in range(1, 4)])  # crop view: one size
    assert [r.get("error") for r in rows] == [None] * 3 and len(said) == 1 and explainer.batch_size in (1, 3)

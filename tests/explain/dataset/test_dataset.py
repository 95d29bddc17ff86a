"""The dataset runner (python -m explain.dataset) on real files with the bundled model: its rows
against `explain` on each image, undecodable files with `load_image`'s messages, labels from
folders, masks, metrics, overlays, and resuming (after a kill too) under one manifest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F

from explain import explain, explain_class
from explain.benchmark.scenes import CLASSES, make_scene
from explain.dataset import main
from explain.dataset.mapspec import MapSpec, parse_maps
from explain.dataset.table import done_paths, part_files, read_rows
from explain.draw.export import explanation_record
from explain.draw.overlay import overlay
from explain.measure.metrics import deletion_insertion
from tests.helpers import BUNDLED, EXAMPLES, ROOT, example_folder
from vit_hybrid.images import load_image

MAPS = "rollout,raw_attention:2,gradient_rollout,gradcam:stage1,layercam"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> tuple[Path, dict[str, str | None]]:
    """The example images and, in hostile/, the hostile corpus; key -> the refusal's message
    (None for a file that decodes)."""
    root = tmp_path_factory.mktemp("source")
    return root, example_folder(root)


@pytest.fixture(scope="module")
def run(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    main([str(source[0]), "--out", str(out), "--model", str(BUNDLED), "--maps", MAPS, "--chunk", "8", "--batch-size", "3"])
    return out


def by_path(out: Path) -> dict[str, dict]:
    rows = read_rows(out).to_pylist()
    assert len({r["path"] for r in rows}) == len(rows)  # every row once
    return {r["path"]: r for r in rows}


def test_one_row_per_file_and_the_undecodable_ones_with_their_messages(run, source):
    root, expected = source
    rows = by_path(run)
    assert set(rows) == set(expected)
    for key, message in expected.items():
        if message is None:
            assert rows[key]["error"] is None and len(rows[key]["maps"]) == 5, key
        else:
            assert message in rows[key]["error"] and rows[key]["maps"] is None, key


@pytest.mark.parametrize("key", ["chelsea.png", "rocket.jpg", "hostile/21-strip.png", "hostile/17-exif-rotated.jpg"])
def test_rows_hold_what_explain_gives_each_image_alone(run, source, bundled, key):
    model, processor = bundled
    row = by_path(run)[key]
    alone = explain(model, load_image(source[0] / key), processor, top_k=5, explained=1)
    record = explanation_record(alone)
    assert [p["index"] for p in row["predictions"]] == [p["index"] for p in record["predictions"]]
    assert [p["probability"] for p in row["predictions"]] == pytest.approx([p["probability"] for p in record["predictions"]], rel=1e-5)
    assert row["original_size"] == record["original_size"] and row["crop_box"] == pytest.approx(record["crop_box"])
    top = record["predictions"][0]
    assert (row["target_index"], row["target_label"]) == (top["index"], top["label"])
    assert row["true_index"] is None
    wanted = [("rollout:4", {"method": "rollout", "layer": 4, "fusion": "mean"}),
              ("raw_attention:2", {"method": "raw_attention", "layer": 2, "head": "mean"}),
              ("gradient_rollout", {"method": "gradient_rollout", "class_index": top["index"]}),
              ("gradcam:stage1", {"method": "gradcam", "stage": "stage1", "class_index": top["index"]}),
              ("layercam:stage2", {"method": "layercam", "stage": "stage2", "class_index": top["index"]})]
    assert [m["name"] for m in row["maps"]] == [name for name, _ in wanted]
    for got, (_, names) in zip(row["maps"], wanted):
        (want,) = [m for m in record["maps"] if all(m.get(k) == v for k, v in names.items())]
        assert {k: got[k] for k in want if k != "values"} == {k: v for k, v in want.items() if k != "values"}
        want_values = torch.tensor(want["values"])
        difference = (torch.tensor(got["values"]) - want_values).abs().max()
        assert difference <= 1e-4 * want_values.abs().max()


def test_a_rerun_does_no_model_work_and_other_options_are_refused(run, source, capsys):
    parts = {p: p.stat().st_mtime_ns for p in part_files(run)}
    main([str(source[0]), "--out", str(run), "--model", str(BUNDLED), "--maps", MAPS, "--batch-size", "7"])
    assert f"{len(source[1])} done before, 0 to explain" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in part_files(run)} == parts
    with pytest.raises(SystemExit, match=r"other settings \(view: 'crop' there, 'whole' now\).*same model and options"):
        main([str(source[0]), "--out", str(run), "--model", str(BUNDLED), "--maps", MAPS, "--view", "whole"])
    other = run.parent / "tiny-model"
    shutil.copytree(BUNDLED, other)
    with pytest.raises(SystemExit, match="model: "):
        main([str(source[0]), "--out", str(run), "--model", str(other), "--maps", MAPS])


def scene_folder(root: Path, masks: Path | None = None, count: int = 8) -> list:
    """Shape scenes in one folder per class (plus a folder named after no class), with masks."""
    scenes = []
    for index in range(count):
        scene = make_scene(9, index)
        folder = CLASSES[scene.label] if index != count - 1 else "not-a-shape"
        key = f"{folder.upper() if index == 0 else folder}/scene-{index}.png"
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        PIL.Image.fromarray(scene.image).save(root / key)
        if masks is not None:
            (masks / key).parent.mkdir(parents=True, exist_ok=True)
            PIL.Image.fromarray(scene.silhouette.astype(np.uint8) * 255).save(masks / key)
        scenes.append((key, scene))
    return scenes


def test_labels_from_folders_true_targets_masks_and_metrics(tmp_path, bundled, capsys):
    model, processor = bundled
    masks = tmp_path / "masks"
    scenes = scene_folder(tmp_path / "src", masks)
    (masks / scenes[0][0]).write_bytes(b"not a mask")  # a mask that does not decode, and one missing:
    (masks / scenes[1][0]).unlink()  # no pointing game or energy for those two images
    out = tmp_path / "out"
    main([str(tmp_path / "src"), "--out", str(out), "--model", str(BUNDLED), "--labels-from-folders", "--target", "true",
          "--maps", "rollout,gradcam", "--masks", str(masks), "--faithfulness", "--steps", "2", "--overlays"])
    assert "folder 'not-a-shape' names no class of the model" in capsys.readouterr().err
    rows = by_path(out)
    (key, _), *labelled = scenes[-1:] + scenes[:-1]
    assert "names no class of the model" in rows[key]["error"]
    for key, scene in labelled:
        row = rows[key]
        assert (row["true_index"], row["true_label"]) == (scene.label, CLASSES[scene.label])
        alone = explain_class(model, explain(model, scene.image, processor, top_k=1), scene.label)
        assert row["target_index"] == scene.label
        assert row["target_probability"] == pytest.approx(alone.classes[scene.label].probability, rel=1e-5)
        rollout, gradcam = row["maps"]
        assert gradcam["class_index"] == scene.label and rollout["class_index"] is None
        for record, values in ((rollout, alone.rollout["mean"][-1]), (gradcam, alone.classes[scene.label].gradcam["stage2"])):
            if key in (scenes[0][0], scenes[1][0]):
                assert record["energy_inside"] is None and record["pointing_game"] is None
            else:  # by hand: the crop is the whole 128 x 128 scene, so the map is upsampled over it
                upsampled = F.interpolate(values[None, None], size=(128, 128), mode="bilinear", align_corners=False)[0, 0]
                mask = torch.from_numpy(scene.silhouette)
                positive = upsampled.clamp(min=0)
                assert record["energy_inside"] == pytest.approx(float(positive[mask].sum() / positive.sum()), abs=1e-5)
                assert record["pointing_game"] == bool(mask.flatten()[upsampled.flatten().argmax()])
            curves = deletion_insertion(model, alone.pixel_values, values, scene.label, steps=2)
            for name in ("deletion", "insertion", "random_deletion", "random_insertion"):
                assert record[name] == pytest.approx(getattr(curves, name).area, abs=1e-5)
        drawn = np.asarray(PIL.Image.open(out / "overlays" / key / "gradcam-stage2.png"))
        want = overlay(scene.image, alone.classes[scene.label].gradcam["stage2"], alone.geometry)
        # maps equal to 1e-4 land at most one colormap step apart (256 steps), on a few pixels only
        difference = np.abs(drawn.astype(int) - want)
        assert drawn.shape == want.shape and difference.max() <= 3 and (difference.max(axis=-1) > 0).mean() < 0.01


def test_no_folder_naming_a_class_is_an_error(tmp_path):
    for folder in ("cats", "dogs"):
        (tmp_path / "src" / folder).mkdir(parents=True)
        shutil.copy(EXAMPLES / "coffee.jpg", tmp_path / "src" / folder / "a.jpg")
    with pytest.raises(SystemExit, match=r"none of the folders \(cats, dogs\) names a class of the model"):
        main([str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--model", str(BUNDLED), "--labels-from-folders"])


def test_a_list_file_names_images_relative_to_itself(tmp_path):
    (tmp_path / "lists").mkdir()
    shutil.copy(EXAMPLES / "coffee.jpg", tmp_path / "coffee.jpg")
    shutil.copy(EXAMPLES / "scene-star.png", tmp_path / "lists" / "star.png")
    listing = tmp_path / "lists" / "images.txt"
    listing.write_text(f"# two images\nstar.png\n\n../coffee.jpg\n{EXAMPLES / 'camera.png'}\nmissing.png\n")
    main([str(listing), "--out", str(tmp_path / "out"), "--model", str(BUNDLED), "--maps", "rollout"])
    rows = by_path(tmp_path / "out")
    outside = {(tmp_path / "coffee.jpg").as_posix(), (EXAMPLES / "camera.png").as_posix()}  # keys outside: absolute
    assert set(rows) == {"star.png", "missing.png", *outside}
    assert rows["star.png"]["predictions"][0]["label"] == "star"
    assert "could not be read" in rows["missing.png"]["error"]


def test_map_names_are_checked_against_the_model(bundled):
    config = bundled[0].config
    assert parse_maps("rollout, gradcam:stage3,rollout:4", config) == [MapSpec("rollout", layer=4), MapSpec("gradcam", stage="stage3")]
    assert MapSpec.parse("raw_attention", config).name == "raw_attention:4"
    for text, message in [("gradcam:stage9", "comes a stage, one of stage1, stage2, stage3"), ("rollout:0", "a layer from 1 to 4"),
                          ("saliency", "unknown map 'saliency'"), ("gradient_rollout:2", "takes no layer or stage"), ("", "no map named")]:
        with pytest.raises(ValueError, match=message):
            parse_maps(text, config)


def test_a_part_file_cut_short_is_removed_and_its_images_redone(tmp_path):
    main([str(EXAMPLES), "--out", str(tmp_path), "--model", str(BUNDLED), "--maps", "rollout", "--chunk", "4"])
    cut, *whole = part_files(tmp_path)
    kept = set(read_rows(tmp_path).column("path").to_pylist()) - set(pq.read_table(cut).column("path").to_pylist())
    cut.write_bytes(cut.read_bytes()[:200])
    done, notes = done_paths(tmp_path)
    assert len(notes) == 1 and "incomplete part file" in notes[0] and not cut.exists()
    assert done == kept and part_files(tmp_path) == whole


@pytest.mark.slow
def test_a_run_killed_midway_and_restarted_has_every_row_once(source, tmp_path):
    root, expected = source
    out = tmp_path / "out"
    command = [sys.executable, "-m", "explain.dataset", str(root), "--out", str(out), "--model", str(BUNDLED),
               "--chunk", "2", "--faithfulness", "--steps", "4"]  # slow enough to be caught midway
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(part_files(out)) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert 3 <= len(read_rows(out)) < len(expected)
    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    assert "done before" in rerun.stdout
    rows = read_rows(out).column("path").to_pylist()
    assert sorted(rows) == sorted(expected) and len(rows) == len(set(rows))
    assert json.loads((out / "manifest.json").read_text())["faithfulness_steps"] == 4


def test_a_run_inside_its_source_folder_does_not_explain_its_own_overlays(tmp_path, capsys):
    shutil.copytree(EXAMPLES, tmp_path / "src")
    command = [str(tmp_path / "src"), "--out", str(tmp_path / "src" / "run"), "--model", str(BUNDLED), "--maps", "rollout",
               "--overlays"]
    main(command)
    assert sum(p.is_file() for p in (tmp_path / "src" / "run" / "overlays").rglob("*.png")) == 9
    capsys.readouterr()
    main(command)
    assert "9 done before, 0 to explain" in capsys.readouterr().out

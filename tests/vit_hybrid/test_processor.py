"""ViTHybridImageProcessor against outputs recorded from transformers (tests/fixtures/processor_reference.npz)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import FIXTURES  # noqa: E402
from vit_hybrid import transforms
from vit_hybrid.geometry import CropGeometry
from vit_hybrid.hub import CheckpointError
from vit_hybrid.processor import BatchFeature, ViTHybridImageProcessor
from vit_hybrid.resample import resize_window

_spec = importlib.util.spec_from_file_location("make_processor_fixtures", FIXTURES / "make_processor_fixtures.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def reference():
    with np.load(fixtures.OUTPUT) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def manifest(reference):
    return json.loads(str(reference["manifest"]))


def test_fixtures_are_current(manifest):
    assert manifest["cases"] == json.loads(json.dumps(fixtures.CASES)), (
        "CASES changed since the fixtures were made: rerun make_processor_fixtures.py in the reference venv"
    )
    assert manifest["method_cases"] == json.loads(json.dumps(fixtures.METHOD_CASES)), "METHOD_CASES changed: rerun it"
    checksums = {name: fixtures.image_checksum(image) for name, image in fixtures.load_images().items()}
    assert checksums == manifest["checksums"], (
        "the decoded photos or their variants differ from the ones the reference saw (Pillow version?)"
    )


@pytest.mark.parametrize("name", list(fixtures.CASES))
def test_matches_reference(name, reference, manifest):
    case = fixtures.CASES[name]
    processor = ViTHybridImageProcessor(**case["init"])
    pixel_values = processor(fixtures.make_input(case["images"]), **case["call"])["pixel_values"]

    expected = manifest["outputs"][name]
    kinds = {"list": list, "np": np.ndarray, "pt": torch.Tensor}
    assert isinstance(pixel_values, kinds[expected["kind"]])
    ours = {"list": lambda: list(pixel_values), "np": lambda: [pixel_values], "pt": lambda: [pixel_values.numpy()]}[
        expected["kind"]
    ]()
    assert [str(a.dtype) for a in ours] == expected["dtypes"]
    for i, array in enumerate(ours):
        want = reference[f"{name}/{i}/values"][reference[f"{name}/{i}/index"]]
        assert array.shape == want.shape
        difference = np.abs(array.astype(np.float64) - want.astype(np.float64)).max()
        assert difference <= TOLERANCE, f"{name}[{i}]: max abs difference {difference}"


@pytest.mark.parametrize("name", list(fixtures.METHOD_CASES))
def test_single_steps_match_reference(name, reference, manifest):
    """resize, center_crop, rescale and normalize, as transformers' image processors offer them."""
    ours = fixtures.run_method(ViTHybridImageProcessor(), fixtures.METHOD_CASES[name])
    want = fixtures.decode(reference, f"{name}/0")
    assert isinstance(ours, np.ndarray) and [str(ours.dtype)] == manifest["outputs"][name]["dtypes"]
    assert ours.shape == want.shape
    assert np.abs(ours.astype(np.float64) - want.astype(np.float64)).max() <= TOLERANCE, name


@pytest.mark.parametrize("which, init", [("default", {}), ("hub", fixtures.HUB_CONFIG)])
def test_config_dict_matches_reference(which, init, manifest):
    assert ViTHybridImageProcessor(**init).to_dict() == manifest["configs"][which]


def test_hub_config_saves_in_hub_form(tmp_path):
    ViTHybridImageProcessor.from_dict(fixtures.HUB_CONFIG).save_pretrained(tmp_path)
    assert json.loads((tmp_path / "preprocessor_config.json").read_text()) == fixtures.HUB_CONFIG


def test_save_and_load_round_trip(tmp_path):
    config = {**fixtures.HUB_CONFIG, "resample": 2, "processor_class": "ViTHybridProcessor", "custom": {"a": [1, 2]}}
    processor = ViTHybridImageProcessor.from_dict(config)
    written = processor.save_pretrained(tmp_path / "saved")
    assert written == [str(tmp_path / "saved" / "preprocessor_config.json")]  # a list of paths, as in transformers
    path = Path(written[0])
    assert json.loads(path.read_text()) == config

    for source in (tmp_path / "saved", path):
        loaded = ViTHybridImageProcessor.from_pretrained(source)
        assert loaded.to_dict() == processor.to_dict() == config
        assert loaded.to_json_string() == processor.to_json_string()
    image = fixtures.load_images()["rocket"]
    np.testing.assert_array_equal(
        loaded(image, return_tensors="np").pixel_values, processor(image).pixel_values[0][None]
    )

    overridden = ViTHybridImageProcessor.from_pretrained(tmp_path / "saved", crop_size=32)
    assert overridden.crop_size == {"height": 32, "width": 32}


def test_from_pretrained_hub_id_from_the_local_cache(tmp_path):
    """A Hub id resolves through huggingface_hub's own cache (offline, nothing mocked)."""
    repo = tmp_path / "models--google--vit-hybrid-base-bit-384"
    ViTHybridImageProcessor.from_dict(fixtures.HUB_CONFIG).save_pretrained(repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    loaded = ViTHybridImageProcessor.from_pretrained(
        "google/vit-hybrid-base-bit-384", cache_dir=tmp_path, local_files_only=True
    )
    assert loaded.to_dict() == fixtures.HUB_CONFIG


def test_from_pretrained_folder_without_config(tmp_path):
    with pytest.raises(CheckpointError, match="has no preprocessor_config.json"):
        ViTHybridImageProcessor.from_pretrained(tmp_path)


# --------------------------------------------------------------------------- windowed resize


def _full_resize_window(image, size, box, resample):
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    full = np.asarray(pil.resize(size[::-1], resample)).reshape(size[0], size[1], -1)
    left, top, right, bottom = box
    return full[top:bottom, left:right]


def _random_image(rng, height, width, channels):
    """Smooth rows with noise, so that filters see both gradients and edges."""
    steps = rng.integers(-24, 25, size=(height, width, channels))
    return np.clip(np.cumsum(steps, axis=1) + 128, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("resample", list(Image.Resampling))
def test_resize_window_equals_full_resize_then_crop(resample):
    rng = np.random.default_rng(int(resample))
    for trial in range(250):
        large = trial % 25 == 0
        height, width = (int(v) for v in rng.integers(1, 400 if large else 50, size=2))
        size = tuple(int(v) for v in rng.integers(1, 300 if large else 150, size=2))
        image = _random_image(rng, height, width, int(rng.choice([1, 3])))
        top, left = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
        box = (left, top, int(rng.integers(left + 1, size[1] + 1)), int(rng.integers(top + 1, size[0] + 1)))
        expected = _full_resize_window(image, size, box, resample)
        np.testing.assert_array_equal(
            resize_window(image, size, box, resample), expected, err_msg=f"{(height, width)} -> {size}, box {box}"
        )


@pytest.mark.parametrize("resample", list(Image.Resampling))
@pytest.mark.parametrize("shape", [(8, 1200, 3), (1500, 5, 3), (3, 900, 1)])
def test_strip_crop_window_equals_full_resize(resample, shape):
    image = _random_image(np.random.default_rng(1), *shape)
    geometry = ViTHybridImageProcessor(size=96, crop_size=64).crop_geometry(shape[:2])
    expected = _full_resize_window(image, geometry.resized_size, geometry.crop_box, resample)
    np.testing.assert_array_equal(resize_window(image, geometry.resized_size, geometry.crop_box, resample), expected)


def test_crop_first_path_equals_full_path(monkeypatch):
    processor = ViTHybridImageProcessor(**fixtures.HUB_CONFIG)
    images = fixtures.load_images()
    strips = [images["strip_10000x8"].crop((0, 0, 1500, 8)), images["strip_8x10000"].crop((0, 0, 8, 1100))]
    windowed = processor(strips, return_tensors="np").pixel_values
    monkeypatch.setattr(transforms, "_CROP_FIRST_MIN_RATIO", float("inf"))
    np.testing.assert_array_equal(processor(strips, return_tensors="np").pixel_values, windowed)


# --------------------------------------------------------------------------- memory on strips

_MEMORY_PROBE = r"""
import json, sys, tracemalloc
import numpy as np
from PIL import Image

sys.path.insert(0, sys.argv[1])
from vit_hybrid import processor, transforms
width, height, crop_first = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
if not crop_first:
    transforms._CROP_FIRST_MIN_RATIO = float("inf")

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
strip = Image.fromarray(pixels)
hub = processor.ViTHybridImageProcessor(size=384, crop_size=384, image_mean=0.5, image_std=0.5)
hub(Image.fromarray(pixels[:8, :8]))  # warm up lazy imports and caches
try:
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak-RSS counter
except OSError:
    pass
peak_before = status("VmHWM")  # the current RSS when the reset worked
tracemalloc.start()
out = hub(strip, return_tensors="np")["pixel_values"]
traced_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({
    "shape": list(out.shape),
    "traced_peak": traced_peak,
    "rss_growth": status("VmHWM") - peak_before,
}))
"""

MB = 1 << 20


def _probe_memory(width: int, height: int, crop_first: bool = True) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(Path(transforms.__file__).parents[1]), str(width), str(height), str(int(crop_first))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("width, height", [(10000, 8), (10000, 2), (8, 10000)])
def test_strip_uses_little_memory(width, height):
    """The reference resizes these to 480000x384 (10000x8, 0.55 GB as uint8) or 1920000x384 (2.2 GB)."""
    usage = _probe_memory(width, height)
    assert usage["shape"] == [1, 3, 384, 384]
    assert usage["traced_peak"] < 8 * MB, usage  # numpy allocations: ~6 MB, mostly the 384x384 output
    assert usage["rss_growth"] < 24 * MB, usage  # everything, Pillow's buffers included: ~3 MB


def test_memory_probe_sees_a_full_resize():
    """Control: resizing a 2000x8 strip whole (96000x384) must blow the bounds used above."""
    usage = _probe_memory(2000, 8, crop_first=False)
    assert usage["traced_peak"] > 100 * MB and usage["rss_growth"] > 100 * MB, usage


# --------------------------------------------------------------------------- crop geometry


def test_crop_geometry_hand_computed():
    geometry = ViTHybridImageProcessor().crop_geometry((300, 451))
    # shortest edge 300 -> 224, long edge int(224 * 451 / 300) = 336; crop 224 starts at (336 - 224) // 2
    assert geometry == CropGeometry(
        original_size=(300, 451),
        resized_size=(224, 336),
        crop_box=(56, 0, 280, 224),
        original_box=(56 * 451 / 336, 0.0, 280 * 451 / 336, 300.0),
        padding=(0, 0, 0, 0),
    )
    assert geometry.output_size == (224, 224)


def test_crop_geometry_with_padding():
    processor = ViTHybridImageProcessor(size={"height": 5, "width": 9}, crop_size={"height": 8, "width": 4})
    geometry = processor.crop_geometry((10, 20))
    # rows: (5 - 8) // 2 = -2, so 2 zero rows above and 1 below; columns: (9 - 4) // 2 = 2
    assert geometry.resized_size == (5, 9)
    assert geometry.crop_box == (2, -2, 6, 6)
    assert geometry.padding == (0, 2, 0, 1)
    assert geometry.visible_box == (2, 0, 6, 5)
    assert geometry.original_box == pytest.approx((40 / 9, -4.0, 120 / 9, 12.0))
    assert geometry.output_size == (8, 4)


def test_crop_geometry_without_resize_or_crop():
    processor = ViTHybridImageProcessor(do_resize=False, crop_size=4)
    # rows: (3 - 4) // 2 = -1, one zero row on top; columns: (10 - 4) // 2 = 3
    assert processor.crop_geometry((3, 10)).crop_box == (3, -1, 7, 3)
    assert processor.crop_geometry((3, 10)).padding == (0, 1, 0, 0)
    whole = processor.crop_geometry((3, 10), do_center_crop=False)
    assert whole.crop_box == (0, 0, 10, 3) and whole.original_box == (0.0, 0.0, 10.0, 3.0)


@pytest.mark.parametrize(
    "image_size, settings",
    [
        ((37, 23), {"do_resize": False, "crop_size": {"height": 40, "width": 11}}),
        ((30, 500), {"size": 20, "crop_size": {"height": 25, "width": 33}}),
        ((9, 7), {"size": {"height": 4, "width": 15}, "crop_size": 9}),
    ],
)
def test_crop_geometry_matches_preprocess(image_size, settings):
    processor = ViTHybridImageProcessor(**settings, do_rescale=False, do_normalize=False)
    geometry = processor.crop_geometry(image_size)
    image = np.full((*image_size, 3), 200, dtype=np.uint8)
    out = processor(image, data_format="channels_last").pixel_values[0]
    assert out.shape[:2] == geometry.output_size
    left, top, right, bottom = geometry.padding
    inside = np.zeros(out.shape[:2], dtype=bool)
    inside[top : out.shape[0] - bottom, left : out.shape[1] - right] = True
    assert (out[inside] == 200).all() and (out[~inside] == 0).all()


def test_crop_geometry_of_unresized_crop_picks_those_pixels():
    image = np.arange(37 * 23 * 3, dtype=np.float64).reshape(37, 23, 3) % 251
    processor = ViTHybridImageProcessor(
        do_resize=False, crop_size={"height": 20, "width": 10}, do_rescale=False, do_normalize=False
    )
    left, top, right, bottom = processor.crop_geometry((37, 23)).crop_box
    out = processor(image, data_format="channels_last").pixel_values[0]
    np.testing.assert_array_equal(out, image[top:bottom, left:right])


# --------------------------------------------------------------------------- outputs and errors


def test_batch_feature_access_and_to():
    out = ViTHybridImageProcessor(size=40, crop_size=32)(fixtures.load_images()["coffee"], return_tensors="pt")
    assert isinstance(out, BatchFeature) and out.pixel_values is out["pixel_values"]
    assert out.to(torch.float64).pixel_values.dtype == torch.float64
    with pytest.raises(AttributeError):
        _ = out.missing


@pytest.mark.parametrize(
    "images, kwargs, error, match",
    [
        ("photo.jpg", {}, TypeError, "PIL image, a numpy array"),
        ([np.zeros((8, 8, 3), np.uint8), "x"], {}, TypeError, "Each image must be"),
        (None, {}, TypeError, "images must be"),
        ([], {}, ValueError, "empty"),
        (np.zeros((8, 8), np.uint8), {}, ValueError, "3 dimensions"),
        (np.zeros((2, 2, 8, 8, 3), np.uint8), {}, ValueError, "3 dimensions"),
        (np.zeros((8, 8, 4), np.uint8), {}, ValueError, "channel axis"),
        (np.zeros((8, 8, 4), np.uint8), {"input_data_format": "channels_last"}, ValueError, "image_mean has 3 values"),
        (np.zeros((8, 8, 2), np.uint8), {"input_data_format": "channels_last"}, ValueError, "1 or 3 channels"),
        (np.zeros((8, 8, 3), np.uint8), {"input_data_format": "hwc"}, ValueError, "input_data_format"),
        (Image.new("RGBA", (8, 8)), {"do_convert_rgb": False}, ValueError, "do_convert_rgb=True"),
        (np.full((8, 8, 3), 1.5), {}, ValueError, r"\[0, 1\]"),
        (np.full((8, 8, 3), 300.0), {}, ValueError, r"\[0, 255\]"),
        (np.zeros((8, 8, 1), np.uint8), {}, ValueError, "image_mean has 3 values but the image has 1 channel"),
        (np.zeros((8, 8, 3), np.uint8), {"size": {"longest_edge": 8}}, ValueError, "size must have the keys"),
        (np.zeros((8, 8, 3), np.uint8), {"crop_size": {"shortest_edge": 8}}, ValueError, "crop_size must have"),
        (np.zeros((8, 8, 3), np.uint8), {"size": {"height": 0, "width": 8}}, ValueError, "positive integers"),
        (np.zeros((8, 8, 3), np.uint8), {"size": "large"}, TypeError, "size must be a dict"),
        (np.zeros((8, 8, 3), np.uint8), {"return_tensors": "tf"}, ValueError, "return_tensors must be"),
        (np.zeros((8, 8, 3), np.uint8), {"data_format": "hwc"}, ValueError, "data_format must be"),
        (np.zeros((8, 8, 3), np.uint8), {"resample": 42}, ValueError, "42"),
        (
            [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 12, 3), np.uint8)],
            {"do_center_crop": False, "return_tensors": "np"},
            ValueError,
            "different shapes",
        ),
    ],
)
def test_bad_input_errors(images, kwargs, error, match):
    with pytest.raises(error, match=match):
        ViTHybridImageProcessor(size=8, crop_size=8)(images, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": {"shortest_edge": 8, "longest_edge": 9}}, "size must have the keys"),
        ({"crop_size": (8, -1)}, "positive integers"),
        ({"size": 2.5}, "size must be a dict"),
    ],
)
def test_bad_config_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ViTHybridImageProcessor(**kwargs)

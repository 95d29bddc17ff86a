"""Starting the app: the README's Space front matter, and the default model found in the Hub cache."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest
import yaml

from explorer.server import offline_env, running_app
from explorer.store import DEFAULT_MODEL
from tests.helpers import EXAMPLES, MODELS, ROOT, make_hub_cache


def test_readme_front_matter_names_the_pinned_gradio_and_an_existing_app_file():
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    pinned = re.search(r"^gradio(?:\[[\w,]+\])?==([^\s#]+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE).group(1)
    assert meta["sdk"] == "gradio" and str(meta["sdk_version"]) == pinned
    assert (ROOT / meta["app_file"]).is_file() and meta["title"]


@pytest.mark.slow
def test_default_model_in_the_hub_cache_is_served_offline(tmp_path):
    """With google/vit-hybrid-base-bit-384 in the cache (here a tiny stand-in) and no network,
    the app serves it, with no fallback."""
    gradio_client = pytest.importorskip("gradio_client")
    make_hub_cache(tmp_path / "hub", DEFAULT_MODEL, MODELS / "same_padding")
    log = tmp_path / "app.log"
    with running_app([], offline_env(tmp_path / "hub", HF_HUB_OFFLINE="1"), log) as url:
        client = gradio_client.Client(url, verbose=False)
        record = client.predict(gradio_client.handle_file(str(EXAMPLES / "coffee.jpg")), DEFAULT_MODEL, "crop", api_name="/explain")
    assert record["model"] == DEFAULT_MODEL
    assert sorted(p["label"] for p in record["predictions"]) == [f"LABEL_{i}" for i in range(5)]  # the stand-in's
    text = log.read_text()
    assert "bundled" not in text
    assert text.index("Warmed up in") < text.index("Running on local URL")  # paid before the page answers


@pytest.mark.parametrize("python", ["3.10.13", "3.11.7", "3.13.0"])
@pytest.mark.parametrize("requirements", ["requirements.txt", "tests/requirements.txt"])
def test_every_package_has_one_exact_pin_on_each_python(requirements, python):
    """The Space's Python (the front matter's, ZeroGPU's 3.10.13) and newer ones each get exactly one
    exact pin per package; a pin that needs a newer Python carries a marker saying so."""
    from packaging.requirements import Requirement

    environment = {"python_version": ".".join(python.split(".")[:2]), "python_full_version": python}
    pins: dict[str, list[str]] = {}
    for line in (ROOT / requirements).read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins.setdefault(requirement.name, []).append(specifier.version)
    assert pins and all(len(versions) == 1 for versions in pins.values()), pins
    if python.startswith("3.10"):
        assert pins.get("numpy", ["2.2.6"]) == ["2.2.6"] and pins.get("matplotlib", ["3.10.9"]) == ["3.10.9"]


def test_the_front_matter_names_zero_gpus_python():
    meta = yaml.safe_load((ROOT / "README.md").read_text().split("---\n")[1])
    assert str(meta["python_version"]) == "3.10.13"


def test_gradio_is_pinned_at_a_release_with_the_file_route_fixes():
    """CVE-2023-51449 (4.11), CVE-2024-1561 (4.13), CVE-2026-28414 (6.7) and the FileExplorer
    traversal (6.16) are fixed in the pinned release, which is the one installed."""
    import gradio

    pinned = re.search(r"^gradio(?:\[[\w,]+\])?==([^\s#]+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE).group(1)
    assert tuple(int(n) for n in pinned.split(".")) >= (6, 16, 0)
    assert gradio.__version__ == pinned


BOMB_CHECK = """
import sys, warnings
import PIL.Image
if sys.argv[2] == "app":
    import explorer.upload  # what app.py imports to read uploads
warnings.simplefilter("ignore")  # Pillow warns between its limit and twice it
try:
    PIL.Image.open(sys.argv[1])
    print("opened")
except PIL.Image.DecompressionBombError:
    print("refused")
"""


def test_the_app_tightens_pillows_bomb_guard_to_its_own_limit(tmp_path):
    """A 9000 x 9000 PNG (81 megapixels: over twice our 40-megapixel limit, under twice Pillow's
    own 89) is refused by Pillow itself in the app's process, and opened by plain Pillow."""
    from vit_hybrid.images import MAX_PIXELS

    bomb = tmp_path / "bomb.png"
    PIL.Image.new("1", (9000, 9000)).save(bomb)
    assert 2 * MAX_PIXELS < 9000 * 9000 < 2 * 89_478_485  # Pillow's own default limit
    opened = {}
    for mode in ("app", "plain"):
        run = subprocess.run([sys.executable, "-c", BOMB_CHECK, str(bomb), mode], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
        opened[mode] = run.stdout.strip()
    assert opened == {"app": "refused", "plain": "opened"}


def test_a_pasted_data_url_reaches_our_loader_undecoded():
    import base64

    from gradio.data_classes import ImageData

    from explorer.downloads import DOWNLOADS
    from explorer.upload import ImageUpload

    data = (EXAMPLES / "coffee.jpg").read_bytes()
    url = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    path = ImageUpload(type="filepath").preprocess(ImageData(url=url))
    assert Path(path).read_bytes() == data and Path(path).parent == DOWNLOADS
    text = "data:image/png;base64," + base64.b64encode(b"not a picture").decode()
    assert Path(ImageUpload(type="filepath").preprocess(ImageData(url=text))).read_bytes() == b"not a picture"

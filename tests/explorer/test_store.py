"""Which models the app serves: the allowed list, the loaded few, the default and its fallback."""

from __future__ import annotations

import json
import shutil
import time

import huggingface_hub
import pytest

from explorer.store import DEFAULT_MODEL, ModelLoadError, ModelStore, choose_default, hub_cached
from tests.helpers import BUNDLED, MODELS, make_hub_cache

TINY = MODELS / "same_padding"


def test_only_allowed_names_load_and_at_most_capacity_stay_loaded():
    store = ModelStore({"tiny": str(TINY), "bundled": str(BUNDLED)}, capacity=1)
    with pytest.raises(ModelLoadError, match="not one of the models this app serves"):
        store.get(str(TINY))
    tiny = store.get("tiny")
    assert store.get("tiny") is tiny  # loaded once, shared
    assert not any(p.requires_grad for p in tiny.model.parameters()) and not tiny.model.training
    store.get("bundled")
    assert store.loaded() == ["bundled"]
    assert store.get("tiny") is not tiny  # dropped, then loaded again


def test_allow_any_accepts_a_folder_and_a_broken_one_says_why(tmp_path):
    broken = shutil.copytree(TINY, tmp_path / "broken")
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "hidden_size": 10**9}))
    store = ModelStore({"tiny": str(TINY)}, allow_any=True)
    assert store.get(str(TINY)).model.config.num_labels == 5
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        store.get(str(broken))
    assert store.loaded() == [str(TINY)]


def test_offline_default_falls_back_to_the_bundled_model_at_once(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    start = time.monotonic()
    source, note = choose_default(BUNDLED)
    assert source == str(BUNDLED) and "cannot be reached" in note and DEFAULT_MODEL in note
    assert time.monotonic() - start < 5  # "within a few seconds": no 23 s of retries


def test_a_cached_default_is_used_and_loads_without_the_network(monkeypatch, tmp_path):
    make_hub_cache(tmp_path, DEFAULT_MODEL, TINY)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert hub_cached(DEFAULT_MODEL)
    assert choose_default(BUNDLED) == (DEFAULT_MODEL, None)
    served = ModelStore({DEFAULT_MODEL: DEFAULT_MODEL}).get(DEFAULT_MODEL)
    assert served.model.config.num_labels == 5

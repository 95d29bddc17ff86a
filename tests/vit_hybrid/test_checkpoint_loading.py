"""Checkpoint loading and configs: the Hub architecture, transformers' loading rules, safe refusals."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.helpers import FIXTURES, MODELS, make_hub_cache, reference_io
from vit_hybrid import ConfigError, ViTHybridConfig, ViTHybridForImageClassification, ViTHybridModel
from vit_hybrid.hub import CheckpointError

CASE = MODELS / "same_padding"


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    """A writable copy of the reference-saved classification checkpoint."""
    return Path(shutil.copytree(CASE, tmp_path / "ckpt"))


def warnings_of(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


@pytest.mark.parametrize("cls", [ViTHybridForImageClassification, ViTHybridModel])
def test_state_dict_has_exactly_the_hub_checkpoint_keys_and_shapes(cls):
    recorded = json.loads((FIXTURES / "hub_architecture.json").read_text())
    config = ViTHybridConfig.from_dict(recorded["config"])
    assert config.image_size == 384 and config.num_labels == 1000 and config.backbone_config.depths == [3, 4, 9]
    with torch.device("meta"):
        model = cls(config)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == recorded["shapes"][cls.__name__]


def test_loading_the_reference_checkpoint_reports_nothing(caplog):
    ViTHybridForImageClassification.from_pretrained(CASE)
    assert warnings_of(caplog) == ""


def test_base_model_from_classification_checkpoint(caplog):
    base = ViTHybridModel.from_pretrained(CASE)
    message = warnings_of(caplog)
    assert "newly initialised (not in the checkpoint): pooler.dense.bias, pooler.dense.weight" in message
    assert "not used (not in this model): classifier.bias, classifier.weight" in message
    full = ViTHybridForImageClassification.from_pretrained(CASE)
    x = reference_io("same_padding")["pixel_values"]
    with torch.no_grad():
        torch.testing.assert_close(base(x).last_hidden_state, full.vit(x).last_hidden_state, atol=0, rtol=0)


def test_classifier_from_base_checkpoint_gets_a_new_head(caplog):
    clf = ViTHybridForImageClassification.from_pretrained(MODELS / "masked_base")
    message = warnings_of(caplog)
    assert "newly initialised (not in the checkpoint): classifier.bias, classifier.weight" in message
    assert "not used (not in this model): vit.embeddings.mask_token, vit.pooler.dense.bias, vit.pooler.dense.weight" in message
    base = ViTHybridModel.from_pretrained(MODELS / "masked_base", use_mask_token=True)
    x = reference_io("masked_base")["pixel_values"]
    with torch.no_grad():
        torch.testing.assert_close(clf.vit(x).last_hidden_state, base(x).last_hidden_state, atol=0, rtol=0)


def test_mismatched_sizes_fail_unless_ignored(caplog):
    with pytest.raises(CheckpointError, match=r"classifier.weight: checkpoint \(5, 48\) vs model \(3, 48\)"):
        ViTHybridForImageClassification.from_pretrained(CASE, num_labels=3)
    model = ViTHybridForImageClassification.from_pretrained(CASE, num_labels=3, ignore_mismatched_sizes=True)
    assert "re-initialised (shape mismatch): classifier.bias, classifier.weight" in warnings_of(caplog)
    assert model(torch.randn(1, 3, 64, 64)).logits.shape == (1, 3)


def test_corrupted_weights_are_a_clear_error(ckpt):
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted or not a checkpoint"):
        ViTHybridForImageClassification.from_pretrained(ckpt)


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_pickle_with_code_is_refused_without_running_it(ckpt, tmp_path):
    marker = tmp_path / "pwned"
    state = load_file(ckpt / "model.safetensors")
    state["payload"] = _Payload(str(marker))
    (ckpt / "model.safetensors").unlink()
    torch.save(state, ckpt / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="holds more than plain tensors"):
        ViTHybridForImageClassification.from_pretrained(ckpt)
    assert not marker.exists()


def test_trust_remote_code_is_refused(ckpt):
    with pytest.raises(CheckpointError, match="trust_remote_code is not supported"):
        ViTHybridForImageClassification.from_pretrained(ckpt, trust_remote_code=True)
    assert ViTHybridForImageClassification.from_pretrained(ckpt, trust_remote_code=False).config.num_labels == 5


def test_missing_weights_and_missing_config(ckpt, tmp_path):
    (ckpt / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="has no model.safetensors or pytorch_model.bin"):
        ViTHybridForImageClassification.from_pretrained(ckpt)
    with pytest.raises(CheckpointError, match="has no config.json"):
        ViTHybridForImageClassification.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="is not a folder"):
        ViTHybridForImageClassification.from_pretrained(tmp_path / "nowhere")


def test_unrelated_and_non_float_weights_are_refused(ckpt):
    save_file({"encoder.weight": torch.ones(3)}, ckpt / "model.safetensors")
    with pytest.raises(CheckpointError, match="shares no weights"):
        ViTHybridForImageClassification.from_pretrained(ckpt)
    save_file({"classifier.bias": torch.ones(5, dtype=torch.int64)}, ckpt / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"non-float dtype: classifier.bias \(torch.int64\)"):
        ViTHybridForImageClassification.from_pretrained(ckpt)


@pytest.mark.parametrize("safe", [True, False])
def test_save_then_load_is_exact(tmp_path, safe, caplog):
    model = ViTHybridForImageClassification.from_pretrained(CASE)
    model.config.extra["my_note"] = {"kept": True}
    model.save_pretrained(tmp_path, safe_serialization=safe)
    assert (tmp_path / ("model.safetensors" if safe else "pytorch_model.bin")).exists()
    again = ViTHybridForImageClassification.from_pretrained(tmp_path)
    assert warnings_of(caplog) == ""
    assert again.config == model.config and again.config.extra["my_note"] == {"kept": True}
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["architectures"] == ["ViTHybridForImageClassification"] and saved["model_type"] == "vit-hybrid"
    assert saved["id2label"]["0"] == "LABEL_0" and saved["label2id"]["LABEL_4"] == 4


def test_hub_ids_resolve_through_the_local_cache(tmp_path):
    """A Hub id found in huggingface_hub's cache loads offline; an uncached one fails clearly."""
    make_hub_cache(tmp_path, "someone/tiny-hybrid", CASE)
    model = ViTHybridForImageClassification.from_pretrained("someone/tiny-hybrid", cache_dir=tmp_path, local_files_only=True)
    assert model.config.num_labels == 5
    with pytest.raises(CheckpointError, match="not in the local Hub cache"):
        ViTHybridForImageClassification.from_pretrained("someone/other", cache_dir=tmp_path, local_files_only=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hidden_size": 50}, r"hidden_size \(50\) must be divisible by num_attention_heads \(4\)"),
        ({"hidden_size": 10**9}, r"hidden_size must be between 1 and 65536, got 1000000000"),
        ({"hidden_size": "48"}, r"hidden_size must be an integer, got '48' \(str\)"),
        ({"num_hidden_layers": 1000, "intermediate_size": 65536, "hidden_size": 8192}, r"asks for about"),
        ({"hidden_act": "tanh"}, r"hidden_act must be one of"),
        ({"backbone_featmap_shape": [1, 95, 4, 4]}, r"backbone_featmap_shape\[1\]=95 but the backbone's stage3 has 96"),
        ({"backbone_config": {"layer_type": "preactivation"}}, r"only 'bottleneck' BiT blocks"),
        ({"layer_norm_eps": float("nan")}, r"layer_norm_eps must be a finite number"),
    ],
)
def test_impossible_configs_fail_before_allocation(ckpt, change, message):
    data = json.loads((ckpt / "config.json").read_text())
    data.update(change)
    (ckpt / "config.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message):
        ViTHybridForImageClassification.from_pretrained(ckpt)


def test_config_json_that_is_not_json(ckpt):
    (ckpt / "config.json").write_text("<html>not a config</html>")
    with pytest.raises(ConfigError, match="is not a valid JSON config"):
        ViTHybridForImageClassification.from_pretrained(ckpt)


def test_config_defaults_and_labels():
    config = ViTHybridConfig()
    assert config.backbone_config.layer_type == "bottleneck" and config.backbone_config.global_padding == "SAME"
    assert config.num_labels == 2 and config.token_grid == (24, 24)
    config = ViTHybridConfig(id2label={"0": "cat", "1": "dog"})
    assert config.label2id == {"cat": 0, "dog": 1}
    assert ViTHybridConfig.from_dict(json.loads(config.to_json_string())) == config

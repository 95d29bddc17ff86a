"""The parts of transformers' API that code written for its ViTHybrid classes reaches for, on ours:
model utilities, gradient checkpointing, from_pretrained's options, config files, mapping outputs,
TorchScript and torch.export. Numbers are checked against the reference's recorded fixtures or
against our own eager model where the API only changes how the same model is run."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from explain import explain
from tests.helpers import BUNDLED, MODELS, load_photo, reference_io
from vit_hybrid import (
    BitConfig,
    ConfigError,
    ImageClassifierOutput,
    ViTHybridConfig,
    ViTHybridForImageClassification,
    ViTHybridImageProcessor,
    ViTHybridModel,
)
from vit_hybrid.hub import CheckpointError

CASE = MODELS / "same_padding"  # a classification checkpoint saved by transformers 4.46.3
MODELS_BOTH = [ViTHybridForImageClassification, ViTHybridModel]


def pixels() -> torch.Tensor:
    return reference_io("same_padding")["pixel_values"]


# --------------------------------------------------------------------------- model utilities


def test_num_parameters_counts_what_the_reference_checkpoint_holds():
    recorded = json.loads((MODELS.parent / "hub_architecture.json").read_text())["shapes"]
    config = ViTHybridConfig.from_dict(json.loads((MODELS.parent / "hub_architecture.json").read_text())["config"])
    for cls in MODELS_BOTH:
        with torch.device("meta"):
            model = cls(config)
        expected = sum(torch.Size(shape).numel() for shape in recorded[cls.__name__].values())
        assert model.num_parameters() == model.num_parameters(exclude_embeddings=True) == expected
    model = ViTHybridForImageClassification.from_pretrained(CASE)
    model.vit.embeddings.patch_embeddings.backbone.requires_grad_(False)
    frozen = sum(p.numel() for p in model.vit.embeddings.patch_embeddings.backbone.parameters())
    assert model.num_parameters(only_trainable=True) == model.num_parameters() - frozen > 0


def test_embeddings_and_base_model_are_where_transformers_has_them():
    clf = ViTHybridForImageClassification.from_pretrained(CASE)
    assert clf.base_model is clf.vit and clf.vit.base_model is clf.vit
    assert clf.get_input_embeddings() is clf.vit.embeddings.patch_embeddings is clf.vit.get_input_embeddings()
    assert clf.get_output_embeddings() is None
    assert clf.supports_gradient_checkpointing and not clf.is_gradient_checkpointing


# --------------------------------------------------------------------------- gradient checkpointing


def loss_and_saved_bytes(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The loss, and the bytes autograd keeps for the backward pass while computing it."""
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(x, labels=labels, output_attentions=True, output_hidden_states=True).loss
    return loss, saved


@pytest.mark.parametrize("reentrant", [False, True])
def test_gradient_checkpointing_gives_the_same_loss_and_gradients_and_keeps_less(reentrant):
    plain = ViTHybridForImageClassification.from_pretrained(CASE).double().train()
    checkpointed = ViTHybridForImageClassification.from_pretrained(CASE).double().train()
    checkpointed.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
    assert checkpointed.is_gradient_checkpointing
    x, labels = pixels().double(), torch.tensor([1, 3])
    results = []
    for model in (plain, checkpointed):
        loss, saved = loss_and_saved_bytes(model, x, labels)
        loss.backward()
        results.append((loss, saved, {name: p.grad for name, p in model.named_parameters()}))
    (loss, saved, grads), (loss_c, saved_c, grads_c) = results
    torch.testing.assert_close(loss_c, loss, atol=1e-6, rtol=0)
    assert grads_c.keys() == grads.keys() and all(g is not None for g in grads.values())
    for name in grads:
        torch.testing.assert_close(grads_c[name], grads[name], atol=1e-6, rtol=0, msg=name)
    assert saved_c < 0.5 * saved, (saved_c, saved)  # only each layer's and block's input is kept

    checkpointed.gradient_checkpointing_disable()
    assert not checkpointed.is_gradient_checkpointing
    assert loss_and_saved_bytes(checkpointed, x, labels)[1] == saved


def test_checkpointing_acts_in_training_only_and_explanations_are_unchanged():
    processor = ViTHybridImageProcessor.from_pretrained(BUNDLED)
    photo = load_photo("scene-star.png")
    model = ViTHybridForImageClassification.from_pretrained(BUNDLED)
    before = explain(model, photo, processor)
    model.gradient_checkpointing_enable()
    x, labels = processor(photo, return_tensors="pt").pixel_values, torch.tensor([0])
    assert not model.training
    eval_saved = loss_and_saved_bytes(model, x, labels)[1]
    model.gradient_checkpointing_disable()
    assert loss_and_saved_bytes(model, x, labels)[1] == eval_saved  # eval: nothing checkpointed
    model.gradient_checkpointing_enable()
    after = explain(model, photo, processor)
    assert [(p.index, p.probability) for p in after.predictions] == [(p.index, p.probability) for p in before.predictions]
    torch.testing.assert_close(after.maps, before.maps, atol=0, rtol=0)
    torch.testing.assert_close({i: c.maps for i, c in after.classes.items()},
                               {i: c.maps for i, c in before.classes.items()}, atol=0, rtol=0)


# --------------------------------------------------------------------------- from_pretrained


def test_output_loading_info_reports_what_transformers_reports(tmp_path):
    model, info = ViTHybridForImageClassification.from_pretrained(MODELS / "masked_base", output_loading_info=True)
    assert isinstance(model, ViTHybridForImageClassification)
    assert info == {"missing_keys": ["classifier.bias", "classifier.weight"],
                    "unexpected_keys": ["vit.embeddings.mask_token", "vit.pooler.dense.bias", "vit.pooler.dense.weight"],
                    "mismatched_keys": [], "error_msgs": []}
    _, info = ViTHybridForImageClassification.from_pretrained(
        CASE, num_labels=3, ignore_mismatched_sizes=True, output_loading_info=True
    )
    assert info["mismatched_keys"] == [("classifier.bias", (5,), (3,)), ("classifier.weight", (5, 48), (3, 48))]
    assert info["missing_keys"] == info["unexpected_keys"] == []


def test_use_safetensors_chooses_the_weights_file(tmp_path):
    first = ViTHybridForImageClassification.from_pretrained(CASE)
    second = ViTHybridForImageClassification(first.config)  # other (random) weights
    first.save_pretrained(tmp_path)
    second.save_pretrained(tmp_path, safe_serialization=False)  # both files in one folder
    x = pixels()
    with torch.no_grad():
        expected = {True: first(x).logits, None: first(x).logits, False: second(x).logits}
        for choice, logits in expected.items():
            loaded = ViTHybridForImageClassification.from_pretrained(tmp_path, use_safetensors=choice)
            torch.testing.assert_close(loaded(x).logits, logits, atol=0, rtol=0)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        ViTHybridForImageClassification.from_pretrained(tmp_path, use_safetensors=True)


def test_attn_implementation_eager_computes_the_probabilities_and_others_are_refused():
    x = pixels()
    sdpa = ViTHybridModel.from_pretrained(CASE, attn_implementation="sdpa")
    eager = ViTHybridModel.from_pretrained(CASE, attn_implementation="eager")
    assert (sdpa.config._attn_implementation, eager.config._attn_implementation) == ("sdpa", "eager")
    with torch.no_grad():
        explicit = sdpa(x, output_attentions=True).last_hidden_state  # the path that computes the probabilities
        torch.testing.assert_close(eager(x).last_hidden_state, explicit, atol=0, rtol=0)
        logits = ViTHybridForImageClassification.from_pretrained(CASE, attn_implementation="eager")(x).logits
        torch.testing.assert_close(logits, reference_io("same_padding")["logits"], atol=1e-5, rtol=1e-4)
    assert "attn_implementation" not in eager.config.to_json_string()
    with pytest.raises(ConfigError, match="attn_implementation must be one of"):
        ViTHybridForImageClassification.from_pretrained(CASE, attn_implementation="flash_attention_2")


def test_state_dict_replaces_the_file_and_the_name_may_then_be_none():
    donor = ViTHybridForImageClassification(ViTHybridConfig.from_pretrained(CASE))
    x = pixels()
    from_folder = ViTHybridForImageClassification.from_pretrained(CASE, state_dict=donor.state_dict())
    from_none = ViTHybridModel.from_pretrained(None, config=donor.config, state_dict=donor.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(from_folder(x).logits, donor.eval()(x).logits, atol=0, rtol=0)
        torch.testing.assert_close(from_none(x).last_hidden_state, donor.vit(x).last_hidden_state, atol=0, rtol=0)
    with pytest.raises(CheckpointError, match="needs both config= and state_dict="):
        ViTHybridModel.from_pretrained(None, config=donor.config)


def test_a_keyword_that_is_no_option_nor_config_field_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument.*low_cpu_mem_usage"):
        ViTHybridForImageClassification.from_pretrained(CASE, low_cpu_mem_usage=True)
    assert ViTHybridForImageClassification.from_pretrained(CASE, hidden_dropout_prob=0.1).config.hidden_dropout_prob == 0.1


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize("case", ["same_padding", "pytorch_padding", "regression", "masked_base"])
def test_a_config_saved_by_transformers_saves_back_unchanged(case, tmp_path):
    config = ViTHybridConfig.from_pretrained(MODELS / case)
    assert config.save_pretrained(tmp_path) is None
    assert json.loads((tmp_path / "config.json").read_text()) == json.loads((MODELS / case / "config.json").read_text())


def test_common_attributes_are_attributes_and_written_only_when_they_differ(tmp_path):
    config = ViTHybridConfig.from_pretrained(CASE)
    assert config.architectures == ["ViTHybridForImageClassification"] and "architectures" not in config.extra
    assert (config.is_encoder_decoder, config.torchscript, config.tie_word_embeddings) == (False, False, True)
    written = json.loads(ViTHybridConfig().to_json_string())
    assert not {"torchscript", "is_encoder_decoder", "tie_word_embeddings", "return_dict"} & set(written)
    config.torchscript, config.tie_word_embeddings = True, False
    config.to_json_file(tmp_path / "c.json")
    again = ViTHybridConfig.from_json_file(tmp_path / "c.json")
    assert (again.torchscript, again.tie_word_embeddings) == (True, False) and again == config


def test_attributes_set_on_a_config_are_saved_and_subfolders_are_read(tmp_path):
    config = ViTHybridConfig.from_pretrained(CASE)
    assert (config.torch_dtype, config.transformers_version) == ("float32", "4.46.3")  # kept keys read as attributes
    config.finetuned_from = "google/vit-hybrid-base-bit-384"
    config.save_pretrained(tmp_path / "sub")
    again = ViTHybridConfig.from_pretrained(tmp_path, subfolder="sub")
    assert again.finetuned_from == "google/vit-hybrid-base-bit-384" and again == config
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        config.nothing_here
    ViTHybridForImageClassification.from_pretrained(CASE).save_pretrained(tmp_path / "model" / "sub")
    ViTHybridImageProcessor(size=70).save_pretrained(tmp_path / "model" / "sub")
    model = ViTHybridForImageClassification.from_pretrained(tmp_path / "model", subfolder="sub")
    processor = ViTHybridImageProcessor.from_pretrained(tmp_path / "model", subfolder="sub", crop_size=60)
    assert (processor.size, processor.crop_size) == ({"shortest_edge": 70}, {"height": 60, "width": 60})
    with torch.no_grad():
        torch.testing.assert_close(model(pixels()).logits, reference_io("same_padding")["logits"], atol=1e-5, rtol=1e-4)


def test_bit_config_has_the_config_api(tmp_path):
    bit = BitConfig.from_pretrained(CASE)  # a ViT-Hybrid's config.json: its backbone_config
    assert bit.depths == [1, 2, 1] and bit.global_padding == "SAME"
    assert (bit.output_attentions, bit.output_hidden_states, bit.return_dict) == (False, False, True)
    assert bit.save_pretrained(tmp_path / "bit") is None
    assert BitConfig.from_pretrained(tmp_path / "bit") == bit == BitConfig.from_json_file(tmp_path / "bit" / "config.json")
    with pytest.raises(NotADirectoryError, match="is a file"):
        bit.save_pretrained(tmp_path / "bit" / "config.json")


@pytest.mark.parametrize("saved", [ViTHybridConfig(), ViTHybridImageProcessor()], ids=["config", "processor"])
def test_saving_into_a_file_is_refused_and_what_was_there_is_kept(saved, tmp_path):
    """One JSON layer (vit_hybrid.jsonfile) for configs and processors: a path that is a file is
    refused, and a file that is not a JSON object is a ConfigError naming it."""
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NotADirectoryError, match="is a file"):
        saved.save_pretrained(tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="notes.txt is not a valid JSON config"):
        type(saved).from_pretrained(tmp_path / "notes.txt")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        type(saved).from_pretrained(tmp_path / "list.json")


# --------------------------------------------------------------------------- outputs, TorchScript, export


def test_outputs_are_mappings_and_rebuild_from_a_dict():
    model = ViTHybridForImageClassification.from_pretrained(CASE)
    with torch.no_grad():
        out = model(pixels(), labels=torch.tensor([0, 1]), output_hidden_states=True)
    assert list(out) == list(out.keys()) == ["loss", "logits", "hidden_states"] and len(out) == 3
    assert dict(out.items())["logits"] is out.logits is out["logits"] is out[1] and list(out.values())[0] is out.loss
    assert "logits" in out and "attentions" not in out and out.get("attentions") is None
    with pytest.raises(KeyError):
        out["attentions"]
    rebuilt = type(out)(dict(out.items()))
    assert rebuilt.to_tuple() == out.to_tuple() and rebuilt.attentions is None
    with pytest.raises(TypeError, match="no field"):
        ImageClassifierOutput({"scores": out.logits})


@pytest.mark.parametrize("cls", MODELS_BOTH)
def test_torchscript_config_returns_tuples_that_trace(cls):
    x = pixels()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings and TorchScript's deprecation
        model = cls.from_pretrained(CASE, torchscript=True)
        eager = model(x)
        assert isinstance(eager, tuple) and len(eager) == (1 if cls is ViTHybridForImageClassification else 2)
        traced = torch.jit.trace(model, x)
    for got, want in zip(traced(x), eager, strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cls", MODELS_BOTH)
def test_torch_export_equals_eager(cls):
    model = cls.from_pretrained(CASE)
    x = pixels()
    exported = torch.export.export(model, (x,), kwargs={"output_attentions": True})
    with torch.no_grad():
        got, want = exported.module()(x, output_attentions=True), model(x, output_attentions=True)
    assert type(got) is type(want) and got.keys() == want.keys()
    torch.testing.assert_close(got.to_tuple(), want.to_tuple(), atol=1e-6, rtol=0)

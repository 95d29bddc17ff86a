"""vit_hybrid.transformers_compat with transformers 5: the Auto classes, the image-classification
pipeline and Trainer on checkpoints saved by this package give our numbers; a transformers that has
its own ViT-Hybrid is left alone; `import vit_hybrid` never loads transformers.

The only tests that import transformers (its version is pinned in tests/requirements.txt)."""

from __future__ import annotations

import importlib.util
import json
import math
import pkgutil
import re
import subprocess
import sys

import pytest
import torch
from PIL import Image

import vit_hybrid
from tests.helpers import BUNDLED, EXAMPLES, MODELS, ROOT
from vit_hybrid import ViTHybridConfig, ViTHybridForImageClassification, ViTHybridImageProcessor

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None,
    reason="transformers is not installed (pip install -r tests/requirements.txt, or the [transformers] extra)",
)

TINY_BACKBONE = {"layer_type": "bottleneck", "global_padding": "same", "depths": [1, 1], "hidden_sizes": [32, 64],
                 "embedding_size": 16, "num_groups": 8, "out_features": ["stage2"], "embedding_dynamic_padding": True}
IMAGES = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".jpg", ".png"))[:8]


def tiny_config() -> ViTHybridConfig:
    """64 px in, an 8x8 token grid, 2 layers of width 32, 10 named classes."""
    return ViTHybridConfig(backbone_config=TINY_BACKBONE, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, image_size=64, backbone_featmap_shape=[1, 64, 8, 8],
                           id2label={i: f"class {i}" for i in range(10)})


def tiny_processor() -> ViTHybridImageProcessor:
    return ViTHybridImageProcessor(size={"shortest_edge": 64}, crop_size=64, image_mean=0.5, image_std=0.5)


def run_python(code: str) -> str:
    """Runs `code` in a fresh interpreter from the repository root; its stdout."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=True).stdout


@pytest.fixture(scope="module")
def compat():
    import vit_hybrid.transformers_compat as compat

    return compat


@pytest.fixture(scope="module", params=["vit-hybrid", "vit_hybrid"])
def checkpoint(request, tmp_path_factory):
    """A tiny classifier saved by this package under one model_type, its processor beside it."""
    torch.manual_seed(0)
    model = ViTHybridForImageClassification(tiny_config()).eval()
    with torch.no_grad():  # off their initial values (unit norms, zero biases), as trained weights are
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter), alpha=0.1)
    folder = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": request.param}))
    return folder, model


def test_the_auto_classes_load_our_checkpoints_with_our_numbers(compat, checkpoint):
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification

    folder, ours = checkpoint
    config = AutoConfig.from_pretrained(folder)
    assert isinstance(config, compat.ViTHybridConfig)
    assert config.model_type == json.loads((folder / "config.json").read_text())["model_type"]
    assert config.id2label[3] == "class 3" and config.backbone_config["depths"] == [1, 1]

    processor = AutoImageProcessor.from_pretrained(folder)
    assert isinstance(processor, compat.ViTHybridImageProcessor)
    photo = Image.open(IMAGES[0])
    pixels = processor(photo, return_tensors="pt")["pixel_values"]
    assert torch.equal(pixels, tiny_processor()(photo, return_tensors="pt")["pixel_values"])
    processor.save_pretrained(folder / "resaved")  # nothing of transformers' loading is written back
    assert json.loads((folder / "resaved" / "preprocessor_config.json").read_text()) == tiny_processor().to_dict()

    pixels = torch.cat([pixels, torch.randn(1, 3, 64, 64)])
    classifier = AutoModelForImageClassification.from_pretrained(folder).eval()
    assert isinstance(classifier, compat.ViTHybridForImageClassification)
    assert classifier.state_dict().keys() == ours.state_dict().keys()
    base = AutoModel.from_pretrained(folder).eval()  # the classifier's checkpoint, less its head, plus a new pooler
    with torch.no_grad():
        assert torch.equal(classifier(pixels).logits, ours(pixels).logits)
        assert torch.equal(base(pixels).last_hidden_state, ours.vit(pixels).last_hidden_state)


def test_a_checkpoint_saved_by_transformers_4_loads_with_our_numbers(compat, model):
    """The reference's own files (config keys of 4.46.3 included), and weights that transformers 5
    leaves unaligned in the mapped file, which would change the last bit of the logits."""
    from transformers import AutoModelForImageClassification

    loaded = AutoModelForImageClassification.from_pretrained(MODELS / "same_padding").eval()
    with torch.no_grad():
        for pixels in torch.randn(4, 1, 3, 64, 64):
            assert torch.equal(loaded(pixels).logits, model.eval()(pixels).logits)


def test_the_pipeline_ranks_as_we_do(compat, bundled):
    from transformers import pipeline

    ours, processor = bundled
    classify = pipeline("image-classification", model=str(BUNDLED))
    for path in IMAGES:
        with torch.no_grad():
            logits = ours(processor(Image.open(path), return_tensors="pt")["pixel_values"]).logits[0]
        expected = [ours.config.id2label[i] for i in logits.topk(5).indices.tolist()]
        assert [hit["label"] for hit in classify(str(path))] == expected, path.name


def test_trainer_trains_and_its_checkpoint_loads_here(compat, tmp_path):
    from transformers import AutoModelForImageClassification, Trainer, TrainingArguments

    folder = tmp_path / "start"
    ViTHybridForImageClassification(tiny_config()).save_pretrained(folder)
    generator = torch.Generator().manual_seed(0)
    data = [{"pixel_values": torch.randn(3, 64, 64, generator=generator), "labels": i % 10} for i in range(8)]
    runs = {}
    for checkpointing in (False, True):  # Trainer's gradient_checkpointing: our checkpointing, the same losses
        model = AutoModelForImageClassification.from_pretrained(folder)
        args = TrainingArguments(output_dir=str(tmp_path / f"run{int(checkpointing)}"), max_steps=3,
                                 per_device_train_batch_size=4, learning_rate=1e-3, logging_steps=1,
                                 save_strategy="steps", save_steps=3, report_to="none", use_cpu=True,
                                 disable_tqdm=True, dataloader_num_workers=0, seed=0,
                                 gradient_checkpointing=checkpointing)
        trainer = Trainer(model=model, args=args, train_dataset=data)
        trainer.train()
        assert trainer.model.is_gradient_checkpointing == checkpointing
        runs[checkpointing] = trainer, [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]

    trainer, losses = runs[False]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)
    assert runs[True][1] == pytest.approx(losses, rel=1e-5)
    trained = ViTHybridForImageClassification.from_pretrained(tmp_path / "run0" / "checkpoint-3").eval()
    untrained = ViTHybridForImageClassification.from_pretrained(folder).eval()
    pixels = torch.stack([item["pixel_values"] for item in data[:2]])
    with torch.no_grad():
        assert torch.equal(trained(pixels).logits, trainer.model.eval()(pixels).logits)
        assert not torch.equal(trained(pixels).logits, untrained(pixels).logits)


def test_a_transformers_with_its_own_vit_hybrid_is_left_alone():
    code = """
import warnings
from transformers.models.auto import configuration_auto
configuration_auto.CONFIG_MAPPING_NAMES["vit-hybrid"] = "ViTHybridConfig"  # as transformers 4 has it
if hasattr(configuration_auto, "MODEL_NAMES_MAPPING"):  # transformers 5.0 names every model it knows there
    configuration_auto.MODEL_NAMES_MAPPING["vit-hybrid"] = "ViT Hybrid"
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import vit_hybrid.transformers_compat as compat
from transformers import MODEL_MAPPING
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
print(compat.REGISTERED, "vit_hybrid" in CONFIG_MAPPING, compat.ViTHybridConfig in MODEL_MAPPING)
print(*[str(w.message) for w in caught], sep="\\n")
"""
    registered, message = run_python(code).split("\n", 1)
    assert registered == "False False False"
    assert "has its own vit-hybrid" in message and "registers nothing" in message


def test_import_vit_hybrid_never_imports_transformers():
    modules = sorted(f"vit_hybrid.{m.name}" for m in pkgutil.iter_modules(vit_hybrid.__path__)
                     if m.name != "transformers_compat")
    assert "vit_hybrid.modeling" in modules and "vit_hybrid.processor" in modules
    code = f"import sys, {', '.join(modules)}; print('transformers' in sys.modules)"
    assert run_python(code).strip() == "False"


def test_no_other_test_imports_transformers():
    """What docs/development.md says: the rest of the suite runs the same without transformers."""
    importing = {path.relative_to(ROOT).as_posix() for path in (ROOT / "tests").rglob("*.py")
                 if re.search(r"^\s*(from|import) transformers\b", path.read_text(), re.MULTILINE)}
    assert importing == {"tests/vit_hybrid/test_transformers_compat.py", "tests/fixtures/make_model_fixtures.py",
                         "tests/fixtures/make_processor_fixtures.py"}  # those two run in the reference virtualenv

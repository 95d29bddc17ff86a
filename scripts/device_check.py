"""Checks the model and its explanations on CUDA against the CPU, and times them there.

    python scripts/device_check.py --out results/   # on a machine with a GPU; JSON + printout

Random weights of the Hub architecture (google/vit-hybrid-base-bit-384), float32 with TF32 off so
that CPU and GPU compute the same thing; reports the largest differences (logits, attentions,
hidden states, every map of an explanation) and timings: batch-1 forward (logits only, with
attentions), a full explanation (top-1 and top-5 classes explained) and batch-64 throughput.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explain import explain  # noqa: E402
from vit_hybrid import ViTHybridForImageClassification  # noqa: E402
from vit_hybrid.config import hub_architecture  # noqa: E402
from vit_hybrid.processor import square_processor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def timed(function, device: torch.device, reps: int = 10) -> float:
    """Median seconds of `function()` after two warm-up calls, synchronising the device."""
    for _ in range(2):
        function()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def max_diff(a, b) -> float:
    if isinstance(a, dict):
        return max(max_diff(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return max(max_diff(x, y) for x, y in zip(a, b))
    return float((a.detach().float().cpu() - b.detach().float().cpu()).abs().max())


def explanation_maps(e) -> dict:
    maps = {"raw_attention": e.raw_attention, **{f"rollout {k}": v for k, v in e.rollout.items()}}
    for index, c in e.classes.items():
        maps[f"{index} gradient_rollout"] = c.gradient_rollout
        maps.update({f"{index} gradcam {s}": v for s, v in c.gradcam.items()})
        maps.update({f"{index} layercam {s}": v for s, v in c.layercam.items()})
    return maps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    report: dict = {"torch": torch.__version__, "cuda": torch.cuda.is_available()}
    config = hub_architecture()
    torch.manual_seed(0)
    cpu_model = ViTHybridForImageClassification(config).eval().requires_grad_(False)
    processor = square_processor(384)
    image = np.random.default_rng(0).integers(0, 256, (400, 500, 3), dtype=np.uint8)
    x = processor(image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        cpu_logits = cpu_model(x).logits
        cpu_full = cpu_model(x, output_attentions=True, output_hidden_states=True)
    cpu_explanation = explain(cpu_model, image, processor, top_k=5)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to compare")
        return
    device = torch.device("cuda")
    report["device"] = torch.cuda.get_device_name()
    model = ViTHybridForImageClassification(config).eval().requires_grad_(False)
    model.load_state_dict(cpu_model.state_dict())
    model.to(device)
    xd = x.to(device)
    with torch.no_grad():
        logits = model(xd).logits
        full = model(xd, output_attentions=True, output_hidden_states=True)
    gpu_explanation = explain(model, image, processor, top_k=5)
    report["max_abs_diff"] = {
        "logits (fused attention)": max_diff(logits, cpu_logits),
        "logits (explicit attention)": max_diff(full.logits, cpu_full.logits),
        "attentions": max_diff(full.attentions, cpu_full.attentions),
        "hidden_states": max_diff(full.hidden_states, cpu_full.hidden_states),
        "explanation maps": max_diff(explanation_maps(gpu_explanation), explanation_maps(cpu_explanation)),
        "same top-5": [p.index for p in gpu_explanation.predictions] == [p.index for p in cpu_explanation.predictions],
    }
    with torch.no_grad():
        batch = torch.randn(64, 3, 384, 384, device=device)
        report["seconds"] = {
            "forward, logits only, batch 1": timed(lambda: model(xd), device),
            "forward with attentions + hidden states, batch 1": timed(
                lambda: model(xd, output_attentions=True, output_hidden_states=True), device),
        }
        throughput = timed(lambda: model(batch), device, reps=5)
    report["seconds"]["explanation, top class explained"] = timed(
        lambda: explain(model, image, processor, top_k=5, explained=1, fusions=("mean",)), device, reps=5)
    report["seconds"]["explanation, app default (5 classes, 3 fusions)"] = timed(
        lambda: explain(model, image, processor), device, reps=5)
    report["images_per_second_batch_64_float32"] = 64 / throughput
    print(json.dumps(report, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "device_check.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

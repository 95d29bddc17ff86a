"""Times our forward against the reference's (transformers 4.46.3) in one process.

Run in the reference virtualenv (it has transformers; our package needs only torch & co):
    py=$(scripts/reference-venv.sh) && "$py" -m scripts.bench_model

Hub architecture (google/vit-hybrid-base-bit-384) at 384x384, random weights, float32. The reference
model is saved with its own save_pretrained and loaded with our from_pretrained: the code path the
parity tests check. Each repetition draws a fresh input and runs both models, alternating which goes
first; after a warm-up the median of --reps repetitions is reported, with the ratio ours/reference,
then where the time goes (backbone, attention, MLP) from one timed pass of each with module hooks.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

from vit_hybrid import ViTHybridForImageClassification


def hub_models(folder: Path) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """Reference (fused default), reference (eager), ours: the same random Hub-architecture weights.
    (transformers is imported here, after the arguments are read: `--help` needs no reference.)"""
    from transformers import BitConfig
    from transformers import ViTHybridConfig as RefConfig
    from transformers import ViTHybridForImageClassification as RefModel

    backbone = BitConfig(
        global_padding="same", layer_type="bottleneck", depths=(3, 4, 9), out_features=["stage3"],
        embedding_dynamic_padding=True,
    )
    torch.manual_seed(0)
    RefModel(RefConfig(backbone_config=backbone, image_size=384, num_labels=1000)).save_pretrained(folder)
    ref_sdpa = RefModel.from_pretrained(folder).eval()  # its default: fused attention
    assert ref_sdpa.config._attn_implementation == "sdpa", ref_sdpa.config._attn_implementation
    ref_eager = RefModel.from_pretrained(folder, attn_implementation="eager").eval()
    return ref_sdpa, ref_eager, ViTHybridForImageClassification.from_pretrained(folder)


def timed(model: torch.nn.Module, x: torch.Tensor, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    with torch.no_grad():
        out = model(x, **kwargs)
    return time.perf_counter() - start, out


def compare(name: str, ref: torch.nn.Module, ours: torch.nn.Module, reps: int, warmup: int, **kwargs) -> None:
    times: dict[str, list[float]] = {"reference": [], "ours": []}
    worst = 0.0
    for rep in range(warmup + reps):
        x = torch.randn(1, 3, 384, 384)
        order = [("reference", ref), ("ours", ours)]
        results = {}
        for label, model in order if rep % 2 == 0 else order[::-1]:
            seconds, results[label] = timed(model, x, **kwargs)
            if rep >= warmup:
                times[label].append(seconds)
        worst = max(worst, (results["ours"].logits - results["reference"].logits).abs().max().item())
        if kwargs.get("output_attentions"):
            for a, b in zip(results["ours"].attentions, results["reference"].attentions):
                worst = max(worst, (a - b).abs().max().item())
    ref_s, ours_s = statistics.median(times["reference"]), statistics.median(times["ours"])
    print(f"{name:<44} reference {ref_s * 1000:8.1f} ms   ours {ours_s * 1000:8.1f} ms   "
          f"ours/reference {ours_s / ref_s:5.3f}   max|diff| {worst:.1e}")


PARTS = {  # module-name patterns, the same in both models (our names follow the checkpoint's)
    "backbone": re.compile(r"embeddings\.patch_embeddings\.backbone$"),
    "attention": re.compile(r"\.layer\.\d+\.attention$"),
    "mlp": re.compile(r"\.layer\.\d+\.(intermediate|output)$"),
}


def breakdown(model: torch.nn.Module, x: torch.Tensor, reps: int, **kwargs) -> dict[str, float]:
    """Median seconds per part (backbone, attention, MLP, rest) from hooks around those modules."""
    spent: dict[str, float] = defaultdict(float)
    starts: dict[str, float] = {}
    handles = []
    for name, module in model.named_modules():
        part = next((p for p, pattern in PARTS.items() if pattern.search(name)), None)
        if part is None:
            continue
        handles.append(module.register_forward_pre_hook(lambda m, a, n=name: starts.__setitem__(n, time.perf_counter())))
        handles.append(module.register_forward_hook(
            lambda m, a, o, n=name, p=part: spent.__setitem__(p, spent[p] + time.perf_counter() - starts[n])))
    runs = defaultdict(list)
    for _ in range(reps):
        spent.clear()
        total, _ = timed(model, x, **kwargs)
        for part in ("backbone", "attention", "mlp"):
            runs[part].append(spent[part])
        runs["rest"].append(total - sum(spent.values()))
        runs["total"].append(total)
    for h in handles:
        h.remove()
    return {part: statistics.median(v) for part, v in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=15, help="timed repetitions (median), at least 5")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 1, 384x384, float32")
    with tempfile.TemporaryDirectory() as folder:
        ref_sdpa, ref_eager, ours = hub_models(Path(folder))
    compare("logits only (ref: default fused attention)", ref_sdpa, ours, args.reps, args.warmup)
    compare("all attentions + hidden states (ref: eager)", ref_eager, ours, args.reps, args.warmup,
            output_attentions=True, output_hidden_states=True)
    x = torch.randn(1, 3, 384, 384)
    print("\nwhere the time goes, ms (median of 3, module hooks)")
    rows = [
        ("reference, logits only", breakdown(ref_sdpa, x, 3)),
        ("ours, logits only", breakdown(ours, x, 3)),
        ("reference eager, with attentions", breakdown(ref_eager, x, 3, output_attentions=True, output_hidden_states=True)),
        ("ours, with attentions", breakdown(ours, x, 3, output_attentions=True, output_hidden_states=True)),
    ]
    print(f"{'':<34}{'backbone':>10}{'attention':>11}{'mlp':>8}{'rest':>8}{'total':>9}")
    for label, parts in rows:
        print(f"{label:<34}" + "".join(f"{parts[p] * 1000:{w}.1f}" for p, w in
                                       (("backbone", 10), ("attention", 11), ("mlp", 8), ("rest", 8), ("total", 9))))


if __name__ == "__main__":
    main()

"""Checks the model and its explanations on a CUDA GPU against the CPU, and times them against the
targets of "fast on a GPU", in one command (about 5 minutes on one H200, compiling included).

    python -m scripts.device_check --out results/    # on a machine with a CUDA GPU (timm optional)
    python -m scripts.device_check --smoke           # every step on the CPU at toy sizes: the script runs

Random weights of the Hub architecture (google/vit-hybrid-base-bit-384) unless said otherwise:
1. agreement: float32 CUDA (TF32 off) against the CPU: logits, attentions, hidden states, every map;
2. batch-1 latency of the 384 px crop (pixels on the device): the top-class explanation (forward,
   one backward, its maps) and `explain` with the app's settings (5 classes, 3 head fusions), in
   float32, bfloat16 autocast, and bfloat16 with per-segment compilation (`vit_hybrid.compile`,
   CUDA graphs); the compile time; each segment's forward time. Targets: 10 ms and 30 ms;
3. batch-64 logits per second, bfloat16, ours and timm's `vit_base_r50_s16_384`, both compiled
   whole (logits need no gradients). Target: ours at least timm's;
4. batched top-class explanations per second (batch 64, bfloat16, compiled segments). Target: 600;
5. bfloat16 against float32 on the bundled model (1,000 test-seed scenes and the example photos):
   the worst difference of each method's max-normalised maps and their mean Spearman correlation,
   and the top-1 class wherever float32's top-1/top-2 logit margin exceeds 0.05 (flips listed).
Each figure is printed against its target; a missed target comes with the per-segment times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from explain import explain
from explain.benchmark.scenes import TEST_SEED, make_batch
from explain.explanation import Steps, method_values
from explain.measure.statistics import spearman
from explain.passes import ForwardPass
from explorer.paths import BUNDLED, EXAMPLES
from vit_hybrid import ViTHybridConfig, ViTHybridForImageClassification, ViTHybridImageProcessor
from vit_hybrid.compile import compile_segments
from vit_hybrid.config import hub_architecture
from vit_hybrid.images import load_image
from vit_hybrid.processor import square_processor

TARGETS = {"top class, batch 1 (ms)": 10.0, "app settings, batch 1 (ms)": 30.0,
           "batched top-class explanations (images/s)": 600.0}


def timed(function: Callable[[], Any], device: torch.device, reps: int) -> float:
    """Median seconds of `function()` after two warm-up calls, synchronising the device."""
    def once() -> float:
        if device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    once(), once()
    return statistics.median(once() for _ in range(reps))


def max_diff(a: Any, b: Any) -> float:
    if isinstance(a, dict):
        return max((max_diff(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, (list, tuple)):
        return max((max_diff(x, y) for x, y in zip(a, b)), default=0.0)
    return float((a.detach().float().cpu() - b.detach().float().cpu()).abs().max())


def top_class(model: ViTHybridForImageClassification, x: torch.Tensor, autocast: torch.dtype | None) -> dict:
    """The top class's explanation: predictions, rollout (mean fusion), its class maps."""
    steps = Steps(model, x, top_k=5, explained=1, fusions=("mean",), autocast=autocast)
    steps.add(steps.pending[0])
    return steps.tensors()


def batched_top_class(model: ViTHybridForImageClassification, x: torch.Tensor, autocast: torch.dtype | None) -> dict:
    """Every image's top-class maps of a batch: one forward, one backward for all rows."""
    forward = ForwardPass(model, x, fusions=("mean",), autocast=autocast)
    gradients = forward.gradients(forward.logits.argmax(-1).tolist(), retain=False)
    return {**method_values(forward.activations, None), **method_values(forward.activations, gradients)}


def segment_times(model: ViTHybridForImageClassification, x: torch.Tensor, autocast: torch.dtype | None) -> dict:
    """Milliseconds of each segment's forward (stem, stages, encoder layers), timed with CUDA events."""
    bit = model.vit.embeddings.patch_embeddings.backbone.bit
    segments = {"stem": bit.embedder, **{f"stage{i + 1}": s for i, s in enumerate(bit.encoder.stages)},
                **{f"layer{i + 1}": layer for i, layer in enumerate(model.vit.encoder.layer)}}
    events: dict[str, list] = {}
    handles = []
    for name, module in segments.items():
        def before(_module, _inputs, name=name):
            events[name] = [torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)]
            events[name][0].record()

        def after(_module, _inputs, _output, name=name):
            events[name][1].record()

        handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        ForwardPass(model, x, fusions=("mean",), autocast=autocast)
        torch.cuda.synchronize()
    finally:
        for handle in handles:
            handle.remove()
    return {name: round(start.elapsed_time(end), 3) for name, (start, end) in events.items()}


def agreement(cpu_model: ViTHybridForImageClassification, model: ViTHybridForImageClassification,
              image: np.ndarray, processor: ViTHybridImageProcessor, device: torch.device) -> dict:
    """Largest differences between the CPU and the device in float32 (TF32 off)."""
    x = processor(image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        cpu = cpu_model(x, output_attentions=True, output_hidden_states=True)
        ours = model(x.to(device), output_attentions=True, output_hidden_states=True)
    a, b = explain(cpu_model, image, processor), explain(model, image, processor)
    return {
        "logits": max_diff(ours.logits, cpu.logits), "attentions": max_diff(ours.attentions, cpu.attentions),
        "hidden_states": max_diff(ours.hidden_states, cpu.hidden_states),
        "maps": max_diff({**b.maps, **{i: c.maps for i, c in b.classes.items()}},
                         {**a.maps, **{i: c.maps for i, c in a.classes.items()}}),
        "same top-5": [p.index for p in a.predictions] == [p.index for p in b.predictions],
    }


def latencies(model: ViTHybridForImageClassification, x: torch.Tensor, device: torch.device, reps: int,
              backend: str) -> dict:
    """Batch-1 top-class and app-settings latency: float32, bfloat16, bfloat16 compiled per segment."""
    bf16 = torch.bfloat16
    out: dict[str, Any] = {}
    for name, autocast in (("float32", None), ("bfloat16", bf16)):
        out[f"top class, {name} eager (ms)"] = 1000 * timed(lambda: top_class(model, x, autocast), device, reps)
        out[f"app settings, {name} eager (ms)"] = 1000 * timed(lambda: Steps(model, x, autocast=autocast).finish(),
                                                                device, reps)
    mode = "reduce-overhead" if device.type == "cuda" else None
    compile_segments(model, mode=mode, backend=backend)
    start = time.perf_counter()
    top_class(model, x, bf16), Steps(model, x, autocast=bf16).finish()
    if device.type == "cuda":
        torch.cuda.synchronize()
    out["compile, batch 1 (s)"] = time.perf_counter() - start
    out["top class, batch 1 (ms)"] = 1000 * timed(lambda: top_class(model, x, bf16), device, reps)
    out["app settings, batch 1 (ms)"] = 1000 * timed(lambda: Steps(model, x, autocast=bf16).finish(), device, reps)
    return out


def throughput(config: ViTHybridConfig, state: dict, device: torch.device, batch: int, reps: int, smoke: bool) -> dict:
    """Batch logits per second in bfloat16, ours and timm's vit_base_r50_s16_384, both compiled whole."""
    x = torch.randn(batch, 3, config.image_size, config.image_size, device=device)
    out: dict[str, Any] = {}

    def rate(network: torch.nn.Module) -> float:
        compiled = torch.compile(network, backend="aot_eager" if smoke else "inductor")

        def run() -> None:
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
                compiled(x)

        return batch / timed(run, device, reps)

    ours = ViTHybridForImageClassification(config).eval().requires_grad_(False).to(device)
    ours.load_state_dict(state)
    out["ours, logits (images/s)"] = rate(ours)
    try:
        import timm

        reference = timm.create_model("vit_base_r50_s16_384", pretrained=False).eval().requires_grad_(False).to(device)
        out["timm vit_base_r50_s16_384, logits (images/s)"] = rate(reference)
    except ImportError:
        out["timm vit_base_r50_s16_384, logits (images/s)"] = "timm not installed"
    return out


def bf16_against_fp32(device: torch.device, scenes: int) -> dict:
    """The bundled model's maps and top-1 in bfloat16 against float32, on scenes and example photos."""
    model = ViTHybridForImageClassification.from_pretrained(BUNDLED).eval().requires_grad_(False).to(device)
    processor = ViTHybridImageProcessor.from_pretrained(BUNDLED)
    images, _ = make_batch(TEST_SEED, 0, scenes, model.config.image_size, processes=4)
    photos = sorted(p for p in EXAMPLES.iterdir() if p.suffix in {".jpg", ".png"})
    pictures = list(images) + [np.asarray(load_image(p)) for p in photos]
    names = [f"scene {i}" for i in range(scenes)] + [p.name for p in photos]
    worst: dict[str, float] = {}
    correlations: dict[str, list[float]] = {}
    flips, compared = [], 0
    for start in range(0, len(pictures), 100):
        x = processor(pictures[start : start + 100], return_tensors="pt")["pixel_values"].to(device)
        exact = ForwardPass(model, x)
        top = exact.logits.argmax(-1).tolist()
        reduced = ForwardPass(model, x, autocast=torch.bfloat16)
        values = [{**method_values(p.activations, None), **method_values(p.activations, p.gradients(top, retain=False))}
                  for p in (exact, reduced)]
        ranked = exact.logits.float().topk(2, dim=-1).values
        for row, (margin, low) in enumerate(zip((ranked[:, 0] - ranked[:, 1]).tolist(), reduced.logits.argmax(-1).tolist())):
            if margin > 0.05:
                compared += 1
                if low != top[row]:
                    flips.append({"image": names[start + row], "float32": top[row], "bfloat16": low, "margin": margin})
        for name, (a, b) in _maps(values[0], values[1]).items():
            for one, other in zip(a, b):
                scale_a, scale_b = one.abs().max(), other.abs().max()
                if scale_a > 0 and scale_b > 0:
                    diff = float((one / scale_a - other / scale_b).abs().max())
                    worst[name] = max(worst.get(name, 0.0), diff)
                    correlations.setdefault(name, []).append(spearman(one.cpu(), other.cpu()))
    return {"images": len(pictures), "compared top-1 (margin > 0.05)": compared, "flips": flips,
            "worst max-normalised difference": worst,
            "mean rank correlation": {k: float(np.mean(v)) for k, v in correlations.items()}}


def _maps(a: dict, b: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Method (and fusion or stage) -> the two batches of maps (B, h, w) to compare."""
    pairs = {}
    for method, value in a.items():
        if method == "raw_attention":
            pairs[method] = (value[:, -1].mean(1).float(), b[method][:, -1].mean(1).float())  # last layer, head mean
        elif isinstance(value, dict):
            for key, maps in value.items():
                pick = (lambda t: t[:, -1]) if method == "rollout" else (lambda t: t)
                pairs[f"{method} {key}"] = (pick(maps).float(), pick(b[method][key]).float())
        else:
            pairs[method] = (value.float(), b[method].float())
    return pairs


def section(report: dict, name: str, function: Callable[[], Any]) -> None:
    """Runs one part; a failure is reported and the others still run."""
    start = time.perf_counter()
    try:
        report[name] = function()
    except Exception:  # the report says what failed; the other parts still run
        report[name] = {"failed": traceback.format_exc(limit=6)}
    print(f"[{time.perf_counter() - start:6.1f} s] {name}: {json.dumps(report[name], indent=1, default=str)}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--scenes", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="on the CPU at toy sizes: does every step run?")
    args = parser.parse_args()
    device = torch.device("cpu" if args.smoke else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device (use --smoke to run the steps on the CPU)")
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 as the CPU computes it
    torch.backends.cudnn.allow_tf32 = False
    toy = ViTHybridConfig(image_size=64, num_hidden_layers=2, num_labels=10, backbone_featmap_shape=[1, 1024, 4, 4])
    config = toy if args.smoke else hub_architecture()
    reps, batch, scenes = (2, 4, 20) if args.smoke else (args.reps, 64, args.scenes)
    report: dict[str, Any] = {"torch": torch.__version__,
                              "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu (smoke)"}
    torch.manual_seed(0)
    cpu_model = ViTHybridForImageClassification(config).eval().requires_grad_(False)
    model = ViTHybridForImageClassification(config).eval().requires_grad_(False).to(device)
    model.load_state_dict(cpu_model.state_dict())
    processor = square_processor(config.image_size)
    image = np.random.default_rng(0).integers(0, 256, (400, 500, 3), dtype=np.uint8)
    x = processor(image, return_tensors="pt")["pixel_values"].to(device)
    section(report, "agreement with the CPU, float32", lambda: agreement(cpu_model, model, image, processor, device))
    if device.type == "cuda":
        section(report, "segment forward times, bfloat16 (ms)", lambda: segment_times(model, x, torch.bfloat16))
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    backend = "aot_eager" if args.smoke else "inductor"
    section(report, "batch 1", lambda: latencies(model, x, device, reps, backend))
    xs = x.expand(batch, -1, -1, -1).contiguous()
    section(report, "batched top-class explanations", lambda: {
        "batched top-class explanations (images/s)": batch / timed(lambda: batched_top_class(model, xs, torch.bfloat16),
                                                                   device, reps)})
    section(report, "logits throughput, batch 64, bfloat16",
            lambda: throughput(config, cpu_model.state_dict(), device, batch, reps, args.smoke))
    section(report, "bfloat16 against float32, bundled model", lambda: bf16_against_fp32(device, scenes))
    print("\nfigure against target")
    figures = {**report.get("batch 1", {}), **report.get("batched top-class explanations", {})}
    for name, target in TARGETS.items():
        value = figures.get(name)
        met = isinstance(value, float) and (value >= target if "images/s" in name else value <= target)
        print(f"  {name:<45} {value if not isinstance(value, float) else round(value, 2)!s:>10}  target "
              f"{'>=' if 'images/s' in name else '<='} {target}: {'met' if met else 'MISSED'}")
    speed = report.get("logits throughput, batch 64, bfloat16", {})
    ours, timm_rate = speed.get("ours, logits (images/s)"), speed.get("timm vit_base_r50_s16_384, logits (images/s)")
    if isinstance(ours, float) and isinstance(timm_rate, float):
        print(f"  {'logits, batch 64: ours / timm':<45} {ours / timm_rate:10.3f}  target >= 1: "
              f"{'met' if ours >= timm_rate else 'MISSED'}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "device_check.json").write_text(json.dumps(report, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()

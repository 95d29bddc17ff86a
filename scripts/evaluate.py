"""Evaluates a scene model and its explanations on freshly generated scenes, with 95% intervals.

    python -m scripts.evaluate                 # the bundled model, 2,000 scenes of the test seed
    python -m scripts.evaluate --choose-rollout  # pick rollout's fusion and discard on the tuning seed

Reports accuracy; for every method (rollout, gradient-weighted rollout, and Grad-CAM and LayerCAM on
every backbone stage) the pointing-game hit rate (the map's peak inside the object's filled
silhouette dilated by half a token cell) and the share of the map's energy inside that region,
beside a centre prior and a uniform-random map; and the model-randomisation check (Adebayo et al.,
2018): the mean Spearman rank correlation between the maps of the trained model and of the same
architecture with re-initialised weights. Maps explain the true class of each scene.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from explain import Explanation, rollout_maps
from explain.batch import explain_batch
from explain.benchmark.scenes import TEST_SEED, TUNING_SEED, make_scene, region
from explain.inputs import model_input
from explain.measure.metrics import energy_inside, pointing_game
from explain.measure.statistics import mean_interval, spearman, wilson
from explorer.paths import BUNDLED
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor

BATCH = 32  # scenes explained together (the batched core: one forward and one backward per batch)


def explained(model, inputs: list, scenes: list, discard: float, fusion: str) -> list[Explanation]:
    """The explanation of each scene (its model input) for its true class, from the batched core."""
    return explain_batch(model, inputs, [scene.label for scene in scenes], top_k=1, batch_size=BATCH,
                         fusions=(fusion,), discard=discard)


def named_maps(e: Explanation, fusion: str) -> dict:
    """Every map of an explanation's explained class, by the names the table prints."""
    (maps,) = e.classes.values()
    out = {"rollout": e.rollout[fusion][-1], "gradient rollout": maps.gradient_rollout}
    for stage in e.stages:
        out[f"Grad-CAM {stage}"] = maps.gradcam[stage]
        out[f"LayerCAM {stage}"] = maps.layercam[stage]
    return out


def choose_rollout(model, processor, scenes: int) -> None:
    """Pointing game of rollout for each fusion and discard on the tuning seed."""
    tolerance = model.config.token_stride // 2
    hits = defaultdict(int)
    for index in tqdm(range(scenes), desc="tuning rollout"):
        scene = make_scene(TUNING_SEED, index, model.config.image_size)
        pixels = processor(scene.image, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            attentions = model(pixels, output_attentions=True).attentions
        grid = model.config.token_grid
        mask = region(scene, tolerance)
        for fusion in ("mean", "max", "min"):
            for discard in (0.0, 0.5, 0.8, 0.9, 0.95):
                hits[fusion, discard] += pointing_game(rollout_maps(attentions, grid, fusion, discard)[-1, 0], mask)
    for (fusion, discard), count in sorted(hits.items(), key=lambda kv: -kv[1]):
        print(f"rollout fusion={fusion:<4} discard={discard:<4}  pointing game {count / scenes:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(BUNDLED))
    parser.add_argument("--scenes", type=int, default=2000)
    parser.add_argument("--random-scenes", type=int, default=200, help="scenes for the randomisation check")
    parser.add_argument("--fusion", default="mean")
    parser.add_argument("--discard", type=float, default=0.9)
    parser.add_argument("--choose-rollout", action="store_true", help="tune rollout on the tuning seed and stop")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = ViTHybridForImageClassification.from_pretrained(args.model).requires_grad_(False)
    processor = ViTHybridImageProcessor.from_pretrained(args.model)
    if args.choose_rollout:
        choose_rollout(model, processor, args.scenes)
        return
    randomised = ViTHybridForImageClassification(model.config).eval().requires_grad_(False)
    tolerance = model.config.token_stride // 2
    rng = np.random.default_rng(0)
    correct = 0
    hits, energy, correlations = defaultdict(int), defaultdict(list), defaultdict(list)
    size = model.config.image_size
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centre = torch.exp(-((yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2).float() / (2 * (size / 4) ** 2))
    bar = tqdm(total=args.scenes, desc="evaluating")
    for start in range(0, args.scenes, BATCH):
        scenes = [make_scene(TEST_SEED, index, size) for index in range(start, min(start + BATCH, args.scenes))]
        inputs = [model_input(scene.image, processor, model.config) for scene in scenes]  # once for both models
        trained = explained(model, inputs, scenes, args.discard, args.fusion)
        checked = max(0, args.random_scenes - start)
        randoms = explained(randomised, inputs[:checked], scenes[:checked], args.discard, args.fusion)
        for n, (scene, e) in enumerate(zip(scenes, trained)):
            correct += e.predictions[0].index == scene.label
            mask = region(scene, tolerance)
            maps = {**named_maps(e, args.fusion), "centre prior": centre,
                    "uniform random": torch.from_numpy(rng.random((size, size)))}
            for name, values in maps.items():
                hits[name] += pointing_game(values, mask)
                energy[name].append(energy_inside(values, mask))
            if n < len(randoms):
                for name, values in named_maps(randoms[n], args.fusion).items():
                    correlations[name].append(spearman(maps[name], values))
        bar.update(len(scenes))
    bar.close()
    n = args.scenes
    results = {"scenes": n, "seed": TEST_SEED, "tolerance_px": tolerance, "fusion": args.fusion, "discard": args.discard,
               "accuracy": wilson(correct, n), "methods": {}}
    print(f"\naccuracy {correct / n:.4f}  95% CI [{results['accuracy'][1]:.4f}, {results['accuracy'][2]:.4f}]  ({n} scenes, seed {TEST_SEED})")
    print(f"{'method':<20}{'pointing game [95% CI]':>28}{'energy inside [95% CI]':>30}{'rank corr. with random model':>32}")
    for name in hits:
        point, share = wilson(hits[name], n), mean_interval(energy[name])
        corr = float(np.mean(correlations[name])) if correlations[name] else None
        results["methods"][name] = {"pointing_game": point, "energy_inside": share, "randomisation_rank_correlation": corr}
        corr_text = f"{corr:.3f}" if corr is not None else "-"
        print(f"{name:<20}{point[0]:>10.3f} [{point[1]:.3f}, {point[2]:.3f}]{share[0]:>12.3f} [{share[1]:.3f}, {share[2]:.3f}]{corr_text:>20}")
    stages = {k: v["pointing_game"][0] for k, v in results["methods"].items() if k.startswith("Grad-CAM")}
    best = max(stages, key=stages.get)
    results["best_gradcam_stage"] = best.split()[-1]
    print(f"\nGrad-CAM localises best on {best.split()[-1]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

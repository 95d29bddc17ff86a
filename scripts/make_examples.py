"""Writes the generated-scene examples of the app (assets/examples/scene-*.png).

    python -m scripts.make_examples

Seed 5 is used by nothing else: training used 1, its validation 2, tuning 3, evaluation 4.
"""

from __future__ import annotations

import argparse

from PIL import Image

from explain.benchmark.scenes import CLASSES, EXAMPLES_SEED, make_scene
from explorer.paths import EXAMPLES


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    wanted = {"star", "cross", "ring"}
    for index in range(100):
        scene = make_scene(EXAMPLES_SEED, index)
        name = CLASSES[scene.label]
        if name in wanted:
            Image.fromarray(scene.image).save(EXAMPLES / f"scene-{name}.png", optimize=True)
            wanted.remove(name)
        if not wanted:
            break


if __name__ == "__main__":
    main()

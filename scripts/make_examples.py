"""Writes the generated-scene examples of the app (assets/examples/scene-*.png).

    python scripts/make_examples.py

Seed 5 is used by nothing else: training used 1, its validation 2, tuning 3, evaluation 4.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explain.benchmark.scenes import CLASSES, EXAMPLES_SEED, make_scene  # noqa: E402
from explorer.paths import EXAMPLES  # noqa: E402


def main() -> None:
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

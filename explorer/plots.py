"""Deletion and insertion curves drawn as an image (matplotlib's object API: no pyplot state, so
it is safe in a server that draws for several visitors at once)."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from explain.measure import Faithfulness


def faithfulness_figure(result: Faithfulness, title: str = "") -> Figure:
    """The map's deletion and insertion curves beside a random pixel order's, each legend below its
    axes, where it cannot cover a curve."""
    figure = Figure(figsize=(8, 3.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    for axes, name, curve, random in (
        (figure.add_subplot(1, 2, 1), "Deletion (lower is better)", result.deletion, result.random_deletion),
        (figure.add_subplot(1, 2, 2), "Insertion (higher is better)", result.insertion, result.random_insertion),
    ):
        axes.plot(curve.fractions, curve.scores, color="tab:orange", label=f"this map (area {curve.area:.3f})")
        axes.plot(random.fractions, random.scores, color="tab:gray", linestyle="--",
                  label=f"random order (area {random.area:.3f})")
        axes.set(title=name, xlabel="fraction of pixels changed", ylabel="class probability", xlim=(0, 1), ylim=(0, 1.02))
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=1, fontsize=8, frameon=False)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.canvas.draw()
    return figure


def faithfulness_plot(result: Faithfulness, title: str = "") -> np.ndarray:
    """`faithfulness_figure` as RGB uint8."""
    figure = faithfulness_figure(result, title)
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()

"""The faithfulness figure: its legends cover none of the curves."""

from __future__ import annotations

import numpy as np

from explain.measure.metrics import Curve, Faithfulness
from explorer.plots import faithfulness_figure, faithfulness_plot


def curve(scores: list[float]) -> Curve:
    fractions = list(np.linspace(0, 1, len(scores)))
    return Curve(fractions, scores, float(np.trapezoid(scores, fractions)))


def test_no_legend_covers_a_curve():
    steps = np.linspace(0, 1, 17)
    result = Faithfulness(  # curves that fill the plots' corners, where a "best" legend would land
        deletion=curve(list(1 - steps**0.3)), insertion=curve(list(steps**0.3)),
        random_deletion=curve(list(1 - steps)), random_insertion=curve(list(steps)),
    )
    figure = faithfulness_figure(result, "Grad-CAM on stage2 for “star”")
    renderer = figure.canvas.get_renderer()
    for axes in figure.axes:
        box = axes.get_legend().get_window_extent(renderer)
        for line in axes.get_lines():
            points = line.get_transform().transform(line.get_xydata())  # display pixels
            inside = (points[:, 0] >= box.x0) & (points[:, 0] <= box.x1) & (points[:, 1] >= box.y0) & (points[:, 1] <= box.y1)
            assert not inside.any(), (line.get_label(), points[inside])
        assert box.y1 < axes.get_window_extent(renderer).y0  # below the axes, inside the figure
        assert box.y0 >= 0
    picture = faithfulness_plot(result)
    assert picture.dtype == np.uint8 and picture.shape == (380, 800, 3)

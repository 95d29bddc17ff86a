"""Measuring maps, a client of the explanation library: faithfulness (deletion and insertion
curves), the pointing game and energy inside a region (`metrics`), and the statistics of a
comparison (`statistics`)."""

from .metrics import Curve, Faithfulness, deletion_insertion, energy_inside, pointing_game
from .statistics import average_ranks, mean_interval, spearman, wilson

__all__ = [
    "Curve",
    "Faithfulness",
    "average_ranks",
    "deletion_insertion",
    "energy_inside",
    "mean_interval",
    "pointing_game",
    "spearman",
    "wilson",
]

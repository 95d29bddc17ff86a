"""Drawing and export, a client of the explanation library: maps laid over the user's own picture
(`overlay`), the chosen map with its caption and the gallery (`render`), the JSON record
(`export`) and a map's few numbers for agents (`summary`). Needs matplotlib (colormaps)."""

from .export import FORMAT, explanation_record, image_record, map_record
from .overlay import DISPLAY_SIDE, colorize, display_picture, display_size, heatmap, mark_crop, overlay, place
from .render import GALLERY_SIDE, gallery, is_empty, method_of, percent, render, select_map, target_class
from .summary import summarise_map

__all__ = [
    "DISPLAY_SIDE",
    "FORMAT",
    "GALLERY_SIDE",
    "colorize",
    "display_picture",
    "display_size",
    "explanation_record",
    "gallery",
    "heatmap",
    "image_record",
    "is_empty",
    "map_record",
    "mark_crop",
    "method_of",
    "overlay",
    "percent",
    "place",
    "render",
    "select_map",
    "summarise_map",
    "target_class",
]

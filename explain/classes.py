"""Classes by name: what a visitor, an agent or a folder of images calls a class, matched to the
model's labels (`config.id2label`)."""

from __future__ import annotations

import re


def _name(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text).strip().lower()


def classes_named(name: str, id2label: dict[int, str]) -> set[int]:
    """The classes whose label is `name`, case, spaces, "_" and "-" aside; a label "tabby, tabby
    cat" answers to either of its names."""
    wanted = _name(name)
    return {index for index, label in id2label.items() if wanted in {_name(n) for n in (label, *label.split(","))}}

"""The files visitors download (the map as PNG, every number and map as JSON), written under names
of our own in folders that are pruned as they go, so a long-running Space keeps its disk."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import PIL.Image

from explain.draw import explanation_record

from .analysis import Analysis

DOWNLOADS = Path(tempfile.mkdtemp(prefix="vit-hybrid-downloads-"))
# The records the agents' tool links: served as they are (gr.set_static_paths), so nothing else goes here.
RECORDS = Path(tempfile.mkdtemp(prefix="vit-hybrid-records-"))
MAX_AGE_S = 3600


def prune_downloads(max_age_s: float = MAX_AGE_S) -> None:
    """Removes files older than `max_age_s` from both folders."""
    for path in [*DOWNLOADS.glob("*"), *RECORDS.glob("*")]:
        try:
            if time.time() - path.stat().st_mtime > max_age_s:
                path.unlink()
        except FileNotFoundError:  # another visitor's request pruned it first
            pass


def download_path(kind: str, suffix: str, folder: Path = DOWNLOADS) -> Path:
    """A new file in `folder`, under a name of our own (never the visitor's)."""
    prune_downloads()
    return folder / f"vit-hybrid-{kind}-{uuid.uuid4().hex[:12]}{suffix}"


def analysis_record(analysis: Analysis) -> dict:
    """The JSON form of an analysis: its model's name and the explanation's record."""
    return {"model": analysis.model, **explanation_record(analysis.explanation)}


def write_json(analysis: Analysis, folder: Path = DOWNLOADS) -> str:
    """The numbers and maps of an analysis as a JSON file in `folder`; returns its path."""
    path = download_path("explanation", ".json", folder)
    path.write_text(json.dumps(analysis_record(analysis)))
    return str(path)


def write_png(image: np.ndarray) -> str:
    """A drawn map (RGB uint8) as a PNG file; returns its path."""
    path = download_path("map", ".png")
    PIL.Image.fromarray(image).save(path, compress_level=3)
    return str(path)

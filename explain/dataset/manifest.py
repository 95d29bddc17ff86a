"""A run's manifest (DIR/manifest.json): the model and the options its rows were made with.

A rerun into the same folder with the same ones resumes it; with other ones it is refused, so
that the rows of one folder always come from one model and one set of options.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor

NAME = "manifest.json"


def model_fingerprint(model: ViTHybridForImageClassification, processor: ViTHybridImageProcessor) -> str:
    """SHA-256 of the model's config, every weight and the processor's settings: the same model
    under another path has the same one, other weights under the same path do not."""
    digest = hashlib.sha256(model.config.to_json_string().encode())
    digest.update(json.dumps(processor.to_dict(), sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def claim(out: Path, settings: dict[str, Any]) -> None:
    """Writes the manifest of a new run, or checks that an earlier run in `out` had the same
    settings; SystemExit naming each difference otherwise."""
    settings = json.loads(json.dumps(settings))  # tuples as lists, as they will be read back
    path = out / NAME
    if path.exists():
        recorded = json.loads(path.read_text())
        differences = [f"{key}: {recorded.get(key)!r} there, {settings.get(key)!r} now"
                       for key in sorted(set(recorded) | set(settings)) if recorded.get(key) != settings.get(key)]
        if differences:
            raise SystemExit(f"{out} holds a run made with other settings ({'; '.join(differences)}). "
                             "Run again with the same model and options to resume it, or choose another --out.")
        return
    out.mkdir(parents=True, exist_ok=True)
    hidden = out / f".{NAME}.tmp"
    hidden.write_text(json.dumps(settings, indent=1) + "\n")
    hidden.replace(path)


def read(out: Path) -> dict[str, Any]:
    """The settings of the run in `out`."""
    path = out / NAME
    if not path.exists():
        raise SystemExit(f"{out} holds no dataset run (no {NAME})")
    return json.loads(path.read_text())

"""The JSON files of a checkpoint (config.json, preprocessor_config.json), read, written and found
in one place for the two configs and the processor: a clear error for a file that is not a JSON
object, the layout transformers writes, a folder (never a file) to save into, and a file found in
a folder, a Hub repo or given by its own path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .resolve import HUB_OPTIONS, resolve_first


class ConfigError(ValueError):
    """A configuration value is of the wrong type or impossible, or its file is not JSON."""


def json_text(data: dict[str, Any]) -> str:
    """`data` as transformers writes its JSON files: indented by 2, keys sorted, a final newline."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON object in `path`; a `ConfigError` naming the file when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not a valid JSON config: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    """Writes `json_text(data)` to `path`."""
    Path(path).write_text(json_text(data), encoding="utf-8")


def save_in(save_directory: str | os.PathLike, filename: str, data: dict[str, Any]) -> str:
    """Writes `data` as `filename` in `save_directory` (created if needed; a path that is a file
    is refused, as transformers refuses it) and returns the file's path."""
    if os.path.isfile(save_directory):
        raise NotADirectoryError(f"{save_directory} is a file: save_pretrained needs a folder")
    os.makedirs(save_directory, exist_ok=True)
    path = os.path.join(save_directory, filename)
    write_json(path, data)
    return path


def find_json(name_or_path: str | os.PathLike, filename: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON object of `filename` in a folder or Hub repo, or in `name_or_path` itself when it
    is a file. Takes the Hub options (`HUB_OPTIONS`) out of `kwargs`, leaving the rest there."""
    hub = {key: kwargs.pop(key) for key in HUB_OPTIONS if key in kwargs}
    path = name_or_path if os.path.isfile(name_or_path) else resolve_first(name_or_path, (filename,), **hub)
    return read_json(path)

"""Where a checkpoint's files are: a local folder (or a subfolder of it), or a Hub repo id through
huggingface_hub's cache, with one error for every way that fails."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

HUB_OPTIONS = ("revision", "token", "cache_dir", "local_files_only", "force_download", "subfolder")  # resolve_file's


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, unsafe, or does not fit the model."""


def resolve_file(
    name_or_path: str | os.PathLike,
    filename: str,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    subfolder: str = "",
) -> str | None:
    """Path of `filename` (in `subfolder`) in a local folder, or downloaded from (or cached for) a
    Hub repo id.

    Returns None when the folder or repo has no such file; raises `CheckpointError` when the
    folder or repo cannot be found or reached.
    """
    if os.path.isdir(name_or_path):
        path = Path(name_or_path) / subfolder / filename
        return str(path) if path.is_file() else None
    name = str(name_or_path)
    if name.startswith(("/", ".", "~")) or name.count("/") > 1 or os.path.exists(name):
        raise CheckpointError(f"{name!r} is not a folder (nor a Hub id of the form 'owner/name')")
    import huggingface_hub

    from .hub_errors import LOCAL_MISS_ERRORS, MISSING_FILE_ERRORS

    try:
        return huggingface_hub.hf_hub_download(
            name,
            filename,
            subfolder=subfolder or None,
            revision=revision,
            token=token,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            force_download=force_download,
        )
    except LOCAL_MISS_ERRORS as err:
        raise CheckpointError(
            f"{filename} of {name!r} is not in the local Hub cache and the Hub cannot be reached ({err})"
        ) from None
    except MISSING_FILE_ERRORS:
        return None
    except Exception as err:  # network, auth, unknown repo or revision
        raise CheckpointError(f"could not get {filename} of {name!r} from the Hugging Face Hub: {err}") from None


def resolve_first(name_or_path: str | os.PathLike, filenames: tuple[str, ...], **hub: Any) -> str:
    """The first of `filenames` that the folder or Hub repo has; `CheckpointError` if none."""
    error = None
    for filename in filenames:
        try:
            path = resolve_file(name_or_path, filename, **hub)
        except CheckpointError as err:
            error = error or err
            continue
        if path is not None:
            return path
    if error is not None:
        raise error
    raise CheckpointError(f"{name_or_path} has no {' or '.join(filenames)}")

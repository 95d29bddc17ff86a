"""What a dataset run reads: the image files of a folder (recursively) or of a list file, their true
classes from the names of their folders, and their masks.

Every image is known by its key: its path relative to the source folder (or to the list file's
folder), with forward slashes; a listed absolute path outside that folder is its own key.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from explain.classes import classes_named
from vit_hybrid.images import image_files


def key_of(path: Path, root: Path) -> str:
    """The key of an image file: its path relative to `root`, or its absolute path outside it."""
    path = Path(os.path.normpath(Path(path).absolute()))  # a listed "a/../b" is "b"
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()


def list_images(source: Path) -> tuple[Path, list[Path]]:
    """The root that keys are relative to, and the image files: every file with an image extension
    under a folder (sorted), or every line of a list file (blank lines and # comments skipped;
    relative paths are relative to the list file's folder)."""
    source = Path(source).absolute()
    if source.is_dir():
        return source, image_files(source)
    if source.is_file():
        lines = (line.strip() for line in source.read_text(encoding="utf-8").splitlines())
        return source.parent, [source.parent / line for line in lines if line and not line.startswith("#")]
    raise SystemExit(f"{source} is neither a folder of images nor a list file")


def folder_classes(folders: set[str], id2label: dict[int, str]) -> tuple[dict[str, int], list[str]]:
    """The class each folder name names (`classes_named`), and a note for each folder that names
    none or more than one. SystemExit when no folder names a class."""
    classes, notes = {}, []
    for folder in sorted(folders):
        matches = classes_named(folder, id2label)
        if len(matches) == 1:
            classes[folder] = next(iter(matches))
        elif matches:
            notes.append(f"folder {folder!r} names {len(matches)} classes ({', '.join(map(str, sorted(matches)))}): its images have no true class")
        else:
            notes.append(f"folder {folder!r} names no class of the model: its images have no true class")
    if not classes:
        examples = ", ".join(repr(label) for label in list(id2label.values())[:5])
        raise SystemExit(f"none of the folders ({', '.join(sorted(folders)) or 'none'}) names a class of the model "
                         f"(its labels are like {examples})")
    return classes, notes


def folder_of(key: str) -> str:
    """The name of the folder an image sits in (its class with --labels-from-folders)."""
    return PurePosixPath(key).parent.name


def mask_path(masks: Path, key: str) -> Path | None:
    """Where the mask of an image is: the same relative path under `masks`, as PNG (None for an
    image outside the source folder)."""
    relative = PurePosixPath(key)
    return None if relative.is_absolute() else masks / relative.with_suffix(".png")


def safe_relative(key: str) -> PurePosixPath:
    """A key as a path that stays inside whatever folder it is joined to (no root, no ..)."""
    return PurePosixPath(*[part for part in PurePosixPath(key).parts if part not in ("/", "..", ".")])

"""The Parquet layout of a dataset run: one row per image file, in part files under DIR/rows/.

A row: "path" (the image's key), "error" (why it could not be explained, else null),
"original_size" [h, w] and "crop_box" [left, top, right, bottom] in original-image pixels,
"predictions" (the top k: index, label, probability), the explained class ("target_index",
"target_label", "target_probability"), the true class when known ("true_index", "true_label"),
and "maps": one record per map asked for, with the JSON form's names (method, class_index,
class_label, layer, head, fusion, discard, stage, grid, values: h rows of w) plus its "name" on
the command line and the metrics computed (else null). The local runner and Ray write the same
schema; a part file is complete or absent (written under a hidden name, then renamed).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

METRICS = ("deletion", "insertion", "random_deletion", "random_insertion", "pointing_game", "energy_inside")
MAP = pa.struct([
    ("name", pa.string()), ("method", pa.string()), ("class_index", pa.int64()), ("class_label", pa.string()),
    ("layer", pa.int64()), ("head", pa.string()), ("fusion", pa.string()), ("discard", pa.float64()),
    ("stage", pa.string()), ("grid", pa.list_(pa.int64())), ("values", pa.list_(pa.list_(pa.float32()))),
    *[(m, pa.bool_() if m == "pointing_game" else pa.float64()) for m in METRICS],
])
PREDICTION = pa.struct([("index", pa.int64()), ("label", pa.string()), ("probability", pa.float64())])
SCHEMA = pa.schema([
    ("path", pa.string()), ("error", pa.string()),
    ("original_size", pa.list_(pa.int64())), ("crop_box", pa.list_(pa.float64())),
    ("predictions", pa.list_(PREDICTION)),
    ("target_index", pa.int64()), ("target_label", pa.string()), ("target_probability", pa.float64()),
    ("true_index", pa.int64()), ("true_label", pa.string()),
    ("maps", pa.list_(MAP)),
])
ROWS = "rows"


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (dicts with SCHEMA's names; missing ones are null) as a table of SCHEMA."""
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def write_part(out: Path, rows: list[dict[str, Any]]) -> Path:
    """Writes rows as a new part file under out/rows/, whole or not at all."""
    folder = out / ROWS
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{uuid.uuid4().hex}.parquet"
    hidden = folder / f".{name}.tmp"  # readers skip names starting with "."
    pq.write_table(to_table(rows), hidden)
    return hidden.replace(folder / name)


def part_files(out: Path) -> list[Path]:
    """The part files of a run (the local runner's and Ray's), sorted."""
    return sorted(p for p in (out / ROWS).glob("*.parquet") if not p.name.startswith((".", "_")))


def done_paths(out: Path) -> tuple[set[str], list[str]]:
    """The keys of the images a run has rows for, and a note for each part file that could not be
    read (left by a process killed while writing it), which is removed so its images are redone."""
    done, notes = set(), []
    for part in part_files(out):
        try:
            done.update(pq.read_table(part, columns=["path"]).column("path").to_pylist())
        except (OSError, pa.ArrowException) as err:
            notes.append(f"removed the incomplete part file {part.name} ({err}); its images are explained again")
            part.unlink()
    for hidden in (out / ROWS).glob(".part-*.tmp"):
        hidden.unlink()
    return done, notes


def read_rows(out: Path, columns: list[str] | None = None) -> pa.Table:
    """Every row of a run (its `columns`, or all), sorted by path."""
    parts = part_files(out)
    if not parts:
        return SCHEMA.empty_table() if columns is None else SCHEMA.empty_table().select(columns)
    return pa.concat_tables([pq.read_table(p, columns=columns, schema=SCHEMA) for p in parts]).sort_by("path")

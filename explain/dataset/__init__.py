"""The dataset runner, a client of the explanation library: every image of a folder explained and
written to Parquet (`python -m explain.dataset`, `run`), locally or on Ray Data (`raydata`), resumable
(`manifest`, `table`), with an HTML report of a finished run (`python -m explain.report`, `report`).
Needs the 'dataset' extra (pyarrow, tqdm; ray for --ray)."""

from .run import main, parse_args

__all__ = ["main", "parse_args"]

"""Command-line entry points, run from the repository root as modules: `python -m scripts.NAME --help`."""

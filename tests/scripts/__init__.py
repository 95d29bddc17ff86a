"""The command-line scripts that have tests (evaluation, training)."""

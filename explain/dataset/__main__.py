"""`python -m explain.dataset`: see `explain.dataset.run`."""

from .run import main

main()

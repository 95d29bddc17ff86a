"""`python -m explain.report OUT`: the HTML report of a finished dataset run. The runner's report
lives in `explain.dataset.report`; this module keeps the command's name and nothing imports it."""

from explain.dataset.report import main

if __name__ == "__main__":
    main()

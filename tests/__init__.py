"""The test suite: tests grouped by the package they test; helpers, the hostile corpus and the
browser in modules of this package (`tests.helpers`, `tests.hostile`, `tests.browser`)."""

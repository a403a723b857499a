"""The test suite: run ``python -m pytest`` from the repository root; shared fixtures live in
``tests.metrics_fixtures`` (tiny datasets, the sample as-of date) and ``tests.pandas_reference``
(the independent pandas implementation of the catalog)."""

"""The metric engine: catalog (data) -> request -> parameterised DuckDB SQL -> results.

Pages, the command line and the tests call :func:`compute` for catalog metrics and the
analysis modules (``funnel``, ``velocity``, ``coverage``, ``coaching``) for the views built on
them; ``benchmarks`` and ``alerts`` hold the benchmark bands (docs/benchmarks.md) and the alert
rules (docs/metrics.md, Alerts) as data and functions.
"""

from engine.metrics.catalog import CATALOG, Metric, get_metric, metric_ids
from engine.metrics.compute import Result, compute
from engine.metrics.request import DIMENSIONS, GRAINS, Period, Request, make_request, parse_period

__all__ = [
    "CATALOG",
    "DIMENSIONS",
    "GRAINS",
    "Metric",
    "Period",
    "Request",
    "Result",
    "compute",
    "get_metric",
    "make_request",
    "metric_ids",
    "parse_period",
]

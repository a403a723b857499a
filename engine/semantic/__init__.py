"""The semantic layer: the metric catalog (data) -> request -> parameterised DuckDB SQL -> results.

Pages, the command line and the tests call :func:`compute` for catalog metrics; the analyses
(``engine.analyses``) build the views on it. ``benchmarks`` holds the benchmark bands
(docs/benchmarks.md) and ``dimensions`` the derived dimensions (segment, region) as data.
"""

from engine.semantic.catalog import CATALOG, Metric, get_metric, metric_ids
from engine.semantic.compute import Result, compute
from engine.semantic.request import DIMENSIONS, GRAINS, Period, Request, make_request, parse_period

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

"""What a dataset implies that the pages ask for on every first view, stored in the file when
it is written: the filter values and period labels of the sidebar (``profile.dataset_profile``)
and where each deal's dimensions come from (``dimensions.dimension_sources``).

:func:`store` is the workspace's ``finish`` hook (the app's and the command line's workspaces
pass it): it runs on every dataset and snapshot before it is published, and again when a
setting that changes them is saved (the segment thresholds). The readers use the stored value
when there is one and compute it live otherwise (a file written without the hook), and a test
holds the two to the same result.
"""

from __future__ import annotations

import json
import math

import duckdb

from engine.core.layout import write_fact
from engine.semantic.dimensions import SOURCES_FACT, live_dimension_sources
from engine.semantic.profile import PROFILE_FACT, live_profile, profile_json


def store(con: duckdb.DuckDBPyConnection) -> None:
    """Compute and store every fact of the dataset open for writing on ``con``."""
    write_fact(con, PROFILE_FACT, profile_json(live_profile(con)))
    records = live_dimension_sources(con).to_dict("records")
    for r in records:  # NaN is not JSON: no deal loaded gives no share
        if isinstance(r["share"], float) and math.isnan(r["share"]):
            r["share"] = None
    write_fact(con, SOURCES_FACT, json.dumps(records, default=int))

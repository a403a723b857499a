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
from engine.semantic.compile import stage_visits
from engine.semantic.dimensions import SOURCES_FACT, live_dimension_sources
from engine.semantic.profile import PROFILE_FACT, live_profile, profile_json
from engine.semantic.request import make_request
from engine.semantic.sql import STAGE_MEDIANS, STAGE_VISITS, Sql


def store(con: duckdb.DuckDBPyConnection) -> None:
    """Compute and store every fact of the dataset open for writing on ``con``."""
    store_stage_tables(con)
    write_fact(con, PROFILE_FACT, profile_json(live_profile(con)))
    records = live_dimension_sources(con).to_dict("records")
    for r in records:  # NaN is not JSON: no deal loaded gives no share
        if isinstance(r["share"], float) and math.isnan(r["share"]):
            r["share"] = None
    write_fact(con, SOURCES_FACT, json.dumps(records, default=int))


def store_stage_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The per-stage tables (``sql.STORED_TABLES``), from every history row, by the same SQL
    the metrics derive them with when a file has none (``compile.stage_visits``,
    ``Sql.stage_medians``). Written again on every call (a setting saved)."""
    q = Sql(make_request(["time_in_stage_days"], period="all"))  # every deal: no narrowing
    stage_visits(q)
    visits = q.render(
        "SELECT opportunity_id, stage_canonical, stage_order, entered_at, next_at FROM hist_visits"
    )
    m = Sql(make_request(["pipeline_aging"], period="all"))
    m.stage_medians()
    medians = m.render("SELECT stage, med FROM stage_median")
    for table, sql, params in (
        (STAGE_VISITS, visits, q.params),
        (STAGE_MEDIANS, medians, m.params),
    ):
        con.execute(f"CREATE OR REPLACE TABLE {table} AS {sql}", params)

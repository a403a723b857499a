"""The floor of the browser benchmark (``benchmarks/browser.py``): the least a Streamlit page
can do to turn an uploaded deals CSV into a chart.

Upload -> write the bytes to a temporary file -> DuckDB ``read_csv`` into a table -> one
Altair bar chart (deals per stage) via ``st.altair_chart``. Nothing else: no mapping, no
typing, no validation, no stored dataset. Run it with
``streamlit run benchmarks/minimal_app.py --server.maxUploadSize 4000``.
"""

from __future__ import annotations

import os
import tempfile

import altair as alt
import duckdb
import streamlit as st

# The stage column of the benchmark's files: the wide generator's, the Maven layout's and a
# Salesforce Opportunity export's.
STAGE_COLUMNS = ("stage", "deal_stage", "StageName")


def stage_column(columns: list[str]) -> str | None:
    """The column the chart counts deals by (from the allow-list), None when there is none."""
    return next((name for name in STAGE_COLUMNS if name in columns), None)


def main() -> None:
    """The page: the uploader, then the chart once a file is there."""
    upload = st.file_uploader("Deals CSV", type=["csv"])
    if upload is None:
        return
    fd, path = tempfile.mkstemp(suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(upload.getbuffer())
        con = duckdb.connect()
        con.execute("CREATE TABLE deals AS SELECT * FROM read_csv(?)", [path])
        columns = [row[0] for row in con.execute("DESCRIBE deals").fetchall()]
        col = stage_column(columns)
        counts = None
        if col is not None:  # an identifier from the allow-list only
            counts = con.execute(
                f'SELECT "{col}" AS stage, count(*) AS deals FROM deals GROUP BY 1 ORDER BY 1'
            ).df()
        con.close()
    finally:
        os.unlink(path)
    if counts is None:
        st.error(f"No stage column: expected one of {', '.join(STAGE_COLUMNS)}.")
        return
    chart = (
        alt.Chart(counts)
        .mark_bar()
        .encode(x=alt.X("stage:N", title="Stage"), y="deals:Q", tooltip=["stage", "deals"])
    )
    st.altair_chart(chart, width="stretch")


if __name__ == "__main__":  # as streamlit runs it; an import (the tests) draws nothing
    main()

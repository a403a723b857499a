"""Compiled SQL per metric, compared with tests/snapshots/sql/<metric>.sql.

Snapshots are regenerated, never edited by hand: ``UPDATE_SNAPSHOTS=1 pytest
tests/test_metrics_snapshots.py``. The snapshot request groups by owner and month and filters on
segment, so the bound-parameter placeholders show in every file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.semantic import make_request, metric_ids
from engine.semantic.compile import compile_metric

SNAPSHOTS = Path(__file__).parent / "snapshots" / "sql"
REQUEST = dict(
    period="2026-Q3", grain="month", by=["owner"], filters={"segment": ["SMB"]}, as_of="2026-11-22"
)


@pytest.mark.parametrize("mid", metric_ids())
def test_sql_snapshot(mid):
    c = compile_metric(mid, make_request([mid], **REQUEST))
    text = f"-- params: {c.params!r}\n{c.sql}"
    path = SNAPSHOTS / f"{mid}.sql"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot for {mid}: run with UPDATE_SNAPSHOTS=1"
    assert path.read_text(encoding="utf-8") == text


def test_no_user_value_in_sql():
    for mid in metric_ids():
        c = compile_metric(mid, make_request([mid], **REQUEST))
        assert "SMB" not in c.sql and "2026-07-01" not in c.sql

"""Facts stored with a dataset when it is written (engine/semantic/facts.py): the sidebar's
filter values and periods, and where dimensions come from, equal what the tables give live,
for a dataset, each of its snapshots, and after the segment thresholds change."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from engine.analyses import quality
from engine.core.layout import FACTS, read_fact, write_fact
from engine.load.samples import ensure_sample_dataset
from engine.semantic import dimensions, facts, profile
from engine.store.workspace import Workspace


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path_factory.mktemp("facts") / "ws", finish=facts.store)
    token = ensure_sample_dataset(ws)
    yield ws, token
    ws.close()


def test_every_snapshot_is_written_with_its_facts(stored) -> None:  # type: ignore[no-untyped-def]
    ws, token = stored
    snaps = ws.snapshots(token)
    assert len(snaps) >= 2  # the sample has an earlier export
    for snap in snaps:
        with ws.cursor(snap.key) as cur:
            assert read_fact(cur, profile.PROFILE_FACT) is not None
            assert read_fact(cur, dimensions.SOURCES_FACT) is not None
            # the stored values are what the tables give now
            assert quality.dataset_profile(cur) == profile.live_profile(cur)
            pd.testing.assert_frame_equal(
                dimensions.dimension_sources(cur), dimensions.live_dimension_sources(cur)
            )


def test_the_stored_profile_is_read_not_recomputed(stored) -> None:  # type: ignore[no-untyped-def]
    ws, token = stored
    with ws.cursor(token) as cur:
        data = json.loads(read_fact(cur, profile.PROFILE_FACT) or "{}")
        live = profile.live_profile(cur)
    assert data["options"] == live.options and data["periods"] == live.periods
    assert data["as_of"] == live.as_of == "2026-11-20"  # the bundled export's day
    assert "2026-Q4" in data["periods"] and data["periods"][0] == "all"


def test_a_file_written_without_facts_is_read_live(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")  # no finish hook: no facts table at all
    try:
        token = ensure_sample_dataset(ws)
        with ws.cursor(token) as cur:
            tables = {
                r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
            assert FACTS not in tables
            assert read_fact(cur, profile.PROFILE_FACT) is None
            found = quality.dataset_profile(cur)
            assert found == profile.live_profile(cur)
            assert found.options["owner"]  # the sample's reps
    finally:
        ws.close()


def test_readers_use_the_stored_facts_and_a_saved_setting_refreshes_them(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ws = Workspace(root, finish=facts.store)
    token = ensure_sample_dataset(ws)
    path = ws.path(token)
    ws.close()
    stale = profile.Profile({"owner": ["Nobody"]}, ["all", "1999"], "1999-12-31")
    writer = duckdb.connect(str(path))
    try:
        write_fact(writer, profile.PROFILE_FACT, profile.profile_json(stale))
    finally:
        writer.close()
    ws = Workspace(root, finish=facts.store)
    try:
        with ws.cursor(token) as cur:
            assert quality.dataset_profile(cur) == stale  # the stored value, not recomputed
        dimensions.save_segment_thresholds(ws, token, dimensions.Thresholds(0.5, 1))
        with ws.cursor(token) as cur:
            assert dimensions.segment_thresholds(cur) == dimensions.Thresholds(0.5, 1)
            fresh = quality.dataset_profile(cur)
            assert fresh == profile.live_profile(cur) and fresh != stale
            assert fresh.as_of == "2026-11-20"
            pd.testing.assert_frame_equal(
                dimensions.dimension_sources(cur), dimensions.live_dimension_sources(cur)
            )
    finally:
        ws.close()


# --------------------------------------------------------------------------- per-stage tables
STAGE_REQUESTS = [
    {"metrics": ["time_in_stage_days"], "period": "all"},
    {"metrics": ["time_in_stage_days"], "period": "2026-Q3", "by": ["stage"]},
    {"metrics": ["time_in_stage_days"], "period": "2026", "grain": "month"},
    {
        "metrics": ["time_in_stage_days"],
        "period": "all",
        "by": ["segment"],
        "exclude_outliers": True,
    },
    {"metrics": ["pipeline_aging"], "period": "all"},
    {"metrics": ["pipeline_aging"], "period": "2026-Q4", "by": ["owner"]},
    {"metrics": ["stale_deals", "pipeline_aging"], "period": "all", "by": ["stage"]},
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path_factory.mktemp("live") / "ws")  # written without facts
    token = ensure_sample_dataset(ws)
    yield ws, token
    ws.close()


@pytest.mark.parametrize("spec", STAGE_REQUESTS, ids=lambda s: "-".join(map(str, s.values())))
def test_stored_stage_tables_give_the_live_numbers(stored, live, spec) -> None:  # type: ignore[no-untyped-def]
    from engine.semantic import compute, make_request
    from engine.semantic.compute import stored_tables
    from engine.semantic.sql import STAGE_MEDIANS, STAGE_VISITS

    req = make_request(**spec, as_of="2026-11-20")
    (ws, token), (lws, ltoken) = stored, live
    with ws.cursor(token) as cur, lws.cursor(ltoken) as lcur:
        assert stored_tables(cur) == {STAGE_VISITS, STAGE_MEDIANS}
        assert stored_tables(lcur) == frozenset()
        fast, slow = compute(cur, req), compute(lcur, req)
    assert ("_stage_" in fast.sql) and ("_stage_" not in slow.sql)
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    assert len(slow.frame) and slow.frame["value"].notna().any()  # numbers, not empty frames


def test_a_request_without_flagged_rows_derives_its_own_stage_tables(stored) -> None:  # type: ignore[no-untyped-def]
    from engine.semantic import compute, make_request

    ws, token = stored
    req = make_request("time_in_stage_days", period="all", exclude_flagged=True)
    with ws.cursor(token) as cur:
        assert "_stage_" not in compute(cur, req).sql

"""Coaching analysis: one rep against the median of the reps in the same segment and ramp
stage (never a blended team average)."""

from __future__ import annotations

import duckdb
import pandas as pd

from engine.metrics.catalog import get_metric
from engine.metrics.coaching import REP_METRICS, peers, rep_tier
from engine.metrics.compute import Result
from engine.metrics.request import Request


def rep_against_peers(con: duckdb.DuckDBPyConnection, request: Request, owner: str) -> Result:
    """Per rep-tier metric: ``rep`` (the rep's value), ``unit``, ``peer_median`` (median over
    the other reps of the same segment and ramp stage), ``peers`` (how many) and ``index``
    (rep / median). The rep's own numbers are always there; without peers (or without a reps
    table) the peer columns are empty and ``notes`` says why."""
    tier = rep_tier(con, request)
    group = peers(con, request, owner).frame
    others = [o for o in group["owner"] if o != owner]
    table = tier.frame.set_index("owner").reindex(columns=list(REP_METRICS)).astype(float)
    mine = table.loc[owner] if owner in table.index else pd.Series(float("nan"), index=REP_METRICS)
    median = (
        table.reindex(others).median() if others else pd.Series(float("nan"), index=REP_METRICS)
    )
    frame = pd.DataFrame(
        {
            "metric": list(REP_METRICS),
            "label": [get_metric(m).name for m in REP_METRICS],
            "unit": [get_metric(m).unit for m in REP_METRICS],
            "rep": mine.to_numpy(),
            "peer_median": median.to_numpy(),
            "peers": len(others),
        }
    )
    frame["index"] = frame["rep"] / frame["peer_median"].where(frame["peer_median"] != 0)
    if not others:
        why = (
            "the rep has no row in the reps table (segment and ramp stage unknown)"
            if group.empty
            else "no other rep in the same segment and ramp stage"
        )
        note = f"No peers: {why}; the rep's own numbers are shown."
        return Result(frame, tier.sql, tier.params, notes=[note, *tier.notes])
    row = group[group["owner"] == owner].iloc[0]
    stage = "ramping" if bool(row["ramping"]) else "ramped"
    note = f"Peers: {len(others)} {stage} reps in segment {row['segment'] or '(none)'}."
    return Result(frame, tier.sql, tier.params, notes=[note, *tier.notes])

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
    """Per rep-tier metric: ``rep`` (the rep's value), ``peer_median`` (median over the other
    reps of the same segment and ramp stage), ``peers`` (how many) and ``index`` (rep /
    median). ``notes`` names the peer group; an empty frame when the rep has no peers."""
    tier = rep_tier(con, request)
    group = peers(con, request, owner).frame
    others = [o for o in group["owner"] if o != owner]
    table = tier.frame.set_index("owner").reindex(columns=list(REP_METRICS)).astype(float)
    cols = ["metric", "label", "rep", "peer_median", "peers", "index"]
    if owner not in table.index or not others:
        return Result(
            pd.DataFrame(columns=cols),
            tier.sql,
            tier.params,
            notes=["No peers in the same segment and ramp stage."],
        )
    mine = table.loc[owner]
    median = table.reindex(others).median()
    frame = pd.DataFrame(
        {
            "metric": list(REP_METRICS),
            "label": [get_metric(m).name for m in REP_METRICS],
            "rep": mine.to_numpy(),
            "peer_median": median.to_numpy(),
            "peers": len(others),
        }
    )
    frame["index"] = frame["rep"] / frame["peer_median"].where(frame["peer_median"] != 0)
    row = group[group["owner"] == owner].iloc[0]
    stage = "ramping" if bool(row["ramping"]) else "ramped"
    note = f"Peers: {len(others)} {stage} reps in segment {row['segment'] or '(none)'}."
    return Result(frame, tier.sql, tier.params, notes=[note, *tier.notes])

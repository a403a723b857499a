"""An independent pandas implementation of the catalog, written from domain.md section 6.

It reads the stored tables as plain frames and never calls the SQL engine; the cross-check
test compares the two on the sample dataset. Only ungrouped values for one bounded period (or
'all') are implemented: that is what the cross-check needs.
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd

RANK = {"lead": 0, "sal": 1, "sql": 2, "opportunity": 3, "proposal": 4, "closed_won": 5}


def _frames(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    out = {}
    for t in ("opportunities", "stage_history", "activities", "reps", "quotas", "leads"):
        out[t] = con.cursor().execute(f'SELECT * FROM "{t}"').df()
    return out


def _in(s: pd.Series, start: dt.date | None, end: dt.date | None) -> pd.Series:
    d = pd.to_datetime(s)
    if start is None or end is None:
        return pd.Series(True, index=s.index)
    return (d >= pd.Timestamp(start)) & (d < pd.Timestamp(end))


def _none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or (isinstance(b, float) and math.isnan(b)):
        return None
    return _none(a / b)


def reference(
    con: duckdb.DuckDBPyConnection,
    start: dt.date | None,
    end: dt.date | None,
    as_of: dt.date,
    ramp_factor: float = 0.7,
) -> dict[str, float | None]:
    f = _frames(con)
    o = f["opportunities"].copy()
    reps = f["reps"].set_index("owner")
    o["seg_rep"] = o["owner"].map(reps["segment"]) if len(reps) else None
    closed_in = o[o["is_closed"] & _in(o["close_date"], start, end)]
    won = closed_in[closed_in["is_won"]]
    r: dict[str, float | None] = {}
    r["won_revenue"] = _none(won["amount"].sum(min_count=1))
    r["won_deals"] = float(len(won))
    r["win_rate"] = _div(len(won), len(closed_in))
    r["avg_deal_size"] = _div(won["amount"].sum(min_count=1), won["amount"].notna().sum())
    cyc = (pd.to_datetime(won["close_date"]) - pd.to_datetime(won["created_date"])).dt.days.dropna()
    r["sales_cycle_days"] = _none(cyc.mean()) if len(cyc) else None
    r["sales_cycle_days.median"] = _none(cyc.median()) if len(cyc) else None
    r["sales_cycle_days.p25"] = _none(cyc.quantile(0.25)) if len(cyc) else None
    created = o[o["created_date"].notna() & _in(o["created_date"], start, end)]
    r["pipeline_created"] = _none(created["amount"].sum(min_count=1))
    open_ = o[~o["is_closed"]]
    open_in = open_[_in(open_["close_date"], start, end)] if start else open_
    r["open_pipeline"] = _none(open_in["amount"].sum(min_count=1))
    prob = open_in["probability"].fillna(open_in["stage_probability"])
    r["weighted_pipeline"] = _none((open_in["amount"] * prob / 100).sum(min_count=1))

    # quotas prorated by overlap days
    q = f["quotas"].copy()
    q["ps"] = pd.to_datetime(q["period_start"])
    q["pe"] = pd.to_datetime(q["period_end"])
    if start is not None:
        lo = q["ps"].clip(lower=pd.Timestamp(start))
        hi = q["pe"].clip(upper=pd.Timestamp(end))
    else:
        lo, hi = q["ps"], q["pe"]
    q["quota"] = q["quota_amount"] * (hi - lo).dt.days / (q["pe"] - q["ps"]).dt.days
    q = q[(hi > lo)]
    hire = (
        pd.to_datetime(q["owner"].map(reps["hire_date"]))
        if len(reps)
        else pd.Series(pd.NaT, index=q.index)
    )
    ramping = hire.notna() & (q["ps"] < hire + pd.DateOffset(months=12))
    q["quota_r"] = q["quota"] * np.where(ramping, ramp_factor, 1.0)
    qo = q.groupby("owner")[["quota", "quota_r"]].sum()
    qo = qo[qo["quota"] > 0]
    won_by = won.groupby("owner")["amount"].sum()
    tot_q = qo["quota"].sum() if len(qo) else None
    r["pipeline_coverage"] = _div(_none(open_in["amount"].sum(min_count=1)), tot_q)
    won_q = won_by.reindex(qo.index).fillna(0).sum() if len(qo) else None
    r["quota_attainment"] = _div(won_q, tot_q)
    r["ramp_adjusted_attainment"] = _div(won_q, qo["quota_r"].sum() if len(qo) else None)
    att = won_by.reindex(qo.index).fillna(0) / qo["quota"]
    r["quota_attainment.share_at_or_above_100"] = _none((att >= 1).mean()) if len(att) else None
    r["quota_attainment.median"] = _none(att.median()) if len(att) else None
    if len(qo):
        n_reps = len(qo)
    else:
        touched = o[_in(o["created_date"], start, end) & o["created_date"].notna()]["owner"]
        touched2 = o[_in(o["close_date"], start, end) & o["close_date"].notna()]["owner"]
        n_reps = len(set(touched) | set(touched2))
    r["revenue_per_rep"] = _div(r["won_revenue"], n_reps)

    # velocity
    levers = [float(len(created)), r["win_rate"], r["avg_deal_size"], r["sales_cycle_days"]]
    if any(x is None for x in levers) or levers[3] == 0:
        r["sales_velocity"] = None
    else:
        r["sales_velocity"] = levers[0] * levers[1] * levers[2] / levers[3]  # type: ignore[operator]

    # stage conversion: reached rule of section 5
    h = f["stage_history"].copy()
    h = h[h["entered_at"].notna()]
    h["canon"] = h["stage_canonical"].fillna("opportunity")
    hr = (
        h[h["canon"] != "closed_lost"]
        .assign(rank=lambda x: x["canon"].map(RANK))
        .groupby("opportunity_id")["rank"]
        .max()
    )
    has_h = set(h["opportunity_id"])
    reached = []
    for _, row in created.iterrows():
        canon = row["stage_canonical"] or "opportunity"
        cur = -1 if canon == "closed_lost" else RANK.get(canon, 3)
        if row["opportunity_id"] in has_h:
            hm = hr.get(row["opportunity_id"], -1)
            val = max(-1 if pd.isna(hm) else hm, cur)
        else:
            val = 3 if canon == "closed_lost" else cur
        reached.append(max(3, val))
    rs = pd.Series(reached, dtype=float)
    r["stage_conversion"] = _div(float((rs >= 5).sum()), float((rs >= 3).sum()))
    r["stage_conversion.opportunity_to_proposal"] = _div(
        float((rs >= 4).sum()), float((rs >= 3).sum())
    )

    # time in stage: canonical visits
    hh = h.sort_values(["opportunity_id", "entered_at", "stage_order"])
    hh["prev"] = hh.groupby("opportunity_id")["canon"].shift()
    vis = hh[hh["prev"].isna() | (hh["prev"] != hh["canon"])].copy()
    vis["next"] = vis.groupby("opportunity_id")["entered_at"].shift(-1)
    vis = vis[vis["next"].notna() & ~vis["canon"].isin(["closed_won", "closed_lost"])]
    vis = vis[vis["opportunity_id"].isin(set(o["opportunity_id"]))]
    vis = vis[_in(vis["entered_at"], start, end)]
    days = (vis["next"] - vis["entered_at"]).dt.total_seconds() / 86400
    r["time_in_stage_days"] = _none(days.mean()) if len(days) else None
    r["time_in_stage_days.median"] = _none(days.median()) if len(days) else None

    # aging and stale (snapshot)
    hs = h.sort_values(["opportunity_id", "entered_at", "stage_order"]).copy()
    hs["next"] = hs.groupby("opportunity_id")["entered_at"].shift(-1)
    comp = hs[hs["next"].notna()]
    med = (
        ((comp["next"] - comp["entered_at"]).dt.total_seconds() / 86400)
        .groupby(comp["stage"])
        .median()
    )
    last_entry = h.groupby(["opportunity_id", "stage"])["entered_at"].max()
    ages = []
    for _, row in open_.iterrows():
        key = (row["opportunity_id"], row["stage"])
        if key in last_entry.index:
            entry = last_entry[key].date()
        elif pd.notna(row["created_date"]):
            entry = pd.Timestamp(row["created_date"]).date()
        else:
            continue
        ages.append((row["stage"], (as_of - entry).days))
    ag = pd.DataFrame(ages, columns=["stage", "days"])
    if len(ag):
        fallback = ag.groupby("stage")["days"].median()
        ag["med"] = ag["stage"].map(med).fillna(ag["stage"].map(fallback))
        r["pipeline_aging"] = _none((ag["days"] > 1.5 * ag["med"]).mean())
        r["stale_deals"] = float((ag["days"] > 60).sum())
    else:
        r["pipeline_aging"] = None
        r["stale_deals"] = 0.0

    # activities per opportunity
    a = f["activities"]
    n_act = float(_in(a["activity_date"], start, end).sum()) if len(a) else 0.0
    r["activities_per_opportunity"] = _div(n_act, float(len(created)))

    # lead response
    ld = f["leads"].copy()
    ld = ld[_in(ld["created_date"], start, end)]
    first_act = a[a["lead_id"].notna()].groupby("lead_id")["activity_date"].min()
    hours = []
    for _, row in ld.iterrows():
        if pd.notna(row["first_response_at"]):
            hrs = (row["first_response_at"] - row["created_date"]).total_seconds() / 3600
        elif row["lead_id"] in first_act.index:
            hrs = max(
                0.0,
                (pd.Timestamp(first_act[row["lead_id"]]) - row["created_date"]).total_seconds()
                / 3600,
            )
        else:
            continue
        if hrs >= 0:
            hours.append(hrs)
    hs_ = pd.Series(hours, dtype=float)
    r["lead_response_hours"] = _none(hs_.mean()) if len(hs_) else None
    r["lead_response_hours.median"] = _none(hs_.median()) if len(hs_) else None

    # forecast accuracy
    if start is None or len(h) == 0:
        r["forecast_accuracy"] = None
    else:
        ps = pd.Timestamp(start)
        due = o[o["close_date"].notna() & _in(o["close_date"], start, end)]
        before = h[h["entered_at"] < ps].sort_values(["entered_at", "stage_order"])
        last = before.groupby("opportunity_id").tail(1).set_index("opportunity_id")
        fc = 0.0
        for _, row in due.iterrows():
            if row["opportunity_id"] not in last.index:
                continue
            st = last.loc[row["opportunity_id"]]
            if st["canon"] in ("closed_won", "closed_lost"):
                continue
            amt = st["amount"] if pd.notna(st["amount"]) else row["amount"]
            p = st["probability"] if pd.notna(st["probability"]) else st["stage_probability"]
            if pd.notna(amt) and pd.notna(p):
                fc += amt * p / 100
        actual = due[due["is_won"]]["amount"].sum(min_count=1)
        r["forecast_accuracy"] = (
            None if pd.isna(actual) or actual == 0 else 1 - abs(fc - actual) / actual
        )
    return r

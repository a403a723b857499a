"""An independent pandas implementation of the catalog, written from docs/metrics.md.

It reads the raw sample CSVs with pandas (never the app's loader, never the SQL engine) and
applies the documented load rules itself: the Salesforce standard stage map of docs/data.md
(Stage map: canonical stage, order, default probability; an unknown stage counts as an open
``opportunity``), is_closed / is_won from the stage map when the file has none, and an empty
owner shown as "(unassigned)" (Row rules). The cross-check test compares it with the engine on
the dataset the app loads; ``benchmarks/metrics.py`` times it as the pandas baseline.

Only ungrouped values for one bounded period (or 'all') are implemented: that is what the
cross-check needs. Everything is vectorised so the same code serves the benchmark at 1M deals.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd

RANK = {"lead": 0, "sal": 1, "sql": 2, "opportunity": 3, "proposal": 4, "closed_won": 5}
TABLES = ("opportunities", "stage_history", "activities", "reps", "quotas", "leads")
UNASSIGNED = "(unassigned)"

# Salesforce standard stage map (docs/data.md, Stage map): stage -> (canonical, order, probability).
SF_STAGES: dict[str, tuple[str, int, float]] = {
    "Prospecting": ("opportunity", 1, 10),
    "Qualification": ("opportunity", 2, 10),
    "Needs Analysis": ("opportunity", 3, 20),
    "Value Proposition": ("opportunity", 4, 50),
    "Id. Decision Makers": ("opportunity", 5, 60),
    "Perception Analysis": ("opportunity", 6, 70),
    "Proposal/Price Quote": ("proposal", 7, 75),
    "Negotiation/Review": ("proposal", 8, 90),
    "Closed Won": ("closed_won", 9, 100),
    "Closed Lost": ("closed_lost", 10, 0),
}
DATES = {
    "opportunities": ("created_date", "close_date"),
    "stage_history": ("entered_at",),
    "activities": ("activity_date",),
    "reps": ("hire_date",),
    "quotas": ("period_start", "period_end"),
    "leads": ("created_date", "sal_date", "sql_date", "converted_date", "first_response_at"),
}
NUMBERS = {
    "opportunities": ("amount", "probability"),
    "stage_history": ("amount", "probability"),
    "activities": ("duration_minutes", "discovery_score"),
    "quotas": ("quota_amount",),
}
BOOL = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _stage_columns(df: pd.DataFrame) -> pd.DataFrame:
    known = df["stage"].map(lambda s: SF_STAGES.get(s))
    df["stage_canonical"] = known.map(lambda t: t[0] if t else "opportunity")
    df["stage_order"] = known.map(lambda t: t[1] if t else 0)
    df["stage_probability"] = known.map(lambda t: float(t[2]) if t else np.nan)
    return df


def read_frames(folder: Path | str) -> dict[str, pd.DataFrame]:
    """Read the canonical-header CSVs of ``folder`` into typed frames (missing files: empty)."""
    folder = Path(folder)
    out: dict[str, pd.DataFrame] = {}
    for t in TABLES:
        path = folder / f"{t}.csv"
        # "NA" is a region, not a missing value: only empty cells are missing.
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        for c in DATES.get(t, ()):
            if c in df.columns:
                df[c] = pd.to_datetime(df[c])
        for c in NUMBERS.get(t, ()):
            if c in df.columns:
                df[c] = pd.to_numeric(df[c])
        if "owner" in df.columns:
            blank = df["owner"].isna() | (df["owner"].str.strip() == "")
            df["owner"] = df["owner"].where(~blank, UNASSIGNED)
        if t in ("opportunities", "stage_history"):
            df = _stage_columns(df)
        if t == "opportunities":
            canon = df["stage_canonical"]
            for col, from_stage in (
                ("is_closed", canon.isin(["closed_won", "closed_lost"])),
                ("is_won", canon == "closed_won"),
            ):
                given = df[col].str.lower().map(BOOL) if col in df.columns else None
                df[col] = (
                    given.where(given.notna(), from_stage).astype(bool)
                    if given is not None
                    else from_stage
                )
        out[t] = df
    return out


def _in(s: pd.Series, start: dt.date | None, end: dt.date | None) -> pd.Series:
    if start is None or end is None:
        return pd.Series(True, index=s.index)
    d = pd.to_datetime(s)
    return (d >= pd.Timestamp(start)) & (d < pd.Timestamp(end))


def _iqr(x: pd.Series) -> pd.Series:
    """Values inside Tukey's fences: p25 - 1.5 IQR .. p75 + 1.5 IQR (linear quartiles)."""
    if not len(x):
        return x
    q1, q3 = x.quantile(0.25), x.quantile(0.75)
    return x[(x >= q1 - 1.5 * (q3 - q1)) & (x <= q3 + 1.5 * (q3 - q1))]


def _none(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or (isinstance(b, float) and math.isnan(b)):
        return None
    return _none(a / b)


def reference(
    folder: Path | str,
    start: dt.date | None,
    end: dt.date | None,
    as_of: dt.date,
    ramp_factor: float = 0.7,
) -> dict[str, float | None]:
    """Every catalog metric for the period, read from the CSVs in ``folder``."""
    return reference_from_frames(read_frames(folder), start, end, as_of, ramp_factor)


def reference_from_frames(
    f: dict[str, pd.DataFrame],
    start: dt.date | None,
    end: dt.date | None,
    as_of: dt.date,
    ramp_factor: float = 0.7,
    only: Collection[str] | None = None,
    exclude_outliers: bool = False,
) -> dict[str, float | None]:
    """The metrics from frames of :func:`read_frames`; ``only`` limits the work to some ids;
    ``exclude_outliers`` applies the IQR rule to the cycle metrics."""

    def want(*ids: str) -> bool:
        return only is None or any(i in only for i in ids)

    o = f["opportunities"]
    reps = f["reps"].set_index("owner")
    closed_in = o[o["is_closed"] & _in(o["close_date"], start, end)]
    won = closed_in[closed_in["is_won"]]
    r: dict[str, float | None] = {}
    r["won_revenue"] = _none(won["amount"].sum(min_count=1))
    r["won_deals"] = float(len(won))
    r["win_rate"] = _div(len(won), len(closed_in))
    r["avg_deal_size"] = _div(won["amount"].sum(min_count=1), won["amount"].notna().sum())
    cyc = (won["close_date"] - won["created_date"]).dt.days.dropna()
    cyc = cyc[cyc >= 0]  # close before created: left out of the cycle only (docs/metrics.md)
    if exclude_outliers:
        cyc = _iqr(cyc)
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

    if want("pipeline_coverage", "quota_attainment", "ramp_adjusted_attainment", "revenue_per_rep"):
        # quotas prorated by overlap days
        q = f["quotas"].copy()
        q["ps"] = q["period_start"]
        q["pe"] = q["period_end"]
        if start is not None:
            lo = q["ps"].clip(lower=pd.Timestamp(start))
            hi = q["pe"].clip(upper=pd.Timestamp(end))
        else:
            lo, hi = q["ps"], q["pe"]
        q["quota"] = q["quota_amount"] * (hi - lo).dt.days / (q["pe"] - q["ps"]).dt.days
        q = q[(hi > lo)]
        hire = q["owner"].map(reps["hire_date"]) if len(reps) else pd.Series(pd.NaT, index=q.index)
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

    h = f["stage_history"]
    h = h[h["entered_at"].notna()]
    h = h.assign(canon=h["stage_canonical"].fillna("opportunity"))
    # history of deals closed before they were created: out of time in stage and stage medians
    no_cycle = set(o.loc[o["close_date"] < o["created_date"], "opportunity_id"])
    h_cycle = h[~h["opportunity_id"].isin(no_cycle)]

    if want("stage_conversion"):
        # stage conversion: the 'reached' rule of docs/metrics.md, Funnel metrics
        hr = (
            h[h["canon"] != "closed_lost"]
            .assign(rank=lambda x: x["canon"].map(RANK))
            .groupby("opportunity_id")["rank"]
            .max()
        )
        canon = created["stage_canonical"].fillna("opportunity")
        cur = canon.map(RANK).fillna(3).where(canon != "closed_lost", -1)
        has_h = created["opportunity_id"].isin(set(h["opportunity_id"]))
        hmax = created["opportunity_id"].map(hr).fillna(-1)
        with_hist = np.maximum(hmax, cur)
        without = cur.where(canon != "closed_lost", 3)
        rs = np.maximum(3, with_hist.where(has_h, without)).astype(float)
        r["stage_conversion"] = _div(float((rs >= 5).sum()), float((rs >= 3).sum()))
        r["stage_conversion.opportunity_to_proposal"] = _div(
            float((rs >= 4).sum()), float((rs >= 3).sum())
        )

    if want("time_in_stage_days"):
        # time in stage: canonical visits
        hh = h_cycle.sort_values(["opportunity_id", "entered_at", "stage_order"])
        prev = hh.groupby("opportunity_id")["canon"].shift()
        vis = hh[prev.isna() | (prev != hh["canon"])].copy()
        vis["next"] = vis.groupby("opportunity_id")["entered_at"].shift(-1)
        vis = vis[vis["next"].notna() & ~vis["canon"].isin(["closed_won", "closed_lost"])]
        vis = vis[vis["opportunity_id"].isin(set(o["opportunity_id"]))]
        vis = vis[_in(vis["entered_at"], start, end)]
        days = (vis["next"] - vis["entered_at"]).dt.total_seconds() / 86400
        if exclude_outliers:
            days = _iqr(days)
        r["time_in_stage_days"] = _none(days.mean()) if len(days) else None
        r["time_in_stage_days.median"] = _none(days.median()) if len(days) else None

    if want("pipeline_aging", "stale_deals"):
        # aging and stale (snapshot): current CRM stage entered at its latest history row
        hs = h_cycle.sort_values(["opportunity_id", "entered_at", "stage_order"])
        nxt = hs.groupby("opportunity_id")["entered_at"].shift(-1)
        comp = nxt.notna()
        med = (
            ((nxt[comp] - hs["entered_at"][comp]).dt.total_seconds() / 86400)
            .groupby(hs["stage"][comp])
            .median()
        )
        last_entry = (
            h.groupby(["opportunity_id", "stage"])["entered_at"].max().rename("last").reset_index()
        )
        ag = open_[["opportunity_id", "stage", "created_date"]].merge(
            last_entry, on=["opportunity_id", "stage"], how="left"
        )
        entry = ag["last"].dt.normalize().fillna(ag["created_date"])
        ag = ag.assign(days=(pd.Timestamp(as_of) - entry).dt.days)[entry.notna()]
        if len(ag):
            fallback = ag.groupby("stage")["days"].median()
            stage_med = ag["stage"].map(med).fillna(ag["stage"].map(fallback))
            r["pipeline_aging"] = _none((ag["days"] > 1.5 * stage_med).mean())
            r["stale_deals"] = float((ag["days"] > 60).sum())
        else:
            r["pipeline_aging"] = None
            r["stale_deals"] = 0.0

    a = f["activities"]
    if want("activities_per_opportunity"):
        n_act = float(_in(a["activity_date"], start, end).sum()) if len(a) else 0.0
        r["activities_per_opportunity"] = _div(n_act, float(len(created)))

    if want("opportunities_created"):
        # 'all' has no period bound, so a deal with an empty created_date counts there too
        every = start is None and end is None
        r["opportunities_created"] = float(len(o) if every else len(created))
    if want("activity_count"):
        # null without an activities file; 0 when it has none in the period
        r["activity_count"] = float(_in(a["activity_date"], start, end).sum()) if len(a) else None
    if want("discovery_score"):
        scored = a[a["discovery_score"].notna() & _in(a["activity_date"], start, end)]
        r["discovery_score"] = _none(scored["discovery_score"].mean()) if len(scored) else None

    if want("lead_response_hours"):
        # first_response_at, else the first activity on the lead (midnight, floored at 0)
        ld = f["leads"]
        ld = ld[_in(ld["created_date"], start, end)]
        first_act = a[a["lead_id"].notna()].groupby("lead_id")["activity_date"].min()
        direct = (ld["first_response_at"] - ld["created_date"]).dt.total_seconds() / 3600
        via_act = (
            (ld["lead_id"].map(first_act) - ld["created_date"]).dt.total_seconds() / 3600
        ).clip(lower=0)
        hours = direct.where(ld["first_response_at"].notna(), via_act).dropna()
        hours = hours[hours >= 0]
        # the median is the value; the mean beside it
        r["lead_response_hours"] = _none(hours.median()) if len(hours) else None
        r["lead_response_hours.mean"] = _none(hours.mean()) if len(hours) else None
        r["lead_response_hours.median"] = _none(hours.median()) if len(hours) else None

    if want("lead_velocity_rate"):
        # SQLs by sql_date, or every lead by created_date when no lead has an sql_date;
        # (this period - the previous one of the same length) / the previous one
        ld = f["leads"]
        d = ld["sql_date"] if ld["sql_date"].notna().any() else ld["created_date"]
        if start is None or end is None:
            r["lead_velocity_rate"] = None
        else:
            if start.day == 1 and end.day == 1:
                n = (end.year - start.year) * 12 + end.month - start.month
                p_start = (pd.Timestamp(start) - pd.DateOffset(months=n)).date()
            else:
                p_start = start - (end - start)
            now = float(_in(d, start, end).sum())
            before = float(_in(d, p_start, start).sum())
            r["lead_velocity_rate"] = _div(now - before, before)

    if want("forecast_accuracy"):
        # no history row before the start: the forecast cannot be rebuilt (null, not 0)
        if start is None or not (h["entered_at"] < pd.Timestamp(start)).any():
            r["forecast_accuracy"] = None
        else:
            ps = pd.Timestamp(start)
            due = o[o["close_date"].notna() & _in(o["close_date"], start, end)]
            before = h[h["entered_at"] < ps].sort_values(["entered_at", "stage_order"])
            last = before.groupby("opportunity_id").tail(1)
            st = due[["opportunity_id", "amount"]].merge(
                last[["opportunity_id", "canon", "amount", "probability", "stage_probability"]],
                on="opportunity_id",
                suffixes=("_deal", ""),
            )
            st = st[~st["canon"].isin(["closed_won", "closed_lost"])]
            amt = st["amount"].fillna(st["amount_deal"])
            p = st["probability"].fillna(st["stage_probability"])
            fc = float((amt * p / 100).sum())
            actual = due[due["is_won"]]["amount"].sum(min_count=1)
            r["forecast_accuracy"] = (
                None if pd.isna(actual) or actual == 0 else 1 - abs(fc - actual) / actual
            )
    return r

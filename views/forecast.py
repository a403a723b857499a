"""Forecast page (docs/metrics.md, "Forecast backtest"): the current quarter projected by four
methods, best by backtest first; the backtest of every past quarter at three checkpoints; bias
in words; "See the math" for any cell; the stage rates learned against the defaults. The
quarter, checkpoint and method of "See the math" are in the link."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from engine.analyses import backtest as bt_engine
from engine.semantic import make_request
from views import charts, common, state
from views import format as fmt

CHECKPOINT_PARAMS = {"start": "start", "week4": "week 4", "week8": "week 8"}


def cp_key(qs: dt.date, cp: dt.date) -> str:
    """A checkpoint in a link: start, week4, week8, or now (the projection's)."""
    days = (cp - qs).days
    return next(
        (k for k, v in CHECKPOINT_PARAMS.items() if bt_engine.CHECKPOINTS[v] == days), "now"
    )


st.header("Forecast")
info, view, prof = common.analysis_context()
req = make_request("forecast_accuracy", period=view.period, filters=view.filters, as_of=prof.as_of)


def money(v: object) -> str:
    return fmt.value(v, "currency")


def pct(v: object) -> str:
    return fmt.value(v, "ratio")


def bias_words(label: str, bias: float | None, n: int) -> str:
    if bias is None or pd.isna(bias):
        return f"{label}: n/a (no quarter with a won amount to compare)."
    way = "over-forecast" if bias > 0 else "under-forecast"
    if abs(bias) < 0.005:
        return f"{label}: no bias on average over {n} forecasts."
    return f"{label} {way} by {abs(bias):.0%} on average ({n} forecasts)."


with common.error_boundary():
    bt = common.backtest(req)
    cur = bt.current
    summary = bt.summary.set_index("method")
    labels = bt_engine.METHOD_LABELS

    # -- projection -------------------------------------------------------------------------
    if cur is None:
        st.info(f"Forecast n/a: {bt.reason}.", icon=":material/info:")
        st.stop()
    qlabel = bt_engine.quarter_label(cur.quarter)
    st.subheader(f"Projection for {qlabel}")
    proj = bt.projection.copy()
    known = proj["forecast"].dropna()
    cols = st.columns(len(proj))
    for col, r in zip(cols, proj.to_dict("records"), strict=True):
        acc = summary.loc[r["method"], "mean_accuracy"]
        note = (
            f"backtest accuracy {pct(acc)}"
            if not fmt.missing(acc)
            else "not backtested"
            if r["forecast"] is not None
            else None
        )
        why = (
            "n/a: needs an earlier quarter whose pipeline can be rebuilt"
            if r["method"] != "naive"
            else "n/a: no won revenue of the previous quarter in the data"
        )
        title = ("Best: " if r["rank"] == 1 and bt.reason is None else "") + r["label"]
        fmt.metric(col, title, r["forecast"], "currency", note, why_na=why)
    if len(known) >= 2:
        st.markdown(
            f"The methods range from **{money(known.min())}** to **{money(known.max())}** for "
            f"{qlabel} (a spread of {money(known.max() - known.min())}): that spread is the "
            "honest uncertainty of the forecast."
        )
    pieces = [
        f"won so far {money(cur.won_to_date)}",
        f"{int(cur.pipeline['deals'].sum()):,} open deals due in {qlabel} with history",
        "expected new business "
        + (money(cur.new_business) if cur.new_business is not None else "n/a"),
    ]
    st.markdown(
        f"As of {bt.as_of.isoformat()}: " + common.escape("; ".join(pieces)) + ". "
        "Best method by backtest first."
        if bt.reason is None
        else f"As of {bt.as_of.isoformat()}: " + common.escape("; ".join(pieces)) + "."
    )
    if bt.reason:
        st.info(f"Backtest n/a: {bt.reason}.", icon=":material/history:")

    tabs = st.tabs(["Backtest", "See the math", "Stage rates"])
    res = bt.results.assign(label=lambda d: d["method"].map(labels))

    # -- backtest ---------------------------------------------------------------------------
    with tabs[0]:
        if res.empty:
            st.info(f"No past quarter can be backtested: {bt.reason}.", icon=":material/info:")
        else:
            quarters = res["period"].nunique()
            st.markdown(
                f"{quarters} past {'quarter' if quarters == 1 else 'quarters'} rebuilt at the "
                "quarter start, week 4 and week 8 from stage history; nothing dated on or "
                "after a checkpoint is used for its forecast."
            )
            for m in bt_engine.METHODS:
                st.markdown(
                    "- " + bias_words(labels[m], summary.loc[m, "bias"], int(summary.loc[m, "n"]))
                )
            fmt.table(
                bt.summary.assign(method=lambda d: d["method"].map(labels)),
                "backtest summary",
                "bt_summary",
                mean_accuracy="percent",
                bias="percent",
                mape="percent:MAPE",
                n="count:Forecasts",
            )
            common.chart(charts.backtest_heatmap(res), "backtest accuracy", "bt_heat")
            cp_name = state.url_choice("Checkpoint", "checkpoint", CHECKPOINT_PARAMS, "start")
            at_cp = res[res["checkpoint_name"] == CHECKPOINT_PARAMS[cp_name]]
            common.chart(
                charts.forecast_vs_actual(at_cp, CHECKPOINT_PARAMS[cp_name]),
                "forecast vs actual",
                "bt_lines",
            )
            fmt.table(
                res.drop(columns=["quarter_start", "method"]),
                "backtest",
                "bt_results",
                forecast="dollar",
                actual="dollar",
                accuracy="percent",
                error="dollar:Error (forecast - actual)",
            )
        common.how_computed(bt.sql, bt.params, "pipeline at every checkpoint")

    # -- see the math ----------------------------------------------------------------------
    with tabs[1]:
        cells = sorted(bt.cells) + [(cur.quarter, cur.checkpoint)]
        q_opts = list(dict.fromkeys(bt_engine.quarter_label(q) for q, _ in cells))
        q_default = q_opts[-1]
        q_raw = view.extras.get("quarter", q_default)
        state.bind_widget("w_quarter", q_raw if q_raw in q_opts else q_default)
        left, mid, right = st.columns(3)
        q_pick = left.selectbox(
            "Quarter",
            q_opts,
            key="w_quarter",
            on_change=state.on_change_param("quarter", "w_quarter"),
        )
        in_q = [(q, c) for q, c in cells if bt_engine.quarter_label(q) == q_pick]
        c_opts = {cp_key(q, c): (q, c) for q, c in in_q}
        c_keys = list(c_opts)
        c_raw = view.extras.get("checkpoint", c_keys[0])
        state.bind_widget("w_math_cp", c_raw if c_raw in c_keys else c_keys[0])
        c_pick = mid.selectbox(
            "Checkpoint",
            c_keys,
            key="w_math_cp",
            format_func=lambda k: bt_engine.checkpoint_name(*c_opts[k]),
            on_change=state.on_change_param("checkpoint", "w_math_cp"),
        )
        m_raw = view.extras.get("method", bt.best_method)
        state.bind_widget("w_method", m_raw if m_raw in labels else bt.best_method)
        m_pick = right.selectbox(
            "Method",
            list(bt_engine.METHODS),
            key="w_method",
            format_func=labels.get,
            on_change=state.on_change_param("method", "w_method"),
        )
        qs, cp = c_opts[c_pick]
        deals, terms = common.computed(bt_engine.cell_math, req, bt, qs, cp, m_pick)
        day = (cp - dt.timedelta(days=1)).isoformat()
        st.markdown(
            f"**{labels[m_pick]}** for {q_pick}, pipeline as it stood at the end of {day} "
            f"(rows entered before {cp.isoformat()}):"
        )
        parts = [f"{k} {money(v)}" for k, v in terms.items() if k != "forecast"]
        st.markdown(common.escape(" + ".join(parts)) + f" = **{money(terms.get('forecast'))}**")
        cell = bt.cells.get((qs, cp))
        if cell is not None and cell.actual is not None:
            f = terms.get("forecast")
            acc = bt_engine.accuracy(f, cell.actual)
            st.markdown(f"Actual won revenue {money(cell.actual)}; accuracy {pct(acc)}.")
        if m_pick == "naive":
            st.caption("The previous quarter's won revenue: no deal of this quarter is used.")
        elif deals.empty:
            st.info("No open deal was due in this quarter at this checkpoint.")
        else:
            st.caption(
                f"{len(deals):,} open deals due in {q_pick} at this checkpoint: stage then, "
                "amount then, the rate applied and its contribution."
            )
            fmt.table(
                deals,
                "forecast math",
                "bt_math",
                amount="dollar",
                probability="decimal:Probability then (%)",
                rate="percent:Rate applied",
                contribution="dollar",
            )

    # -- stage rates -------------------------------------------------------------------------
    with tabs[2]:
        rates = cur.rates
        if rates.empty:
            st.info(
                "No stage rate learned: no earlier quarter's pipeline can be rebuilt "
                f"({bt.reason or 'too little history'}).",
                icon=":material/info:",
            )
        else:
            train = ", ".join(bt_engine.quarter_label(t) for t in sorted(cur.training))
            st.markdown(
                f"Learned from the deals open at the start of {train} and due in that quarter: "
                f"the share won within it. Below {bt_engine.MIN_RATE_DEALS} deals the stage "
                "map's default is used (flagged)."
            )
            common.chart(charts.stage_rates(rates), "stage rates", "bt_rates")
            fmt.table(
                rates,
                "stage rates",
                "bt_rates_t",
                learned="percent",
                default="percent:Stage map default",
                rate="percent:Rate used",
                deals="count",
                won="count",
            )

"""Pipeline changes page: what changed between two snapshots of a dataset (docs/metrics.md,
Pipeline changes). A waterfall from Start to End through the buckets with the identity written
out and checked, the deals behind each bucket, the stage moves, the split per team and rep (where
transfers appear) and the link that reopens this comparison."""

from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st

from engine.analyses import changes
from engine.core.errors import WorkbenchError
from engine.semantic.request import parse_period
from views import charts, common, state
from views import format as fmt

BY = {"none": "Whole pipeline", "team": "Per team", "owner": "Per rep"}

st.header("Pipeline changes")
info, view, prof = common.analysis_context()
token = view.dataset or ""
snaps = common.snapshots(token)
if len(snaps) < 2:
    st.info(
        "This dataset has one snapshot, so there is nothing to compare yet. Add a newer export "
        'of the same CRM on the Upload page ("Add a newer export"), or from the command line: '
        f"`python -m engine load FILE --into {token[:6]}...`.",
        icon=":material/compare_arrows:",
    )
    common.page_link("upload", "Add a newer export", icon=":material/upload:")
    st.stop()

days = [s.as_of for s in snaps]
extras = view.extras


def _choice(param: str, label: str, options: list[str], default: str, col: Any) -> str:
    key = f"w_{param}"
    raw = extras.get(param, default)
    state.bind_widget(key, raw if raw in options else default)
    return str(
        col.selectbox(label, options, key=key, on_change=state.on_change_param(param, key))
        or default
    )


left, mid, right = st.columns(3)
old_day = _choice("old", "Older snapshot (Start)", days[:-1], days[-2], left)
newer = [d for d in days if d > old_day]
new_day = _choice("new", "Newer snapshot (End)", newer, newer[-1], mid)
new_as_of = dt.date.fromisoformat(new_day[:10])
default_period = changes.default_period(new_as_of)
periods = list(dict.fromkeys([default_period.label, *[p for p in prof.periods if "Q" in p], "all"]))
period_label = _choice("p", "Period (deals due in it)", periods, default_period.label, right)
try:
    period = parse_period(period_label, new_as_of)
except WorkbenchError:
    period = default_period
by_choice = state.url_choice("Split", "split", BY, "none")
group = None if by_choice == "none" else by_choice

ws = common.workspace()
old_key, new_key = ws.snapshot(token, old_day).key, ws.snapshot(token, new_day).key
bounds = fmt.period_text(f"{period.start}..{period.end}") if period.bounded else "any date"
st.caption(
    f"Open deals due in {period.label} ({bounds}): the export as of {old_day} (Start) against "
    f"the export as of {new_day} (End). Every deal that moved is in exactly one bucket "
    "(docs/metrics.md, Pipeline changes)."
)

with common.error_boundary():
    result = common.compared(changes.compare, old_key, new_key, period, group)
    total = result.total
    cols = st.columns(4)
    cols[0].metric(
        f"Start ({old_day})",
        fmt.money_short(total.start.amount),
        f"{total.start.deals:,} deals",
        delta_color="off",
        delta_arrow="off",
    )
    cols[1].metric(
        f"End ({new_day})",
        fmt.money_short(total.end.amount),
        f"{total.end.deals:,} deals",
        delta_color="off",
        delta_arrow="off",
    )
    net = total.end.amount - total.start.amount
    cols[2].metric(
        "Net change",
        ("+" if net >= 0 else "") + fmt.money_short(net),
        delta_color="off",
        delta_arrow="off",
    )
    cols[3].metric(
        "Identity",
        "balances" if total.balances() else "does not balance",
        "End = Start + entering + increases - leaving - decreases",
        delta_color="off",
        delta_arrow="off",
    )
    text = changes.identity_text(total, fmt.money_short)
    if total.balances():
        st.success(common.escape(text), icon=":material/balance:")
    else:
        st.error(common.escape(text), icon=":material/error:")
    no_amount = total.start.no_amount + total.end.no_amount
    if no_amount:
        st.caption(
            f"{total.start.no_amount:,} deals at Start and {total.end.no_amount:,} at End have "
            "no amount: each counts as $0 and is still counted as a deal."
        )
    tabs = st.tabs(["Waterfall", "Deals behind each bucket", "Stage moves", "Per team and rep"])
    with tabs[0]:
        frame = changes.waterfall_frame(total)
        common.chart(charts.waterfall(frame), "pipeline changes waterfall", "waterfall")
        fmt.table(
            changes.buckets_frame(total), "pipeline change buckets", "buckets", amount="dollar"
        )
        common.how_computed(result.sql, result.params, "buckets")
    with tabs[1]:
        present = [b for b in changes.BUCKETS if total.buckets[b].deals]
        if group:
            present = [b for b in changes.BUCKETS if any(g.buckets[b].deals for g in result.groups)]
        if not present:
            st.info(
                "No deal moved in this period between these two snapshots.", icon=":material/info:"
            )
        else:
            labels = {
                b: f"{changes.LABELS[b]} ({sum(g.buckets[b].deals for g in (result.groups or [total])):,})"
                for b in present
            }
            raw = extras.get("bucket", present[0])
            state.bind_widget("w_bucket", raw if raw in present else present[0])
            bucket = st.selectbox(
                "Bucket",
                present,
                format_func=labels.get,
                key="w_bucket",
                on_change=state.on_change_param("bucket", "w_bucket"),
            )
            deals = common.compared(changes.deals, old_key, new_key, period, bucket, group)
            part = total.buckets[bucket] if not group else None
            if part is not None:
                st.markdown(
                    f"**{common.escape(changes.LABELS[bucket])}**: {part.deals:,} deals, "
                    f"{common.escape(fmt.value(part.amount, 'currency'))}."
                )
            fmt.table(
                deals,
                f"deals {bucket}",
                "drill",
                old_amount="dollar:Old amount",
                new_amount="dollar:New amount",
                change="dollar:Change on the way to End",
                old_close="date:Old close date",
                new_close="date:New close date",
            )
    with tabs[2]:
        moves = common.compared(changes.stage_moves, old_key, new_key, period)
        if moves.empty:
            st.info("No deal in this period's pipeline changed stage.", icon=":material/info:")
        else:
            adv = moves[moves["direction"] == "advanced"]
            reg = moves[moves["direction"] == "regressed"]
            st.markdown(
                f"**{int(adv['deals'].sum()):,} deals advanced** "
                f"({common.escape(fmt.value(adv['amount'].sum(), 'currency'))}), "
                f"**{int(reg['deals'].sum()):,} regressed** "
                f"({common.escape(fmt.value(reg['amount'].sum(), 'currency'))}). "
                "Stage moves change no unweighted amount: they are not buckets."
            )
            fmt.table(moves, "stage moves", "moves", amount="dollar:Amount (new)")
    with tabs[3]:
        if group is None:
            st.info(
                'Choose "Per team" or "Per rep" above to split the changes; transfers between reps or teams appear there.',
                icon=":material/group:",
            )
        else:
            groups = changes.groups_frame(result)
            off = [g for g in result.groups if not g.balances()]
            st.markdown(
                f"{len(result.groups):,} {'teams' if group == 'team' else 'reps'}; "
                + ("every one balances." if not off else f"{len(off)} do not balance.")
            )
            moved_in = sum(g.buckets["transferred_in"].amount for g in result.groups)
            st.markdown(
                f"Transfers: {common.escape(fmt.value(moved_in, 'currency'))} moved between "
                f"{'teams' if group == 'team' else 'reps'}."
            )
            kinds = {c: "dollar" for c in ["start", "end", *changes.BUCKETS]}
            fmt.table(groups, f"pipeline changes per {group}", "groups", **kinds)

st.markdown("**Link that reopens exactly this comparison**")
here = state.current().with_(
    page="changes",
    extras={**extras, "old": old_day, "new": new_day, "p": period.label, "split": by_choice},
)
st.code(common.share_url(here), language=None, wrap_lines=True)

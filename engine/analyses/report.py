"""The ``report`` command: catalog metrics for one dataset as JSON or a readable table.

The command line owner adds the positional dataset argument and opens the connection; this
module adds the options (:func:`add_report_arguments`), builds the request and prints
(:func:`run_report`). :func:`build_report` is the pure part: connection + request -> dict.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

import duckdb

from engine.core.units import format_value
from engine.semantic.catalog import get_metric
from engine.semantic.compute import Result, clean, compute
from engine.semantic.request import GRAINS, PERIOD_FORMS, Request, make_request

# Columns shown beside the value, per unit/kind (plain JSON numbers, null when undefined).
_DETAIL = (
    "numerator",
    "denominator",
    "mean",
    "median",
    "p25",
    "p75",
    "n",
    "share_at_or_above_100",
    "opportunities_created",
    "win_rate",
    "avg_deal_size",
    "sales_cycle_days",
    "opportunity_to_proposal",
    "proposal_to_closed_won",
    "opportunity_to_closed_won",
    "forecast",
    "actual",
)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --as-of, --period, --grain, --by, --metrics, --json (not the dataset argument)."""
    parser.add_argument(
        "--as-of",
        dest="as_of",
        help="as-of date YYYY-MM-DD (default: the dataset's latest event)",
    )
    parser.add_argument("--period", default="all", help=f"period: {PERIOD_FORMS}")
    parser.add_argument("--grain", choices=GRAINS, help="one row per period bucket")
    parser.add_argument("--by", action="append", default=[], help="group-by dimension (repeatable)")
    parser.add_argument("--metrics", default="", help="comma-separated metric ids (default: all)")
    parser.add_argument("--fiscal-start-month", dest="fiscal_start_month", type=int, default=1)
    parser.add_argument("--exclude-flagged", dest="exclude_flagged", action="store_true")
    parser.add_argument(
        "--exclude-outliers",
        dest="exclude_outliers",
        action="store_true",
        help="leave IQR outliers out of sales_cycle_days and time_in_stage_days",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def request_from_args(args: argparse.Namespace) -> Request:
    by: list[str] = []
    for b in getattr(args, "by", None) or []:
        by += [x.strip() for x in b.split(",") if x.strip()]
    return make_request(
        metrics=getattr(args, "metrics", "") or "",
        period=getattr(args, "period", None),
        grain=getattr(args, "grain", None),
        by=by,
        as_of=getattr(args, "as_of", None),
        fiscal_start_month=getattr(args, "fiscal_start_month", 1) or 1,
        exclude_flagged=bool(getattr(args, "exclude_flagged", False)),
        exclude_outliers=bool(getattr(args, "exclude_outliers", False)),
    )


def _whole(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _entry(mid: str, row: dict[str, Any]) -> dict[str, Any]:
    m = get_metric(mid)
    value = clean(row.get("value"))
    out: dict[str, Any] = {"value": _whole(value) if m.unit == "count" else value}
    for k in _DETAIL:
        if k in row:
            v = clean(row[k])
            out[k] = _whole(v) if k in ("n", "numerator", "denominator") else v
    out["unit"] = m.unit
    return out


def _metrics_of(res: Result, request: Request, keys: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mid in request.metrics:
        part = res.parts.get(mid, res)
        f = part.frame
        if keys:
            for k, v in keys.items():
                if k not in f.columns:
                    f = f.iloc[0:0]
                elif v is None:  # the group of rows without a value (e.g. no segment)
                    f = f[f[k].map(clean).isna()]
                else:
                    f = f[f[k].map(clean) == v]
        row = f.iloc[0].to_dict() if len(f) else {}
        out[mid] = _entry(mid, row)
    return out


def build_report(con: duckdb.DuckDBPyConnection, request: Request) -> dict[str, Any]:
    """The report object: as_of, period, metrics (overall) and, with by/grain, groups."""
    overall = compute(con, request.with_(by=(), grain=None))
    report: dict[str, Any] = {
        "as_of": request.as_of.isoformat(),
        "period": request.period.as_dict(),
        "metrics": _metrics_of(overall, request.with_(by=(), grain=None), None),
    }
    if request.by or request.grain:
        grouped = compute(con, request)
        key_cols = list(request.by) + (["period_start"] if request.grain else [])
        frames = [p.frame for p in (grouped.parts.values() if grouped.parts else [grouped])]
        seen: list[tuple[Any, ...]] = []
        for f in frames:
            for _, r in f.iterrows():
                k = tuple(clean(r[c]) for c in key_cols)
                if k not in seen:
                    seen.append(k)
        seen.sort(key=lambda t: tuple((x is None, str(x)) for x in t))
        report["groups"] = [
            {
                "by": dict(zip(key_cols, k, strict=True)),
                "metrics": _metrics_of(grouped, request, dict(zip(key_cols, k, strict=True))),
            }
            for k in seen
        ]
    if "stage_conversion" in request.metrics:
        _add_transitions(con, request, report["metrics"]["stage_conversion"])
    notes = sorted(set(overall.notes))
    if notes:
        report["notes"] = notes
    return report


def _add_transitions(con: duckdb.DuckDBPyConnection, request: Request, entry: dict) -> None:
    """The funnel the data reaches, one entry per transition named ``<from>_to_<to>`` (lead
    stages from the leads table included), and why every other stage is skipped."""
    from engine.analyses.funnel import conversion

    conv = conversion(con, request.with_(by=(), grain=None))
    path = conv.extras["path"]
    on_path = {t.id for t in path.transitions}
    for key in ("opportunity_to_proposal", "proposal_to_closed_won", "opportunity_to_closed_won"):
        if key not in on_path:
            entry.pop(key, None)
    entry["transitions"] = {
        str(r["transition"]): {
            "from": r["from_stage"],
            "to": r["to_stage"],
            "skipped": [s for s in str(r["skipped"]).split(", ") if s],
            "reached_from": _whole(clean(r["reached_from"])),
            "reached_to": _whole(clean(r["reached_to"])),
            "rate": clean(r["rate"]),
        }
        for r in conv.frame.to_dict("records")
    }
    entry["skipped_stages"] = dict(path.missing)


def format_table(report: dict[str, Any]) -> str:
    per = report["period"]
    lines = [f"as of {report['as_of']}, period {per['label']}"]
    names = [get_metric(m).name for m in report["metrics"]]
    names += ["  " + t for e in report["metrics"].values() for t in e.get("transitions", {})]
    width = max((len(n) for n in names), default=10)
    for mid, e in report["metrics"].items():
        extra = ""
        m = get_metric(mid)
        if "median" in e and m.is_duration:
            beside = "mean" if m.headline == "median" else "median"
            extra = f"  ({beside} {format_value(e.get(beside), e['unit'])}, p25 {format_value(e.get('p25'), e['unit'])}, p75 {format_value(e.get('p75'), e['unit'])})"
        lines.append(
            f"  {get_metric(mid).name:<{width}}  {format_value(e['value'], e['unit']):>14}{extra}"
        )
        for tid, t in e.get("transitions", {}).items():
            n = f"{t['reached_to'] or 0:,} / {t['reached_from'] or 0:,}"
            lines.append(f"    {tid:<{width - 2}}  {format_value(t['rate'], 'ratio'):>14}  ({n})")
    groups = report.get("groups", [])
    if groups:
        lines.append("")
        lines.extend(_group_table(groups))
    for n in report.get("notes", []):
        lines.append(f"note: {n}")
    return "\n".join(lines) + "\n"


def _group_table(groups: list[dict[str, Any]]) -> list[str]:
    """One row per group, one column per metric (durations as headline / the other of mean
    and median)."""
    dims = list(groups[0]["by"])
    mids = list(groups[0]["metrics"])

    def beside(mid: str) -> str:
        return "mean" if get_metric(mid).headline == "median" else "median"

    header = dims + [
        get_metric(m).name
        + (f" ({get_metric(m).headline} / {beside(m)})" if get_metric(m).is_duration else "")
        for m in mids
    ]
    rows = []
    for g in groups:
        cells = [str(g["by"][d]) for d in dims]
        for m in mids:
            e = g["metrics"][m]
            cell = format_value(e["value"], e["unit"])
            if get_metric(m).is_duration:
                cell += f" / {format_value(e.get(beside(m)), e['unit'])}"
            cells.append(cell)
        rows.append(cells)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    n = len(dims)

    def line(cells: list[str]) -> str:
        left = [c.ljust(w) for c, w in zip(cells[:n], widths[:n], strict=True)]
        right = [c.rjust(w) for c, w in zip(cells[n:], widths[n:], strict=True)]
        return "  " + "  ".join(left + right)

    return [line(header)] + [line(r) for r in rows]


def run_report(con: duckdb.DuckDBPyConnection, args: argparse.Namespace, out: TextIO) -> int:
    """Build the request from ``args``, compute, print JSON (``--json``) or a table; 0 on success.
    :class:`engine.core.errors.WorkbenchError` propagates for the command line to show."""
    if not getattr(args, "as_of", None):
        # like the app: the dataset is analysed as of its latest event, not today
        from engine.semantic.profile import dataset_profile

        args = argparse.Namespace(**{**vars(args), "as_of": dataset_profile(con).as_of})
    report = build_report(con, request_from_args(args))
    if getattr(args, "json", False):
        out.write(json.dumps(report, allow_nan=False, default=str) + "\n")
    else:
        out.write(format_table(report))
    return 0

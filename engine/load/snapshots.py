"""Snapshots: a newer export of the same CRM added to an existing dataset (docs/metrics.md,
Pipeline changes).

A snapshot is a complete load of one export, stored like a dataset (its own DuckDB file,
built under a partial name and published whole). The token's file always holds the latest
snapshot, so every page and command that opens a token analyses the latest; adding a newer one
keeps the one it replaces as ``TOKEN@AS_OF`` (``Workspace.create(publish_as=...)``). Every metric
works on any snapshot unchanged. The files reuse the mappings and the stage map of the latest
snapshot (a stage it does not know is added as the loader would guess it). The snapshot's as-of
date is the day given, else the export's latest recorded event; it must be after every snapshot
the dataset has.

History from snapshots: when neither this export nor the earlier ones carry a stage history
file, stage_history rows are derived from the change of each deal's stage between the latest
snapshot and this one (docs/metrics.md, History from snapshots): the new stage at this
snapshot's as-of date, and the old stage at the earlier as-of date when the deal has no row
yet. Each says "entered on or before that day"; the rows carry ``_file`` =
:data:`DERIVED_FILE`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl

from engine.core import typeparse
from engine.core.canonical import SOURCE_FILE
from engine.core.errors import InputError, WorkbenchError
from engine.core.layout import table_columns
from engine.load.mapping import Mapping, rebind
from engine.load.pipeline import FilePlan, Prepared, default_stage_map, inspect_file, load_plans
from engine.load.stagemap import StageMap
from engine.store.workspace import DatasetInfo, Workspace, settle, snapshot_key

DERIVED_FILE = "(derived from snapshots)"
# The dated columns that say how recent an export is (a close date only when it has passed).
DATED = {
    "opportunities": ("created_date", "close_date"),
    "stage_history": ("entered_at",),
    "activities": ("activity_date",),
}


def latest_date(plans: Sequence[FilePlan], today: dt.date | None = None) -> dt.date | None:
    """The export's latest recorded date on or before ``today``, read from the rows at hand
    (the preview of a large file): the as-of date an "Add a newer export" proposes."""
    today = today or dt.date.today()
    best: dt.date | None = None
    for plan in plans:
        for col in DATED.get(plan.table, ()):
            header = plan.mapping.columns.get(col)
            if header is None or header not in plan.raw.headers:
                continue
            series = pl.from_arrow(plan.raw.table.column(header))
            assert isinstance(series, pl.Series)
            values = typeparse.parse_column(series.cast(pl.Utf8), "date").values.drop_nulls()
            values = values.filter(values <= today)
            if len(values):
                top = values.max()
                if isinstance(top, dt.date) and (best is None or top > best):
                    best = top
    return best


class _Into(Workspace):
    """The workspace, publishing the next build as a snapshot of ``token`` instead of a new
    dataset (``Workspace.create(publish_as=...)``)."""

    def __init__(self, ws: Workspace, token: str, as_of: dt.date | None) -> None:
        super().__init__(ws.root, finish=ws.finish)
        self._token = token
        self._as_of = as_of
        self._prev = ws.snapshot(token, None)
        self._prev_path = ws.path(self._prev.key)

    def create(self, name, build, fingerprint="", owner="", publish_as=None):  # type: ignore[no-untyped-def,override]
        def name_it(con: duckdb.DuckDBPyConnection) -> str:
            day = self._as_of or _data_as_of(con)
            if day.isoformat() <= self._prev.as_of:
                raise InputError(
                    f"A snapshot must be newer than the dataset's latest, as of "
                    f"{self._prev.as_of}; this one is as of {day.isoformat()}. Give a later "
                    "as-of date, or load the export as a dataset of its own.",
                    "Not a newer export",
                )
            con.execute(
                "INSERT OR REPLACE INTO _meta VALUES ('data_as_of', ?), ('snapshot_of', ?)",
                [day.isoformat(), self._token],
            )
            derive_history(con, self._prev_path, self._prev.as_of, day)
            return snapshot_key(self._token, day)

        return super().create(name, build, fingerprint, owner, publish_as=name_it)


def _data_as_of(con: duckdb.DuckDBPyConnection) -> dt.date:
    row = con.execute("SELECT value FROM _meta WHERE key = 'data_as_of'").fetchone()
    return dt.date.fromisoformat(str(row[0])[:10]) if row else dt.date.today()


def previous_setup(ws: Workspace, token: str) -> tuple[StageMap | None, list[Mapping]]:
    """The stage map and the file mappings of the dataset's latest snapshot."""
    with ws.cursor(ws.snapshot(token, None).key) as cur:
        meta = dict(cur.execute("SELECT key, value FROM _meta").fetchall())
        rows = cur.execute("SELECT mapping FROM _load_report ORDER BY file").fetchall()
    stage_map = StageMap.from_json(meta["stage_map"]) if meta.get("stage_map") else None
    mappings = []
    for (text,) in rows:
        try:
            mappings.append(Mapping.from_json(text))
        except (WorkbenchError, ValueError, TypeError, KeyError):
            continue  # a file added by the load itself (won deals from lead outcomes)
    return stage_map, mappings


def reuse(
    plans: Sequence[FilePlan], stage_map: StageMap | None, mappings: Sequence[Mapping]
) -> tuple[list[FilePlan], StageMap | None]:
    """``plans`` with the earlier mapping of the same table and headers, and the earlier stage
    map completed with the guessed entries of stages it does not know."""
    out = []
    for plan in plans:
        chosen = plan
        for saved in mappings:
            if saved.table != plan.table:
                continue
            again = rebind(saved, plan.raw.headers)
            if again is not None:
                chosen = plan.with_mapping(again)
                break
        out.append(chosen)
    if stage_map is None:
        return out, None
    extra = [e for e in default_stage_map(out).entries if stage_map.lookup(e.stage) is None]
    return out, StageMap.build([*stage_map.entries, *extra]) if extra else stage_map


def load_snapshot_plans(
    ws: Workspace,
    token: str,
    plans: Sequence[FilePlan],
    as_of: dt.date | None = None,
    stage_map: StageMap | None = None,
    owner: str = "",
    progress: object = None,
) -> tuple[DatasetInfo, Prepared]:
    """Load ``plans`` as a new snapshot of dataset ``token``, all or nothing."""
    if not ws.snapshots(token):
        raise InputError(f"No dataset with token {token[:6]}... exists.", "No such dataset")
    name = ws.info(token).name
    target = _Into(ws, token, as_of)
    # Slipped deals and the data's date are judged as of the given day, else today.
    day = as_of or dt.date.today()
    return load_plans(target, plans, name, stage_map=stage_map, as_of=day, owner=owner)  # type: ignore[arg-type]


def load_snapshot(
    ws: Workspace,
    token: str,
    files: Sequence[tuple[str, bytes | Path]],
    as_of: dt.date | None = None,
    owner: str = "",
) -> tuple[DatasetInfo, Prepared]:
    """Inspect files and load them as a snapshot of ``token`` with the earlier mappings and
    stage map (command line, tests, sample)."""
    if not files:
        raise InputError("No files were given.")
    plans = [inspect_file(src, fname) for fname, src in files]
    previous_map, mappings = previous_setup(ws, token)
    plans, stage_map = reuse(plans, previous_map, mappings)
    return load_snapshot_plans(ws, token, plans, as_of, stage_map, owner)


def derive_history(
    con: duckdb.DuckDBPyConnection, prev_path: Path, prev_as_of: str, as_of: dt.date
) -> int:
    """Add stage_history rows derived from the previous snapshot (see the module text) when
    neither snapshot has a stage history of its own; returns the rows added."""
    own = con.execute(
        f'SELECT count(*) FROM stage_history WHERE "{SOURCE_FILE}" <> ?', [DERIVED_FILE]
    ).fetchone()
    if own and own[0]:
        return 0
    path = str(prev_path).replace("'", "''")
    con.execute(f"ATTACH '{path}' AS prev_snap (READ_ONLY)")
    try:
        prev_own = con.execute(
            f'SELECT count(*) FROM prev_snap.stage_history WHERE "{SOURCE_FILE}" <> ?',
            [DERIVED_FILE],
        ).fetchone()
        if prev_own and prev_own[0]:
            return 0
        cols = [c for c, _ in table_columns("stage_history")]
        names = ", ".join(f'"{c}"' for c in cols)
        before = con.execute("SELECT count(*) FROM stage_history").fetchone()
        # 1. earlier derived rows of deals still in the export;
        # 2. the old stage at the earlier as-of date, for a deal that moved and has no row yet;
        # 3. the new stage at this as-of date, for every deal whose stage changed.
        con.execute(
            f"""
            INSERT INTO stage_history ({names})
            SELECT {names} FROM prev_snap.stage_history h
            WHERE h.opportunity_id IN (SELECT opportunity_id FROM opportunities)
            """
        )
        moved = """
            FROM opportunities n JOIN prev_snap.opportunities o USING (opportunity_id)
            WHERE n.stage IS DISTINCT FROM o.stage"""
        con.execute(
            f"""
            INSERT INTO stage_history ({names})
            SELECT o.opportunity_id, o.stage, CAST(? AS TIMESTAMP), o.amount, o.probability,
                   o.stage_canonical, o.stage_order, o.stage_probability, ?, NULL, false
            {moved}
              AND o.opportunity_id NOT IN (SELECT opportunity_id FROM prev_snap.stage_history)
            """,
            [prev_as_of, DERIVED_FILE],
        )
        con.execute(
            f"""
            INSERT INTO stage_history ({names})
            SELECT n.opportunity_id, n.stage, CAST(? AS TIMESTAMP), n.amount, n.probability,
                   n.stage_canonical, n.stage_order, n.stage_probability, ?, NULL, false
            {moved}
            """,
            [as_of.isoformat(), DERIVED_FILE],
        )
        after = con.execute("SELECT count(*) FROM stage_history").fetchone()
        added = int(after[0] if after else 0) - int(before[0] if before else 0)
    finally:
        settle(con)  # still unpublished: the snapshot stays all or nothing
        con.execute("DETACH prev_snap")
    if added:
        con.execute(
            "INSERT OR REPLACE INTO _meta VALUES ('history_from_snapshots', ?)",
            [json.dumps({"rows": added, "file": DERIVED_FILE})],
        )
    return added

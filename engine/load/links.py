"""Links between the tables of one load, made once every file is written (docs/data.md).

Run inside the build of a dataset, after the rows of every file are in (whether they were
prepared in memory or written as they were checked), so the rules do not depend on how a file
was read:

- :func:`resolve_owner_ids`: owner (and manager) values that are CRM user ids of a users file
  (reps with ``user_id``, e.g. Salesforce User.csv) become the users' names, in every table
  with an owner. A deal export's OwnerId then groups by rep name.
- :func:`complete_leads`: a lead outcomes file (won deals keyed by lead id, e.g. Olist's
  closed deals) completes the leads loaded with it: the lead is converted on the won date and
  its deal is loaded as a won opportunity linked by ``lead_id``. An outcome whose lead is not
  loaded is flagged (``unknown_lead``) and kept, never dropped.

SQL names come from code only; values the files hold are data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from engine.core.canonical import UNASSIGNED_OWNER

# Tables whose owner column holds a rep (resolved from user ids).
OWNER_TABLES = ("opportunities", "activities", "leads", "quotas", "lead_outcomes")
# The CRM stage a won deal built from a lead outcome carries.
WON_STAGE = "Won"
WON_SUFFIX = " (won deals)"
UNKNOWN_LEAD = "unknown_lead"


@dataclass
class Outcomes:
    """What :func:`complete_leads` did, per lead outcomes file."""

    file: str
    rows: int = 0  # outcome rows loaded
    matched: int = 0  # ... whose lead is loaded
    unmatched: int = 0  # ... whose lead is not (flagged unknown_lead)
    leads_converted: int = 0  # leads that gained a converted date
    deals_added: int = 0  # won opportunities added
    deals_existing: int = 0  # matched outcomes whose deal id was already loaded
    missing_amount: int = 0  # added deals without an amount (flagged missing_amount)
    close_before_created: int = 0  # added deals won before their lead was created (flagged)
    notes: list[str] = field(default_factory=list)


def resolve_owner_ids(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Replace owner ids by rep names where ``reps.user_id`` knows them; rows changed per table.

    A user id that several reps rows share takes the first name in sort order. Reps' own
    ``manager`` column is resolved the same way (Salesforce User.ManagerId)."""
    con.execute(
        """CREATE TEMP TABLE __users AS
        SELECT user_id, min(owner) AS name FROM reps
        WHERE user_id IS NOT NULL AND owner IS NOT NULL AND owner <> ?
        GROUP BY user_id""",
        [UNASSIGNED_OWNER],
    )
    changed: dict[str, int] = {}
    try:
        for table in (*OWNER_TABLES, "reps"):
            column = "manager" if table == "reps" else "owner"
            row = con.execute(
                f'UPDATE "{table}" t SET "{column}" = u.name FROM __users u '
                f'WHERE t."{column}" = u.user_id AND t."{column}" <> u.name'
            ).fetchone()
            n = int(row[0]) if row else 0
            if n:
                changed[table] = n
    finally:
        con.execute("DROP TABLE __users")
    return changed


def complete_leads(con: duckdb.DuckDBPyConnection, stage_order: int) -> list[Outcomes]:
    """Apply every lead outcomes file to the leads loaded with it (see the module docstring).

    ``stage_order`` is the funnel order the added won deals carry (the won stage's order in
    the stage map). Writes the warnings and load report rows of the added deals; the caller
    adds ``unknown_lead`` to the outcome file's own report."""
    files = [
        str(r[0])
        for r in con.execute("SELECT DISTINCT _file FROM lead_outcomes ORDER BY 1").fetchall()
    ]
    if not files:
        return []
    con.execute(
        """CREATE TEMP TABLE __lead AS
        SELECT lead_id, min(created_date) AS created_date, min(lead_source) AS lead_source,
               min(segment) AS segment
        FROM leads WHERE lead_id IS NOT NULL GROUP BY lead_id"""
    )
    out = []
    try:
        for file in files:
            out.append(_complete_file(con, file, stage_order))
    finally:
        con.execute("DROP TABLE __lead")
    return out


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _complete_file(con: duckdb.DuckDBPyConnection, file: str, stage_order: int) -> Outcomes:
    res = Outcomes(file)
    res.rows = _count(con, "SELECT count(*) FROM lead_outcomes WHERE _file = ?", [file])
    # 1. Outcomes whose lead is not loaded: flagged, kept.
    con.execute(
        """INSERT INTO _warnings
        SELECT o._file, 'lead_outcomes', o._line, ?, 'lead_id ' || o.lead_id || ' is not in leads'
        FROM lead_outcomes o
        WHERE o._file = ? AND NOT EXISTS (SELECT 1 FROM __lead l WHERE l.lead_id = o.lead_id)""",
        [UNKNOWN_LEAD, file],
    )
    res.unmatched = _count(
        con,
        """UPDATE lead_outcomes o SET _flagged = true
        WHERE o._file = ? AND NOT EXISTS (SELECT 1 FROM __lead l WHERE l.lead_id = o.lead_id)""",
        [file],
    )
    res.matched = res.rows - res.unmatched
    # 2. The leads: converted on the won date (a date the lead has already is kept), the won
    # deal's id, status Converted when the lead has none, the closer as owner when it has none.
    res.leads_converted = _count(
        con,
        """SELECT count(*) FROM leads l
        WHERE l.converted_date IS NULL
          AND l.lead_id IN (SELECT lead_id FROM lead_outcomes WHERE _file = ?)""",
        [file],
    )
    con.execute(
        """UPDATE leads SET
            converted_date = coalesce(leads.converted_date, CAST(m.won_at AS DATE)),
            converted_opportunity_id = coalesce(leads.converted_opportunity_id, m.deal_id),
            status = coalesce(leads.status, 'Converted'),
            owner = CASE WHEN coalesce(leads.owner, ?) = ? AND m.owner IS NOT NULL THEN m.owner
                         ELSE leads.owner END
        FROM (
            SELECT lead_id, min(won_date) AS won_at,
                   min(coalesce(opportunity_id, lead_id)) AS deal_id,
                   min(owner) FILTER (WHERE owner <> ?) AS owner
            FROM lead_outcomes WHERE _file = ? GROUP BY lead_id
        ) m
        WHERE leads.lead_id = m.lead_id""",
        [UNASSIGNED_OWNER, UNASSIGNED_OWNER, UNASSIGNED_OWNER, file],
    )
    # 3. The won deals, one per matched outcome whose deal id is not loaded already.
    source = file + WON_SUFFIX
    con.execute(
        """CREATE TEMP TABLE __won AS
        SELECT coalesce(o.opportunity_id, o.lead_id) AS opportunity_id, o.owner, o.amount,
               CAST(l.created_date AS DATE) AS created_date, CAST(o.won_date AS DATE) AS close_date,
               l.lead_source, l.segment, o.lead_id, o._line
        FROM lead_outcomes o
        JOIN __lead l ON l.lead_id = o.lead_id
        WHERE o._file = ? AND NOT EXISTS (
            SELECT 1 FROM opportunities x WHERE x.opportunity_id = coalesce(o.opportunity_id, o.lead_id))""",
        [file],
    )
    try:
        res.deals_added = _count(con, "SELECT count(*) FROM __won", [])
        res.deals_existing = res.matched - res.deals_added
        res.missing_amount = _count(con, "SELECT count(*) FROM __won WHERE amount IS NULL", [])
        res.close_before_created = _count(
            con, "SELECT count(*) FROM __won WHERE close_date < created_date", []
        )
        con.execute(
            """INSERT INTO opportunities (opportunity_id, owner, stage, amount, created_date,
                close_date, lead_source, segment, is_closed, is_won, lead_id, stage_canonical,
                stage_order, stage_probability, _file, _line, _flagged)
            SELECT opportunity_id, owner, ?, amount, created_date, close_date, lead_source,
                   segment, true, true, lead_id, 'closed_won', ?, 100.0, ?, _line,
                   amount IS NULL OR coalesce(close_date < created_date, false)
            FROM __won""",
            [WON_STAGE, stage_order, source],
        )
        con.execute(
            """INSERT INTO _warnings
            SELECT ?, 'opportunities', _line, 'missing_amount', 'amount is empty; left out of sums'
            FROM __won WHERE amount IS NULL""",
            [source],
        )
        # Won before the lead was created: kept and counted, left out of cycle metrics.
        con.execute(
            """INSERT INTO _warnings
            SELECT ?, 'opportunities', _line, 'close_before_created',
                   'close_date ' || close_date || ' is before created_date ' || created_date
            FROM __won WHERE close_date < created_date""",
            [source],
        )
    finally:
        con.execute("DROP TABLE __won")
    res.notes.append(
        f"{res.matched:,} of {res.rows:,} outcomes match a loaded lead"
        + (f"; {res.unmatched:,} do not and are flagged ({UNKNOWN_LEAD})" if res.unmatched else "")
        + f"; {res.leads_converted:,} leads converted on their won date"
    )
    if res.deals_added or res.deals_existing:
        note = (
            f"{res.deals_added:,} won deals added to opportunities ({source}): created on the "
            "lead's date, closed on the won date, lead source from the lead"
        )
        if res.deals_existing:
            note += f"; {res.deals_existing:,} were loaded already and are left as they are"
        res.notes.append(note)
        res.notes.append(
            "the file lists won deals only: their win rate is 100% by construction; the lead "
            "funnel (leads -> won) is the conversion to read"
        )
    return res

"""Accounts, users and dimensions; files keyed to another table (docs/data.md).

Every fixture is written here, with the headers of the real exports it stands for: Maven's
``sales_pipeline.csv`` / ``accounts.csv`` / ``sales_teams.csv``, Salesforce's Data Export
``Account.csv`` / ``User.csv`` / ``Opportunity.csv``, and Olist's MQL and closed-deals files.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from engine.analyses import funnel
from engine.analyses.report import build_report
from engine.cli.commands import main
from engine.core.errors import WorkbenchError
from engine.load import pipeline
from engine.load.mapping import describe_missing, recognise
from engine.semantic import dimensions
from engine.semantic.compute import compute
from engine.semantic.request import DIMENSIONS, make_request
from engine.semantic.sql import Sql
from engine.store.workspace import Workspace
from tests.metrics_fixtures import insert, new_con

AS_OF = dt.date(2018, 1, 1)

# --- Maven-shaped files --------------------------------------------------------------------
PIPELINE = b"""opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value
D1,Ann Lee,GTX Basic,Acme,Won,2017-01-02,2017-02-01,100
D2,Ann Lee,GTX Basic,acme ,Lost,2017-01-03,2017-02-02,0
D3,Bob Ray,GTX Pro,Betasoloin,Won,2017-01-04,2017-02-03,200
D4,Bob Ray,GTX Pro,Betasoloin,Won,2017-01-05,2017-02-04,300
D5,Cid Moe,MG Special,Cancity,Lost,2017-01-06,2017-02-05,0
D6,Cid Moe,MG Special,,Won,2017-01-07,2017-02-06,50
D7,Ann Lee,GTX Basic,Acme,Engaging,2017-01-08,,
D8,Bob Ray,GTX Pro,Dontechi,Lost,2017-01-09,2017-02-07,0
"""
# employees: Acme 2822 (Enterprise), Betasoloin 495 (Mid-Market), Cancity 99 (SMB),
# Dontechi 1000 (Enterprise: the boundary belongs to the upper segment).
ACCOUNTS = b"""account,sector,year_established,revenue,employees,office_location,subsidiary_of
Acme,technolgy,1996,1100.04,2822,United States,
Betasoloin,medical,1999,251.41,495,United States,
Cancity,retail,2001,718.62,99,Kenya,
Dontechi,software,1982,4618.0,1000,United States,Acme
"""
TEAMS = b"""sales_agent,manager,regional_office
Ann Lee,Dustin Brinkmann,Central
Bob Ray,Melvin Marxen,East
Cid Moe,Cara Losch,West
"""
MAVEN = [("sales_pipeline.csv", PIPELINE), ("accounts.csv", ACCOUNTS), ("sales_teams.csv", TEAMS)]

# --- Salesforce Data Export -----------------------------------------------------------------
SF_ACCOUNT = b""""Id","IsDeleted","MasterRecordId","Name","Type","ParentId","BillingStreet","BillingCity","BillingState","BillingPostalCode","BillingCountry","Phone","Website","Sic","Industry","AnnualRevenue","NumberOfEmployees","Ownership","OwnerId","CreatedDate","CreatedById","SystemModstamp"
"001A","0","","Edge Communications","Customer - Direct","000000000000000AAA","","Austin","TX","","","(512) 757-6000","http://edgecomm.com","6576","Electronics","139000000","1000","Public","005U1","2018-10-13 17:16:45","005U1","2018-10-13 17:16:45"
"001B","0","","Burlington Textiles","Customer - Direct","000000000000000AAA","","Burlington","NC","27215","USA","","","","Apparel","350000000","99","Public","005U1","2018-10-13 17:16:45","005U1","2018-10-13 17:16:45"
"001C","0","","sForce","","000000000000000AAA","","","","","US","","","","","","","","005U1","2018-10-13 17:16:45","005U1","2018-10-13 17:16:45"
"""
SF_USER = b""""Id","Username","LastName","FirstName","Name","CompanyName","Division","Department","Title","Email","UserRoleId","ManagerId","IsActive","CreatedDate","CreatedById","SystemModstamp"
"005U1","ann@example.com","Lee","Ann","Ann Lee","Acme","","Enterprise Sales","AE","ann@example.com","00E1","005U2","1","2018-10-13 17:16:45","005U1","2018-10-13 17:16:45"
"005U2","dee@example.com","Ray","Dee","Dee Ray","Acme","","Enterprise Sales","Manager","dee@example.com","00E2","","1","2018-10-13 17:16:45","005U1","2018-10-13 17:16:45"
"""
SF_OPPORTUNITY = b""""Id","IsDeleted","AccountId","Name","StageName","Amount","Probability","CloseDate","Type","LeadSource","IsClosed","IsWon","ForecastCategoryName","OwnerId","CreatedDate","CreatedById","SystemModstamp"
"006A","0","001A","Edge deal","Closed Won","1000","100","2018-03-01 00:00:00","New Customer","Web","1","1","Closed","005U1","2018-01-13 17:16:45","005U1","2018-10-13 17:16:45"
"006B","0","001B","Burlington deal","Closed Lost","500","0","2018-03-02 00:00:00","New Customer","Web","1","0","Omitted","005U2","2018-01-13 17:16:45","005U1","2018-10-13 17:16:45"
"006C","0","000000000000000AAA","No account","Closed Won","700","100","2018-03-03 00:00:00","New Customer","Phone","1","1","Closed","005U9","2018-01-13 17:16:45","005U1","2018-10-13 17:16:45"
"""

# --- Olist-shaped files (re-saved by a spreadsheet: day-first dates) --------------------------
MQL = b"""mql_id,first_contact_date,landing_page_id,origin\r
L1,13-02-2018,p1,social\r
L2,14-02-2018,p1,social\r
L3,15-02-2018,p2,paid_search\r
L4,16-02-2018,p2,paid_search\r
L5,17-02-2018,p3,\r
"""
CLOSED = b"""mql_id,seller_id,sdr_id,sr_id,won_date,business_segment,lead_type,lead_behaviour_profile,has_company,has_gtin,average_stock,business_type,declared_product_catalog_size,declared_monthly_revenue
L1,s1,d1,r1,26-02-2018 19:58,pet,online_medium,cat,,,,reseller,,0
L3,s3,d1,r2,08-03-2018 20:17,car_accessories,industry,eagle,TRUE,FALSE,01-May,manufacturer,,0
L9,s9,d2,r2,10-03-2018 10:00,pet,online_big,wolf,,,,reseller,,0
"""


def _load(tmp_path: Path, files: list[tuple[str, bytes]]) -> tuple[Workspace, str, Any]:
    ws = Workspace(tmp_path / "ws")
    info, prepared = pipeline.load_files(ws, files, name="t", as_of=AS_OF)
    return ws, info.token, prepared


def _by(ws: Workspace, token: str, dim: str, metric: str = "win_rate") -> dict[Any, Any]:
    with ws.cursor(token) as con:
        f = compute(con, make_request([metric], by=[dim], as_of=AS_OF)).frame
    return {(None if pd.isna(k) else k): v for k, v in zip(f[dim], f["value"], strict=True)}


# --- recognition ------------------------------------------------------------------------------


def _headers(data: bytes) -> list[str]:
    return [h.strip('"') for h in data.decode().splitlines()[0].split(",")]


def test_salesforce_account_export_is_accounts() -> None:
    m = recognise(_headers(SF_ACCOUNT), "Account.csv")
    assert m.table == "accounts" and m.preset == "salesforce_export"
    assert m.confidence >= pipeline.MIN_CONFIDENCE
    assert m.columns == {
        "account_id": "Id",
        "account_name": "Name",
        "industry": "Industry",
        "employees": "NumberOfEmployees",
        "annual_revenue": "AnnualRevenue",
        "region": "BillingCountry",
    }


def test_maven_accounts_is_accounts_keyed_by_name() -> None:
    m = recognise(_headers(ACCOUNTS), "accounts.csv")
    assert m.table == "accounts" and m.missing_required() == []
    assert m.columns == {
        "account_name": "account",
        "industry": "sector",
        "employees": "employees",
        "annual_revenue": "revenue",
        "region": "office_location",
    }
    # Without the file name the headers alone decide the same way.
    assert recognise(_headers(ACCOUNTS)).table == "accounts"


def test_salesforce_user_export_is_reps_with_user_id() -> None:
    m = recognise(_headers(SF_USER), "User.csv")
    assert m.table == "reps"
    assert m.columns["owner"] == "Name"
    assert m.columns["user_id"] == "Id"
    assert m.columns["manager"] == "ManagerId"


def test_maven_sales_teams_regional_office_is_region() -> None:
    m = recognise(_headers(TEAMS), "sales_teams.csv")
    assert m.table == "reps"
    assert m.columns == {"owner": "sales_agent", "region": "regional_office", "manager": "manager"}


def test_olist_files_are_leads_and_lead_outcomes() -> None:
    assert recognise(_headers(MQL), "olist_marketing_qualified_leads_dataset.csv").table == "leads"
    m = recognise(_headers(CLOSED), "olist_closed_deals_dataset.csv")
    assert m.table == "lead_outcomes"
    assert m.columns == {"lead_id": "mql_id", "won_date": "won_date", "owner": "sr_id"}


def test_accounts_file_without_id_or_name_is_blocked_naming_both() -> None:
    plan = pipeline.inspect_file(b"sector,employees\ntech,10\n", "accounts.csv")
    forced = recognise(["sector", "employees"], "accounts.csv", table="accounts")
    edited = forced.with_column("industry", "sector")  # the user chose the table and a column
    problems = plan.with_mapping(edited).blocking_problems()
    assert problems == ["Required column 'account_id or account_name' is not mapped."]
    assert "account_id or account_name" in describe_missing(edited)
    assert not edited.with_column("account_name", "employees").missing_required()


# --- row rules --------------------------------------------------------------------------------


def test_account_rows_empty_or_repeated_key_are_quarantined(tmp_path: Path) -> None:
    data = b"account,sector,employees\nAcme,tech,10\n,tech,5\nAcme,retail,7\nBeta,tech,-3\n"
    _ws, _token, prepared = _load(tmp_path, [("accounts.csv", data)])
    (f,) = prepared.files
    # 4 rows in: Acme loads; the blank name (empty_id), the second Acme (duplicate_id) and
    # Beta's negative employees (negative_amount) are quarantined: 1 + 3 = 4.
    assert (f.rows_in, f.rows_loaded, f.rows_quarantined) == (4, 1, 3)
    assert f.error_rows == {"empty_id": 1, "duplicate_id": 1, "negative_amount": 1}


# --- Maven: report --by segment | region | industry ----------------------------------------


def test_maven_win_rate_by_segment_region_industry(tmp_path: Path) -> None:
    ws, token, prepared = _load(tmp_path, MAVEN)
    assert [(f.table, f.rows_loaded) for f in prepared.files] == [
        ("opportunities", 8),
        ("accounts", 4),
        ("reps", 3),
    ]
    # Closed deals only (D7 is open). Segment from the account's employees (no deal, account
    # or rep segment): Enterprise = Acme D1 won, D2 lost ("acme " matches Acme: case and
    # spaces ignored) + Dontechi D8 lost = 1/3; Mid-Market = Betasoloin D3, D4 won = 2/2;
    # SMB = Cancity D5 lost = 0/1; no account = D6 won = 1/1.
    seg = _by(ws, token, "segment")
    assert seg == pytest.approx({"Enterprise": 1 / 3, "Mid-Market": 1.0, "SMB": 0.0, None: 1.0})
    # Region from the rep's regional office: Central (Ann) D1 W D2 L = 1/2; East (Bob) D3 W,
    # D4 W, D8 L = 2/3; West (Cid) D5 L, D6 W = 1/2.
    assert _by(ws, token, "region") == pytest.approx({"Central": 0.5, "East": 2 / 3, "West": 0.5})
    # Industry from the account's sector: technolgy (sic) 1/2, medical 2/2, retail 0/1,
    # software 0/1, none (D6) 1/1.
    assert _by(ws, token, "industry") == pytest.approx(
        {"technolgy": 0.5, "medical": 1.0, "retail": 0.0, "software": 0.0, None: 1.0}
    )


def test_maven_win_rate_by_segment_matches_pandas(tmp_path: Path) -> None:
    ws, token, _ = _load(tmp_path, MAVEN)
    deals = pd.read_csv(io.BytesIO(PIPELINE))
    accounts = pd.read_csv(io.BytesIO(ACCOUNTS))
    deals["key"] = deals["account"].str.strip().str.lower()
    accounts["key"] = accounts["account"].str.strip().str.lower()
    joined = deals.merge(accounts[["key", "employees"]], on="key", how="left")
    joined["segment"] = pd.cut(
        joined["employees"],
        [0, 100, 1000, float("inf")],
        right=False,
        labels=["SMB", "Mid-Market", "Enterprise"],
    ).astype(object)
    closed = joined[joined["deal_stage"].isin(["Won", "Lost"])]
    expected = (closed["deal_stage"] == "Won").groupby(closed["segment"]).mean().to_dict()
    got = {k: v for k, v in _by(ws, token, "segment").items() if k is not None}
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("dim", ["segment", "region", "industry"])
def test_report_files_by_dimension_json(tmp_path: Path, dim: str) -> None:
    paths = []
    for name, data in MAVEN:
        p = tmp_path / name
        p.write_bytes(data)
        paths.append(str(p))
    out, err = io.StringIO(), io.StringIO()
    argv = ["--workspace", str(tmp_path / "ws"), "report", *paths, "--by", dim]
    code = main([*argv, "--metrics", "win_rate,won_deals", "--json"], out=out, err=err)
    assert code == 0, err.getvalue()
    report = json.loads(out.getvalue())
    # 4 won of 7 closed overall.
    assert report["metrics"]["won_deals"]["value"] == 4
    assert report["metrics"]["win_rate"]["value"] == pytest.approx(4 / 7)
    groups = {g["by"][dim]: g["metrics"] for g in report["groups"]}
    # Each dimension's groups add up to the 4 won deals.
    assert sum(m["won_deals"]["value"] or 0 for m in groups.values()) == 4
    expected = {"segment": ("Mid-Market", 1.0), "region": ("East", 2 / 3)}
    expected["industry"] = ("medical", 1.0)
    key, rate = expected[dim]
    assert groups[key]["win_rate"]["value"] == pytest.approx(rate)


def test_industry_is_a_dimension_for_filters() -> None:
    assert "industry" in DIMENSIONS
    req = make_request(["win_rate"], filters={"industry": ["medical"]})
    assert req.filter_map == {"industry": ("medical",)}


def test_industry_filter(tmp_path: Path) -> None:
    ws, token, _ = _load(tmp_path, MAVEN)
    with ws.cursor(token) as con:
        req = make_request(["won_deals"], filters={"industry": ["medical"]}, as_of=AS_OF)
        assert compute(con, req).frame["value"].iloc[0] == 2  # D3, D4 (Betasoloin)


# --- attribution: joins and precedence (SQL on hand-built tables) -------------------------------


def _opp(oid: str, **kw: Any) -> dict[str, Any]:
    base = {
        "opportunity_id": oid,
        "owner": "Ann",
        "stage": "Closed Won",
        "amount": 10.0,
        "created_date": dt.date(2026, 1, 1),
        "close_date": dt.date(2026, 2, 1),
    }
    return base | kw


def _attributes(con: Any) -> dict[str, dict[str, Any]]:
    """Every deal's attributed dimensions and where each came from, by deal id."""
    q = Sql(make_request(["won_deals"]))
    q.opp_all()
    select = """SELECT opportunity_id, owner, segment, segment_source, industry, industry_source,
       team, region, region_source
FROM opp_all ORDER BY opportunity_id"""
    frame = con.execute(q.render(select), q.params).df()
    rows = frame.astype(object).where(frame.notna(), None)
    return {r["opportunity_id"]: r for r in rows.to_dict("records")}


def test_join_by_id_first_then_by_name() -> None:
    con = new_con()
    insert(
        con,
        "accounts",
        [
            {"account_id": "A1", "account_name": "Acme", "industry": "by id"},
            {"account_id": "A2", "account_name": "Zeta", "industry": "by name"},
        ],
    )
    insert(
        con,
        "opportunities",
        [
            # The id wins over a name that names another account.
            _opp("O1", account_id="A1", account_name="Zeta"),
            # An id no account has: the name decides (case and spaces ignored).
            _opp("O2", account_id="A9", account_name="  ZETA "),
            _opp("O3", account_name="zeta"),
            _opp("O4", account_name="Nobody"),
            _opp("O5"),
        ],
    )
    got = {k: v["industry"] for k, v in _attributes(con).items()}
    assert got == {"O1": "by id", "O2": "by name", "O3": "by name", "O4": None, "O5": None}


@pytest.mark.parametrize(
    ("employees", "segment"),
    [(99, "SMB"), (100, "Mid-Market"), (999, "Mid-Market"), (1000, "Enterprise"), (None, "Rep")],
)
def test_segment_from_employees_at_the_boundaries(employees: int | None, segment: str) -> None:
    con = new_con()
    insert(con, "reps", [{"owner": "Ann", "segment": "Rep"}])
    insert(con, "accounts", [{"account_id": "A1", "employees": employees}])
    insert(con, "opportunities", [_opp("O1", account_id="A1")])
    row = _attributes(con)["O1"]
    assert row["segment"] == segment
    assert row["segment_source"] == ("rep" if employees is None else "account_employees")
    assert dimensions.Thresholds().segment(employees) == (None if employees is None else segment)


def test_each_dimension_source_in_order_of_precedence() -> None:
    con = new_con()
    insert(
        con,
        "reps",
        [
            {"owner": "Ann", "segment": "SMB", "team": "Team A", "region": "Rep region"},
            {"owner": "Bob"},
        ],
    )
    insert(
        con,
        "accounts",
        [
            {"account_id": "A1", "segment": "Enterprise", "employees": 5, "region": "Acc region"},
            {"account_id": "A2", "employees": 5000, "industry": "Energy", "region": "Acc 2"},
            {"account_id": "A3"},
        ],
    )
    insert(
        con,
        "opportunities",
        [
            _opp("O1", account_id="A1", segment="Mid-Market", region="Deal region"),  # deal
            _opp("O2", account_id="A1"),  # account's segment beats its employees; rep region
            _opp("O3", account_id="A2"),  # employees 5000; rep region
            _opp("O4", account_id="A3"),  # rep's segment; rep region
            _opp("O5", account_id="A2", owner="Bob"),  # rep without region: account region
            _opp("O6", owner="Bob"),  # nothing anywhere
        ],
    )
    got = {
        k: (v["segment"], v["segment_source"], v["region"], v["region_source"], v["team"])
        for k, v in _attributes(con).items()
    }
    assert got == {
        "O1": ("Mid-Market", "deal", "Deal region", "deal", "Team A"),
        "O2": ("Enterprise", "account", "Rep region", "rep", "Team A"),
        "O3": ("Enterprise", "account_employees", "Rep region", "rep", "Team A"),
        "O4": ("SMB", "rep", "Rep region", "rep", "Team A"),
        "O5": ("Enterprise", "account_employees", "Acc 2", "account", None),
        "O6": (None, None, None, None, None),
    }
    assert _attributes(con)["O3"]["industry"] == "Energy"
    sources = dimensions.dimension_sources(con)
    counts = {(r["dimension"], r["source"]): r["deals"] for r in sources.to_dict("records")}
    # segment: O1 deal, O2 account, O3 + O5 employees, O4 rep, O6 none = 1+1+2+1+1 = 6 deals.
    assert {k[1]: v for k, v in counts.items() if k[0] == "segment"} == {
        "deal": 1,
        "account": 1,
        "account_employees": 2,
        "rep": 1,
        "none": 1,
    }
    # region: O1 deal; O2, O3, O4 rep; O5 account; O6 none.
    assert {k[1]: v for k, v in counts.items() if k[0] == "region"} == {
        "deal": 1,
        "rep": 3,
        "account": 1,
        "none": 1,
    }
    notes = dimensions.source_notes(sources)
    assert notes[0] == (
        "segment: 1 deals from the deal, 1 deals from the account, 2 deals from the account's "
        "employees, 1 deals from the rep; 1 have none"
    )
    assert "industry: 2 deals from the account; 4 have none" in notes


def test_source_notes_say_n_a_when_no_deal_has_the_dimension() -> None:
    con = new_con()
    insert(con, "opportunities", [_opp("O1")])
    notes = dimensions.source_notes(dimensions.dimension_sources(con))
    assert "industry: no deal has one (n/a)" in notes


# --- editable thresholds ----------------------------------------------------------------------


def test_thresholds_are_stored_with_the_dataset_and_used(tmp_path: Path) -> None:
    ws, token, _ = _load(tmp_path, MAVEN)
    with ws.cursor(token) as con:
        assert dimensions.segment_thresholds(con) == dimensions.Thresholds(100, 1000)
    # Enterprise from 3,000 employees: Dontechi (1,000) and now Acme (2,822) are Mid-Market,
    # Cancity (99) turns Mid-Market with the lower bound 50. Mid-Market = D1 W, D2 L, D3 W,
    # D4 W, D5 L, D8 L = 3/6 closed.
    dimensions.save_segment_thresholds(ws, token, dimensions.Thresholds(50, 3000))
    with ws.cursor(token) as con:
        assert dimensions.segment_thresholds(con) == dimensions.Thresholds(50, 3000)
    assert _by(ws, token, "segment") == pytest.approx({"Mid-Market": 0.5, None: 1.0})
    # Stored in the file: a new workspace object (another process) reads them too.
    assert _by(Workspace(tmp_path / "ws"), token, "segment") == pytest.approx(
        {"Mid-Market": 0.5, None: 1.0}
    )


@pytest.mark.parametrize(("mid", "ent"), [(0, 10), (100, 100), (500, 100), (-1, 5)])
def test_bad_thresholds_are_refused(mid: float, ent: float) -> None:
    with pytest.raises(WorkbenchError, match="Segment thresholds"):
        dimensions.Thresholds(mid, ent)


# --- Salesforce: accounts and users -------------------------------------------------------------


def test_salesforce_owner_ids_become_names_and_accounts_join_by_id(tmp_path: Path) -> None:
    files = [
        ("Opportunity.csv", SF_OPPORTUNITY),
        ("Account.csv", SF_ACCOUNT),
        ("User.csv", SF_USER),
    ]
    ws, token, prepared = _load(tmp_path, files)
    tables = {f.source_name: (f.table, f.rows_loaded) for f in prepared.files}
    assert tables == {
        "Opportunity.csv": ("opportunities", 3),
        "Account.csv": ("accounts", 3),
        "User.csv": ("reps", 2),
    }
    with ws.cursor(token) as con:
        owners = dict(con.execute("SELECT opportunity_id, owner FROM opportunities").fetchall())
        managers = dict(con.execute("SELECT owner, manager FROM reps").fetchall())
    # 005U9 is no user in User.csv: it stays as it is.
    assert owners == {"006A": "Ann Lee", "006B": "Dee Ray", "006C": "005U9"}
    assert managers == {"Ann Lee": "Dee Ray", "Dee Ray": None}
    # Edge: 1,000 employees (Enterprise); Burlington: 99 (SMB); 006C has no account.
    # Win rate: 006A won, 006B lost, 006C won.
    assert _by(ws, token, "segment") == {"Enterprise": 1.0, "SMB": 0.0, None: 1.0}
    assert _by(ws, token, "industry") == {"Electronics": 1.0, "Apparel": 0.0, None: 1.0}


# --- keyed files: lead outcomes -----------------------------------------------------------------


def test_lead_outcomes_complete_their_leads(tmp_path: Path) -> None:
    files = [("olist_marketing_qualified_leads.csv", MQL), ("olist_closed_deals.csv", CLOSED)]
    ws, token, prepared = _load(tmp_path, files)
    reports = {f.source_name: f for f in prepared.files}
    outcomes = reports["olist_closed_deals.csv"]
    # 3 outcomes in, all loaded; L9 is no lead of the MQL file: flagged, kept.
    assert (outcomes.rows_in, outcomes.rows_loaded, outcomes.rows_quarantined) == (3, 3, 0)
    assert outcomes.warning_rows == {"unknown_lead": 1}
    won = reports["olist_closed_deals.csv (won deals)"]
    assert (won.table, won.rows_in, won.rows_loaded) == ("opportunities", 2, 2)
    with ws.cursor(token) as con:
        leads = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT lead_id, converted_date, status, converted_opportunity_id FROM leads"
            ).fetchall()
        }
        deals = con.execute(
            "SELECT opportunity_id, lead_id, owner, created_date, close_date, lead_source, is_won"
            " FROM opportunities ORDER BY 1"
        ).fetchall()
        flagged = con.execute("SELECT lead_id FROM lead_outcomes WHERE _flagged").fetchall()
        warned = con.execute(
            "SELECT line, rule, message FROM _warnings WHERE table_name = 'lead_outcomes'"
        ).fetchall()
        recon = con.execute("SELECT file, rows_in, rows_loaded FROM _load_report").fetchall()
    assert leads["L1"] == (dt.date(2018, 2, 26), "Converted", "L1")
    assert leads["L3"] == (dt.date(2018, 3, 8), "Converted", "L3")
    assert leads["L2"] == (None, None, None)
    # Created on the lead's first contact date (day-first), closed on the won date, the lead's
    # origin as lead source, the closer (sr_id) as owner.
    assert deals == [
        ("L1", "L1", "r1", dt.date(2018, 2, 13), dt.date(2018, 2, 26), "social", True),
        ("L3", "L3", "r2", dt.date(2018, 2, 15), dt.date(2018, 3, 8), "paid_search", True),
    ]
    assert flagged == [("L9",)]
    assert warned == [(4, "unknown_lead", "lead_id L9 is not in leads")]
    assert ("olist_closed_deals.csv (won deals)", 2, 2) in recon


def test_lead_outcomes_give_a_lead_to_won_funnel_by_origin(tmp_path: Path) -> None:
    files = [("mql.csv", MQL), ("closed_deals.csv", CLOSED)]
    ws, token, _ = _load(tmp_path, files)
    with ws.cursor(token) as con:
        req = make_request(["won_deals"], by=["lead_source"], as_of=AS_OF)
        conv = funnel.conversion(con, req).frame
        overall = funnel.conversion(con, make_request(["won_deals"], as_of=AS_OF)).frame
        report = build_report(con, req)
    rates = {
        (r.from_stage, r.to_stage): (r.reached_from, r.reached_to) for r in overall.itertuples()
    }
    # 5 leads, 2 converted (won): lead reached by 5, opportunity by 2. No lead carries a SAL
    # or SQL date, so the funnel runs lead -> opportunity across them; every deal is won (the
    # file lists won deals only), so opportunity -> won, 2 of 2 by construction, is not a
    # conversion to show (docs/metrics.md).
    assert rates[("lead", "opportunity")] == (5, 2)
    assert ("opportunity", "closed_won") not in rates
    assert ("lead", "sal") not in rates and ("proposal", "closed_won") not in rates
    social = conv[(conv["lead_source"] == "social") & (conv["to_stage"] == "opportunity")]
    assert int(social["reached_to"].iloc[0]) == 1  # L1 of L1, L2
    groups = {g["by"]["lead_source"]: g["metrics"]["won_deals"]["value"] for g in report["groups"]}
    assert groups["social"] == 1 and groups["paid_search"] == 1
    assert report["metrics"]["won_deals"]["value"] == 2


def test_lead_outcomes_without_leads_are_all_flagged(tmp_path: Path) -> None:
    ws, token, prepared = _load(tmp_path, [("closed_deals.csv", CLOSED)])
    (f,) = prepared.files
    assert (f.rows_in, f.rows_loaded, f.warning_rows) == (3, 3, {"unknown_lead": 3})
    with ws.cursor(token) as con:
        assert con.execute("SELECT count(*) FROM opportunities").fetchone() == (0,)


# --- the Data quality page's Dimensions section ---------------------------------------------


def test_quality_page_says_where_dimensions_come_from_and_saves_thresholds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_app_helpers import app, problems

    ws, token, _ = _load(tmp_path, MAVEN)
    ws.close()  # the app's own workspace serves the dataset
    at = app(tmp_path, monkeypatch, sample=False)
    at.query_params = {"dataset": token, "page": "quality"}
    at.run()
    assert problems(at) == []
    text = " ".join(m.value for m in at.markdown)
    # 7 deals with an account: segment from its employees; D6 has none. Region: all 8 from
    # the rep (sales territory).
    assert "segment: 7 deals from the account's employees; 1 have none" in text.replace("\\", "")
    assert "region: 8 deals from the rep (sales territory)" in text.replace("\\", "")
    # Someone with the link only reads the thresholds.
    assert not [n for n in at.number_input if n.key == "w_seg_mid"]
    assert "Only whoever uploaded this dataset" in " ".join(c.value for c in at.caption)

    # The uploader's session edits them; they are stored with the dataset.
    at.session_state["_created_datasets"] = [token]
    at.run()
    at.number_input(key="w_seg_mid").set_value(50)
    at.number_input(key="w_seg_ent").set_value(3000)
    at.get("form_submit_button")[0].click()  # type: ignore[attr-defined]
    at.run()
    assert problems(at) == []
    with Workspace(tmp_path / "ws").cursor(token) as con:
        assert dimensions.segment_thresholds(con) == dimensions.Thresholds(50, 3000)
    text = " ".join(m.value for m in at.markdown).replace("\\", "")
    assert "Mid-Market 50 to 2,999" in text


# --- both load paths agree ----------------------------------------------------------------------


def test_streamed_and_whole_loads_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.load import ingest, typed

    accounts = ACCOUNTS + b"acme,repeat,2000,1.0,5,X,\nBeta,tech,2000,1.0,-5,X,\n,none,1,1,1,X,\n"
    files = {**dict(MAVEN), "accounts.csv": accounts, "mql.csv": MQL, "closed.csv": CLOSED}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    monkeypatch.setattr(ingest, "LARGE_CSV_BYTES", 1)
    monkeypatch.setattr(typed, "VALIDATE_ROWS", 3)
    monkeypatch.setattr(ingest, "HEAD_ROWS", 2)

    def run(label: str) -> tuple[list[dict[str, Any]], dict[str, list[tuple[Any, ...]]]]:
        plans = [pipeline.inspect_file(tmp_path / name, name) for name in files]
        ws = Workspace(tmp_path / label)
        info, prepared = pipeline.load_plans(ws, plans, "t", as_of=AS_OF)
        rows = {}
        with ws.cursor(info.token) as con:
            for table in ("opportunities", "accounts", "reps", "leads", "lead_outcomes"):
                rows[table] = con.execute(
                    f'SELECT * FROM "{table}" ORDER BY _file, _line'
                ).fetchall()
            rows["_warnings"] = con.execute("SELECT * FROM _warnings ORDER BY ALL").fetchall()
            rows["_quarantine"] = con.execute(
                "SELECT file, line, rules FROM _quarantine ORDER BY ALL"
            ).fetchall()
        return prepared.reports(), rows

    streamed = run("streamed")
    with monkeypatch.context() as m:
        m.setattr(ingest, "_open_stream", lambda *_a: None)
        whole = run("whole")
    assert streamed == whole
    report = {r["file"]: r for r in whole[0]}
    # 7 account rows: the 4 accounts load; "acme" repeats Acme (a name keys whatever its
    # case, as deals join on it), Beta has negative employees, the last row has no name.
    assert report["accounts.csv"]["errors"] == {
        "duplicate_id": 1,
        "empty_id": 1,
        "negative_amount": 1,
    }
    assert report["accounts.csv"]["rows_loaded"] == 4
    assert report["closed.csv"]["warnings"] == {"unknown_lead": 1}


def test_duplicate_account_message_names_the_key(tmp_path: Path) -> None:
    data = b"account,sector\nAcme,tech\nACME,retail\n"
    _ws, _token, prepared = _load(tmp_path, [("accounts.csv", data)])
    (f,) = prepared.files
    assert f.quarantine["reasons"].to_list() == [
        ["duplicate id ACME (an earlier row with this id was loaded)"]
    ]


SF_USER_PARTS = b""""Id","Username","LastName","FirstName","CompanyName","Department","Title","Email","ManagerId","IsActive","CreatedDate","CreatedById","SystemModstamp"
"005U1","ann@example.com","Lee","Ann","Acme","Enterprise Sales","AE","ann@example.com","005U2","1","2018-10-13 17:16:45","005U1","2018-10-13 17:16:45"
"005U2","dee@example.com","Ray","","Acme","Enterprise Sales","Manager","dee@example.com","","1","2018-10-13 17:16:45","005U1","2018-10-13 17:16:45"
"""


def test_user_export_without_name_joins_first_and_last_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.load import ingest
    from engine.load.mapping import Mapping

    m = recognise(_headers(SF_USER_PARTS), "User.csv")
    assert m.table == "reps" and m.missing_required() == []
    assert (m.columns["owner"], m.joined) == ("FirstName", {"owner": ["LastName"]})
    assert "LastName" not in m.unmapped
    assert Mapping.from_json(m.to_json()) == m
    # Mapping owner to another column drops the joined part.
    assert m.with_column("owner", "Username").joined == {}

    files = [("Opportunity.csv", SF_OPPORTUNITY), ("User.csv", SF_USER_PARTS)]
    for label, streamed in (("whole", False), ("streamed", True)):
        with monkeypatch.context() as patch:
            if streamed:
                patch.setattr(ingest, "LARGE_CSV_BYTES", 1)
            ws, token, _ = _load(tmp_path / label, files)
        with ws.cursor(token) as con:
            reps = con.execute("SELECT user_id, owner FROM reps ORDER BY 1").fetchall()
            owners = con.execute("SELECT owner FROM opportunities ORDER BY 1").fetchall()
        # Dee has no first name: the last name alone.
        assert reps == [("005U1", "Ann Lee"), ("005U2", "Ray")], label
        assert owners == [("005U9",), ("Ann Lee",), ("Ray",)], label


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (  # HubSpot companies export
            ["Record ID", "Company name", "Industry", "Number of Employees", "Annual Revenue",
             "Country/Region", "Company owner", "Create Date"],
            {"account_id": "Record ID", "account_name": "Company name", "industry": "Industry",
             "employees": "Number of Employees", "annual_revenue": "Annual Revenue",
             "region": "Country/Region"},
        ),
        (  # Pipedrive organizations export
            ["Organization - ID", "Organization - Name", "Organization - Industry",
             "Organization - Number of employees", "Organization - Annual revenue"],
            {"account_id": "Organization - ID", "account_name": "Organization - Name",
             "industry": "Organization - Industry",
             "employees": "Organization - Number of employees",
             "annual_revenue": "Organization - Annual revenue"},
        ),
    ],
)  # fmt: skip
def test_other_crm_company_exports_are_accounts(
    headers: list[str], expected: dict[str, str]
) -> None:
    m = recognise(headers, "companies.csv")
    assert m.table == "accounts"
    assert m.columns == expected

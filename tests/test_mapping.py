"""Header recognition, mapping edits, remembered mappings and the HubSpot unpivot."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.canonical import SOURCE_LINE
from engine.core.errors import MappingError, UnknownName
from engine.load.mapping import (
    Mapping,
    MappingStore,
    apply_remembered,
    closest_headers,
    describe_missing,
    detect_preset,
    filename_hint,
    header_signature,
    normalise_header,
    recognise,
    stage_history_from_wide,
)

# Header rows copied from real exports (literals, so the tests never read realdata/).
SF_OPPORTUNITY_EXPORT = [
    "Id", "IsDeleted", "AccountId", "IsPrivate", "Name", "Description", "StageName",
    "StageSortOrder", "Amount", "Probability", "ExpectedRevenue", "TotalOpportunityQuantity",
    "CloseDate", "Type", "NextStep", "LeadSource", "IsClosed", "IsWon", "ForecastCategory",
    "ForecastCategoryName", "CampaignId", "HasOpportunityLineItem", "Pricebook2Id", "OwnerId",
    "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp",
    "LastActivityDate", "LastStageChangeDate", "FiscalYear", "FiscalQuarter",
    "PrimaryPartnerAccountId", "ContractId", "DeliveryInstallationStatus__c",
    "TrackingNumber__c", "OrderNumber__c", "CurrentGenerators__c", "MainCompetitors__c",
]  # fmt: skip
SF_HISTORY_EXPORT = [
    "Id", "OpportunityId", "CreatedById", "CreatedDate", "CreatedDateForInsert", "StageName",
    "Amount", "ExpectedRevenue", "CloseDate", "Probability", "FromForecastCategory",
    "ForecastCategory", "PrevForecastUpdate", "FromOpportunityStageName",
    "PrevOpportunityStageUpdate", "ValidThroughDate", "SystemModstamp", "IsDeleted",
]  # fmt: skip
SF_LEAD_EXPORT = [
    "Id", "IsDeleted", "MasterRecordId", "Salutation", "FirstName", "LastName", "Title",
    "Company", "Street", "City", "State", "PostalCode", "Country", "Latitude", "Longitude",
    "GeocodeAccuracy", "Phone", "MobilePhone", "Fax", "Email", "Website", "Description",
    "LeadSource", "Status", "Industry", "Rating", "AnnualRevenue", "NumberOfEmployees",
    "OwnerId", "HasOptedOutOfEmail", "IsConverted", "ConvertedDate", "ConvertedAccountId",
    "ConvertedContactId", "ConvertedOpportunityId", "IsUnreadByOwner", "CreatedDate",
    "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp",
    "LastActivityDate", "DoNotCall", "HasOptedOutOfFax", "LastTransferDate", "Jigsaw",
    "JigsawContactId", "CleanStatus", "CompanyDunsNumber", "DandbCompanyId",
    "EmailBouncedReason", "EmailBouncedDate", "SICCode__c", "ProductInterest__c", "Primary__c",
    "CurrentGenerators__c", "NumberofLocations__c",
]  # fmt: skip
SF_EVENT_EXPORT = [
    "Id", "WhoId", "WhatId", "Subject", "Location", "IsAllDayEvent", "ActivityDateTime",
    "ActivityDate", "DurationInMinutes", "Description", "AccountId", "OwnerId", "Type",
    "IsPrivate", "ShowAs", "IsDeleted", "IsChild", "IsGroupEvent", "GroupEventType",
    "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp",
    "IsArchived", "RecurrenceActivityId", "IsRecurrence", "RecurrenceStartDateTime",
    "RecurrenceEndDateOnly", "RecurrenceTimeZoneSidKey", "RecurrenceType",
    "RecurrenceInterval", "RecurrenceDayOfWeekMask", "RecurrenceDayOfMonth",
    "RecurrenceInstance", "RecurrenceMonthOfYear", "ReminderDateTime", "IsReminderSet",
    "ProposedEventTimeframe",
]  # fmt: skip
SF_REPORT = [
    "Opportunity Owner", "Account Name", "Opportunity Name", "Type", "Lead Source", "Amount",
    "Probability (%)", "Fiscal Period", "Age", "Close Date", "Created Date", "Next Step",
    "Stage", "Closed", "Won", "Forecast Category", "Opportunity ID",
]  # fmt: skip
HUBSPOT_DEALS = [
    "Record ID", "Deal Name", "Deal Stage", "Amount", "Close Date", "Create Date",
    "Deal owner", "Pipeline", "Deal Type",
    'Date entered "Appointment Scheduled (Sales Pipeline)"',
    'Date exited "Appointment Scheduled (Sales Pipeline)"',
    'Date entered "Qualified To Buy (Sales Pipeline)"',
    'Date entered "Contract Sent (Sales Pipeline)"',
    'Date entered "Closed Won (Sales Pipeline)"',
    'Cumulative time in "Appointment Scheduled (Sales Pipeline)" (HH:mm:ss)',
]  # fmt: skip
PIPEDRIVE_DEALS = [
    "Deal - ID", "Deal - Title", "Deal - Creator", "Deal - Owner", "Deal - Value",
    "Deal - Currency of Value", "Deal - Weighted value", "Deal - Probability",
    "Deal - Organization", "Deal - Pipeline", "Deal - Contact person", "Deal - Stage",
    "Deal - Status", "Deal - Deal created", "Deal - Update time", "Deal - Last stage change",
    "Deal - Next activity date", "Deal - Expected close date", "Deal - Won time",
    "Deal - Lost time", "Deal - Lost reason", "Deal - Products", "Deal - Source origin",
]  # fmt: skip
MAVEN_PIPELINE = [
    "opportunity_id", "sales_agent", "product", "account", "deal_stage", "engage_date",
    "close_date", "close_value",
]  # fmt: skip
MAVEN_TEAMS = ["sales_agent", "manager", "regional_office"]


def test_normalise_header_collapses_case_separators_and_unit_suffixes() -> None:
    assert normalise_header("Close Date") == "closedate"
    assert normalise_header(" close_date ") == "closedate"
    assert normalise_header("CloseDate") == "closedate"
    assert normalise_header("close-date") == "closedate"
    assert normalise_header("Probability (%)") == "probability"
    assert normalise_header("\ufeffDeal - ID") == "dealid"
    assert normalise_header("Segment__c") == "segment"


def test_header_signature_ignores_order_case_and_punctuation() -> None:
    a = header_signature(["Opportunity ID", "Stage", "Amount"])
    assert a == header_signature(["amount", "opportunity_id", "STAGE"])
    assert a != header_signature(["Opportunity ID", "Stage", "Amount", "Owner"])
    assert len(a) == 20


def test_salesforce_report() -> None:
    m = recognise(SF_REPORT, "report1712345.csv")
    assert m.table == "opportunities"
    assert m.preset == "salesforce_report"
    assert m.columns == {
        "opportunity_id": "Opportunity ID",
        "owner": "Opportunity Owner",
        "stage": "Stage",
        "amount": "Amount",
        "created_date": "Created Date",
        "close_date": "Close Date",
        "account_name": "Account Name",
        "opportunity_name": "Opportunity Name",
        "lead_source": "Lead Source",
        "opportunity_type": "Type",
        "probability": "Probability (%)",
        "forecast_category": "Forecast Category",
        "is_closed": "Closed",
        "is_won": "Won",
    }
    assert m.unmapped == ["Fiscal Period", "Age", "Next Step"]
    assert m.missing_required() == []
    assert m.confidence >= 0.9


def test_salesforce_opportunity_export() -> None:
    m = recognise(SF_OPPORTUNITY_EXPORT, "Opportunity.csv")
    assert m.table == "opportunities"
    assert m.preset == "salesforce_export"
    assert m.columns == {
        "opportunity_id": "Id",
        "owner": "OwnerId",
        "stage": "StageName",
        "amount": "Amount",
        "created_date": "CreatedDate",
        "close_date": "CloseDate",
        "account_id": "AccountId",
        "opportunity_name": "Name",
        "lead_source": "LeadSource",
        "opportunity_type": "Type",
        "probability": "Probability",
        # The display label wins over the API value when both are exported.
        "forecast_category": "ForecastCategoryName",
        "is_closed": "IsClosed",
        "is_won": "IsWon",
    }
    assert "ForecastCategory" in m.unmapped and "FiscalQuarter" in m.unmapped
    assert len(m.unmapped) + len(m.columns) == len(SF_OPPORTUNITY_EXPORT)
    assert m.missing_required() == []


def test_salesforce_export_without_filename_is_still_opportunities() -> None:
    assert recognise(SF_OPPORTUNITY_EXPORT).table == "opportunities"


def test_salesforce_opportunity_history_export() -> None:
    m = recognise(SF_HISTORY_EXPORT, "OpportunityHistory.csv")
    assert m.table == "stage_history"
    assert m.columns == {
        "opportunity_id": "OpportunityId",
        "stage": "StageName",
        "entered_at": "CreatedDate",
        "amount": "Amount",
        "probability": "Probability",
    }
    # Recognised from the headers alone too, not just from the file name.
    assert recognise(SF_HISTORY_EXPORT).table == "stage_history"


def test_salesforce_lead_export() -> None:
    m = recognise(SF_LEAD_EXPORT, "Lead.csv")
    assert m.table == "leads"
    assert m.columns == {
        "lead_id": "Id",
        "created_date": "CreatedDate",
        "lead_source": "LeadSource",
        "owner": "OwnerId",
        "status": "Status",
        "converted_date": "ConvertedDate",
        "converted_opportunity_id": "ConvertedOpportunityId",
    }
    assert "FirstName" in m.unmapped and "Company" in m.unmapped
    assert recognise(SF_LEAD_EXPORT).table == "leads"


def test_salesforce_event_export() -> None:
    m = recognise(SF_EVENT_EXPORT, "Event.csv")
    assert m.table == "activities"
    assert m.columns == {
        "activity_id": "Id",
        "owner": "OwnerId",
        "activity_type": "Type",
        "activity_date": "ActivityDate",
        "opportunity_id": "WhatId",
        "lead_id": "WhoId",
        "account_id": "AccountId",
        "duration_minutes": "DurationInMinutes",
    }
    assert m.fallbacks == {"activity_type": ["Subject"], "activity_date": ["ActivityDateTime"]}
    assert "Subject" not in m.unmapped
    assert recognise(SF_EVENT_EXPORT).table == "activities"


def test_salesforce_task_style_export() -> None:
    headers = ["Id", "WhoId", "WhatId", "Subject", "ActivityDate", "Status", "OwnerId",
               "Type", "TaskSubtype", "CallDurationInSeconds", "CallDisposition"]  # fmt: skip
    m = recognise(headers, "Task.csv")
    assert m.table == "activities"
    assert m.columns["activity_type"] == "Type"
    assert m.fallbacks["activity_type"] == ["TaskSubtype", "Subject"]
    assert m.columns["outcome"] == "CallDisposition"


def test_hubspot_deals_with_date_entered_columns() -> None:
    m = recognise(HUBSPOT_DEALS, "hubspot-crm-exports-all-deals-2026-05-01.csv")
    assert m.table == "opportunities"
    assert m.preset == "hubspot"
    assert m.columns == {
        "opportunity_id": "Record ID",
        "owner": "Deal owner",
        "stage": "Deal Stage",
        "amount": "Amount",
        "created_date": "Create Date",
        "close_date": "Close Date",
        "opportunity_name": "Deal Name",
        "opportunity_type": "Deal Type",
    }
    # The pipeline suffix is dropped from the stage names; exited/cumulative columns are not
    # stage entries.
    assert m.stage_columns == {
        "Appointment Scheduled": 'Date entered "Appointment Scheduled (Sales Pipeline)"',
        "Qualified To Buy": 'Date entered "Qualified To Buy (Sales Pipeline)"',
        "Contract Sent": 'Date entered "Contract Sent (Sales Pipeline)"',
        "Closed Won": 'Date entered "Closed Won (Sales Pipeline)"',
    }
    assert m.unmapped == [
        "Pipeline",
        'Date exited "Appointment Scheduled (Sales Pipeline)"',
        'Cumulative time in "Appointment Scheduled (Sales Pipeline)" (HH:mm:ss)',
    ]


def test_hubspot_same_stage_in_two_pipelines_keeps_both_columns() -> None:
    headers = [
        "Deal ID", "Deal Stage", "Amount", "Close Date", "Create Date", "Deal owner",
        'Date entered "Closed Won (Sales Pipeline)"',
        'Date entered "Closed Won (Partner Pipeline)"',
        'Date entered "Demo (Sales Pipeline)"',
    ]  # fmt: skip
    m = recognise(headers)
    assert m.columns["opportunity_id"] == "Deal ID"
    assert m.stage_columns == {
        "Closed Won (Sales Pipeline)": 'Date entered "Closed Won (Sales Pipeline)"',
        "Closed Won (Partner Pipeline)": 'Date entered "Closed Won (Partner Pipeline)"',
        "Demo": 'Date entered "Demo (Sales Pipeline)"',
    }


def test_hubspot_unpivot_from_records() -> None:
    m = recognise(HUBSPOT_DEALS)
    a = 'Date entered "Appointment Scheduled (Sales Pipeline)"'
    q = 'Date entered "Qualified To Buy (Sales Pipeline)"'
    w = 'Date entered "Closed Won (Sales Pipeline)"'
    records = [
        {"Record ID": "101", a: "2026-01-05 10:00", q: "2026-01-20 09:30", w: "2026-02-01"},
        {"Record ID": "102", a: "", q: None, w: "  "},  # no stage entered: no rows
        {"Record ID": "103", a: " 2026-03-01 ", q: "", w: ""},
    ]
    t = stage_history_from_wide(records, m)
    assert t.column_names == ["opportunity_id", "stage", "entered_at", SOURCE_LINE]
    assert t.to_pylist() == [
        {"opportunity_id": "101", "stage": "Appointment Scheduled",
         "entered_at": "2026-01-05 10:00", SOURCE_LINE: 2},
        {"opportunity_id": "101", "stage": "Qualified To Buy",
         "entered_at": "2026-01-20 09:30", SOURCE_LINE: 2},
        {"opportunity_id": "101", "stage": "Closed Won", "entered_at": "2026-02-01",
         SOURCE_LINE: 2},
        # Record 103 is the third data row: line 4 with the header on line 1.
        {"opportunity_id": "103", "stage": "Appointment Scheduled", "entered_at": "2026-03-01",
         SOURCE_LINE: 4},
    ]  # fmt: skip


def test_hubspot_unpivot_from_arrow_uses_its_line_column() -> None:
    m = recognise(HUBSPOT_DEALS)
    cs = 'Date entered "Contract Sent (Sales Pipeline)"'
    data = {h: [None, None] for h in HUBSPOT_DEALS}
    data["Record ID"] = ["7", "8"]
    data[cs] = ["2026-04-02", ""]
    data[SOURCE_LINE] = ["5", "9"]
    t = stage_history_from_wide(pa.table(data), m)
    assert t.to_pylist() == [
        {"opportunity_id": "7", "stage": "Contract Sent", "entered_at": "2026-04-02",
         SOURCE_LINE: 5}
    ]  # fmt: skip
    assert t.schema.field("entered_at").type == pa.string()


def test_unpivot_without_stage_columns_is_empty_and_without_id_raises() -> None:
    plain = recognise(MAVEN_PIPELINE)
    assert stage_history_from_wide([{"opportunity_id": "x"}], plain).num_rows == 0
    no_id = recognise(HUBSPOT_DEALS).with_column("opportunity_id", None)
    with pytest.raises(MappingError, match="deal id"):
        stage_history_from_wide([], no_id)


def test_pipedrive_deals_status_and_close_date_fallbacks() -> None:
    m = recognise(PIPEDRIVE_DEALS, "deals-export.csv")
    assert m.table == "opportunities"
    assert m.preset == "pipedrive"
    assert m.columns == {
        "opportunity_id": "Deal - ID",
        "owner": "Deal - Owner",
        "stage": "Deal - Stage",
        "amount": "Deal - Value",
        "created_date": "Deal - Deal created",
        "close_date": "Deal - Expected close date",
        "account_name": "Deal - Organization",
        "opportunity_name": "Deal - Title",
        "product": "Deal - Products",
        "probability": "Deal - Probability",
        "status": "Deal - Status",
    }
    assert m.fallbacks == {"close_date": ["Deal - Won time", "Deal - Lost time"]}
    assert "Deal - Won time" not in m.unmapped
    assert "Deal - Weighted value" in m.unmapped


def test_won_time_becomes_close_date_when_no_expected_close_date() -> None:
    headers = ["Deal - ID", "Deal - Owner", "Deal - Stage", "Deal - Value",
               "Deal - Deal created", "Deal - Won time", "Deal - Lost time"]  # fmt: skip
    m = recognise(headers)
    assert m.columns["close_date"] == "Deal - Won time"
    assert m.fallbacks == {"close_date": ["Deal - Lost time"]}
    assert m.missing_required() == []


def test_maven_sales_pipeline() -> None:
    m = recognise(MAVEN_PIPELINE, "sales_pipeline.csv")
    assert m.table == "opportunities"
    assert m.preset == "spreadsheet"
    assert m.columns == {
        "opportunity_id": "opportunity_id",
        "owner": "sales_agent",
        "stage": "deal_stage",
        "amount": "close_value",
        "created_date": "engage_date",
        "close_date": "close_date",
        "account_name": "account",
        "product": "product",
    }
    assert m.unmapped == []
    assert m.confidence == 1.0


def test_maven_sales_teams_is_reps_with_office_as_region() -> None:
    # The regional office is the rep's sales territory: reps now have a region column (it was
    # mapped to team while reps had none).
    m = recognise(MAVEN_TEAMS, "sales_teams.csv")
    assert m.table == "reps"
    assert m.columns == {"owner": "sales_agent", "region": "regional_office", "manager": "manager"}
    assert recognise(MAVEN_TEAMS).table == "reps"


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("rep", "owner"),
        ("Salesperson", "owner"),
        ("Sales Rep", "owner"),
        ("Account Executive", "owner"),
        ("created", "created_date"),
        ("Date Created", "created_date"),
        ("deal_value", "amount"),
        ("Value", "amount"),
        ("Deal Size", "amount"),
        ("Company", "account_name"),
        ("Deal ID", "opportunity_id"),
        ("id", "opportunity_id"),
    ],
)
def test_spreadsheet_synonyms(header: str, canonical: str) -> None:
    others = {
        "owner": "Owner",
        "created_date": "Created Date",
        "amount": "Amount",
        "account_name": "Account Name",
        "opportunity_id": "Opportunity ID",
    }
    base = ["Opportunity ID", "Owner", "Stage", "Amount", "Created Date", "Close Date"]
    headers = [h for h in base if h != others.get(canonical)] + [header]
    m = recognise(headers)
    assert m.table == "opportunities"
    assert m.columns[canonical] == header
    assert m.missing_required() == ([] if canonical != "account_name" else [])


def test_spreadsheet_snake_and_title_case_canonical_names() -> None:
    snake = ["opportunity_id", "owner", "stage", "amount", "created_date", "close_date",
             "segment", "region", "opportunity_type", "is_won", "is_closed"]  # fmt: skip
    m = recognise(snake)
    assert m.columns == {c: c for c in snake}
    title = [h.replace("_", " ").title() for h in snake]
    assert recognise(title).columns == dict(zip(snake, title, strict=True))


def test_fifty_column_export_with_useful_columns_in_odd_places() -> None:
    headers = [f"Custom Field {i}" for i in range(44)]
    for pos, h in [(3, "Close Date"), (17, "Sales Rep"), (29, "Deal Stage"), (40, "Deal ID"),
                   (41, "Create Date"), (43, "Deal Value")]:  # fmt: skip
        headers.insert(pos, h)
    assert len(headers) == 50
    m = recognise(headers)
    assert m.table == "opportunities"
    assert m.columns == {
        "opportunity_id": "Deal ID",
        "owner": "Sales Rep",
        "stage": "Deal Stage",
        "amount": "Deal Value",
        "created_date": "Create Date",
        "close_date": "Close Date",
    }
    assert len(m.unmapped) == 44


def test_quotas_with_dates_and_with_period_label() -> None:
    m = recognise(["Rep", "Period Start", "Period End", "Quota"], "quotas_2026.csv")
    assert m.table == "quotas"
    assert m.columns == {
        "owner": "Rep",
        "period_start": "Period Start",
        "period_end": "Period End",
        "quota_amount": "Quota",
    }
    assert m.period_label_column is None
    labelled = recognise(["sales_agent", "quarter", "target"])
    assert labelled.table == "quotas"
    assert labelled.columns == {
        "owner": "sales_agent",
        "period_start": "quarter",
        "quota_amount": "target",
    }
    assert labelled.period_label_column == "quarter"
    assert labelled.missing_required() == []
    assert recognise(["owner", "period", "quota_amount"]).period_label_column == "period"


def test_period_label_edits() -> None:
    m = recognise(["Rep", "Period", "Start", "End", "Quota"])
    assert m.columns["period_start"] == "Start" and m.period_label_column is None
    labelled = m.with_period_label("Period")
    assert labelled.period_label_column == "Period"
    assert "period_end" not in labelled.columns
    assert labelled.missing_required() == []
    back = labelled.with_column("period_start", "Start")
    assert back.period_label_column is None
    assert back.missing_required() == ["period_end"]


def test_olist_mql_headers_are_leads() -> None:
    m = recognise(["mql_id", "first_contact_date", "landing_page_id", "origin"])
    assert m.table == "leads"
    assert m.columns == {
        "lead_id": "mql_id",
        "created_date": "first_contact_date",
        "lead_source": "origin",
    }


def test_missing_required_lists_closest_headers() -> None:
    headers = ["Opportunity ID", "Stage", "Amount", "Created Date", "Close Date", "Owners Name"]
    m = recognise(headers)
    assert m.table == "opportunities"
    assert m.missing_required() == ["owner"]
    assert closest_headers(m, "owner") == ["Owners Name"]
    message = describe_missing(m)
    assert message == (
        "This opportunities file is missing required columns: owner "
        "(closest headers: 'Owners Name')."
    )
    assert m.with_column("owner", "Owners Name").missing_required() == []


def test_closest_headers_ranks_and_rejects_unknown_columns() -> None:
    m = recognise(["Opp Id", "Stage", "Amount", "Crated Date", "Close Date", "Owner", "Colour"])
    assert m.missing_required() == ["created_date"]
    assert closest_headers(m, "created_date")[0] == "Crated Date"
    assert "Colour" not in closest_headers(m, "created_date")
    with pytest.raises(UnknownName):
        closest_headers(m, "nonsense")


def test_with_column_moves_a_header_and_keeps_each_header_once() -> None:
    m = recognise(MAVEN_PIPELINE)
    edited = m.with_column("opportunity_name", "account")
    assert edited.columns["opportunity_name"] == "account"
    assert "account_name" not in edited.columns
    assert edited.origin == "edited"
    assert m.columns["account_name"] == "account"  # the original is untouched
    cleared = edited.with_column("product", None)
    assert "product" not in cleared.columns
    assert cleared.unmapped == ["product"]
    with pytest.raises(UnknownName):
        m.with_column("not_a_column", "account")
    with pytest.raises(UnknownName):
        m.with_column("segment", "No Such Header")


def test_validation_rejects_bad_mappings() -> None:
    sig = header_signature(["a", "b"])
    with pytest.raises(MappingError, match="used twice"):
        Mapping("opportunities", {"owner": "a", "stage": "a"}, [], sig, headers=["a", "b"])
    with pytest.raises(MappingError, match="does not have"):
        Mapping("opportunities", {"owner": "zzz"}, [], sig, headers=["a", "b"])
    with pytest.raises(MappingError, match="not a column"):
        Mapping("opportunities", {"quota_amount": "a"}, [], sig, headers=["a", "b"])
    with pytest.raises(UnknownName):
        Mapping("deals", {}, [], sig)
    with pytest.raises(MappingError, match="used twice"):
        Mapping(
            "opportunities",
            {"close_date": "a"},
            [],
            sig,
            fallbacks={"close_date": ["a"]},
            headers=["a", "b"],
        )


def test_json_round_trip() -> None:
    for headers in (PIPEDRIVE_DEALS, HUBSPOT_DEALS, ["Rep", "Quarter", "Quota"]):
        m = recognise(headers)
        text = m.to_json()
        assert json.loads(text)["table"] == m.table
        back = Mapping.from_json(text)
        assert back == m
        assert Mapping.from_dict(m.to_dict()) == m
    with pytest.raises(MappingError):
        Mapping.from_json("[1, 2]")
    with pytest.raises(MappingError):
        Mapping.from_json("{not json")
    with pytest.raises(MappingError):
        Mapping.from_dict({"columns": {}})


def test_remembered_mapping_is_reused_for_the_same_header_set(tmp_path: Path) -> None:
    store = MappingStore(tmp_path / "mappings" / "remembered.json")
    headers = ["Opp", "Seller", "Phase", "Size", "Opened", "Closes", "Notes"]
    proposed = apply_remembered(headers, store)
    assert proposed.origin == "recognised"
    assert proposed.missing_required() != []
    confirmed = (
        proposed.with_column("opportunity_id", "Opp")
        .with_column("owner", "Seller")
        .with_column("stage", "Phase")
        .with_column("amount", "Size")
        .with_column("created_date", "Opened")
        .with_column("close_date", "Closes")
    )
    store.save(confirmed)
    assert store.signatures() == [confirmed.header_signature]
    assert not list((tmp_path / "mappings").glob("*.tmp"))

    # Same header set, different order and spelling: the confirmed mapping comes back.
    again = apply_remembered(["notes", "closes", "opened", "size", "phase", "seller", "opp"], store)
    assert again.origin == "remembered"
    assert again.confidence == 1.0
    assert again.columns == {
        "opportunity_id": "opp",
        "owner": "seller",
        "stage": "phase",
        "amount": "size",
        "created_date": "opened",
        "close_date": "closes",
    }
    assert again.unmapped == ["notes"]

    # A different header set is recognised afresh.
    other = apply_remembered(headers + ["Extra"], store)
    assert other.origin == "recognised"
    assert store.load("unknown-signature") is None


def test_store_survives_a_corrupt_file_and_keeps_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "remembered.json"
    path.write_text("{ half a file", encoding="utf-8")
    store = MappingStore(path)
    assert store.load("x") is None
    a = recognise(MAVEN_PIPELINE)
    b = recognise(MAVEN_TEAMS)
    store.save(a)
    store.save(b)
    assert store.load(a.header_signature) == a
    assert store.load(b.header_signature) == b
    store.forget(a.header_signature)
    assert store.load(a.header_signature) is None
    assert json.loads(path.read_text(encoding="utf-8")).keys() == {b.header_signature}


def test_forced_table_and_empty_headers() -> None:
    m = recognise(MAVEN_PIPELINE, table="stage_history")
    assert m.table == "stage_history"
    assert m.columns == {"opportunity_id": "opportunity_id", "stage": "deal_stage"}
    assert m.missing_required() == ["entered_at"]
    with pytest.raises(UnknownName):
        recognise(MAVEN_PIPELINE, table="deals")
    with pytest.raises(MappingError, match="no header"):
        recognise(["", "  "])


@pytest.mark.parametrize(
    ("filename", "table"),
    [
        ("OpportunityHistory.csv", "stage_history"),
        ("Lead.csv", "leads"),
        ("sales_pipeline.csv", "opportunities"),
        ("Event.csv", "activities"),
        ("Task.csv", "activities"),
        ("quotas_fy26.xlsx", "quotas"),
        ("sales_teams.csv", "reps"),
        ("Opportunity report.csv", "opportunities"),
        ("OpportunityLineItem.csv", "_other"),
        ("Account.csv", "accounts"),
        ("Contact.csv", "_other"),
        ("export.csv", None),
        (None, None),
    ],
)
def test_filename_hint(filename: str | None, table: str | None) -> None:
    assert filename_hint(filename) == table


def test_filename_breaks_a_tie() -> None:
    # "owner" alone fits reps, and reps and quotas both need owner: the name decides.
    headers = ["Owner", "Notes"]
    assert recognise(headers, "team_roster.csv").table == "reps"
    # Unrelated Salesforce objects get low confidence even when some headers match.
    contact = recognise(["Id", "Name", "OwnerId", "CreatedDate", "Email"], "Contact.csv")
    assert contact.confidence < 0.5
    # Account.csv was one of them; accounts are a canonical table now (docs/data.md).
    headers = ["Id", "Name", "OwnerId", "CreatedDate", "Industry", "NumberOfEmployees"]
    account = recognise(headers, "Account.csv")
    assert account.table == "accounts"
    assert account.columns == {
        "account_id": "Id",
        "account_name": "Name",
        "industry": "Industry",
        "employees": "NumberOfEmployees",
    }


def test_detect_preset() -> None:
    assert detect_preset(SF_REPORT) == "salesforce_report"
    assert detect_preset(SF_OPPORTUNITY_EXPORT) == "salesforce_export"
    assert detect_preset(HUBSPOT_DEALS) == "hubspot"
    assert detect_preset(PIPEDRIVE_DEALS) == "pipedrive"
    assert detect_preset(MAVEN_PIPELINE) is None


@given(st.lists(st.text(max_size=30), min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_recognise_never_crashes_and_returns_a_consistent_mapping(headers: list[str]) -> None:
    if not any(h.strip() for h in headers):
        with pytest.raises(MappingError):
            recognise(headers)
        return
    m = recognise(headers)
    m.validate(headers)
    assert 0.0 <= m.confidence <= 1.0
    used = m.used_headers()
    assert all(h not in used for h in m.unmapped)
    assert Mapping.from_json(m.to_json()) == m

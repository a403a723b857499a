"""Salesforce Data Export (API names: ``Opportunity.csv``, ``OpportunityHistory.csv``, ...).

Every object names its own key ``Id``; ``<Object>Id`` columns are foreign keys
(OpportunityHistory.OpportunityId, CampaignMember.LeadId). The file is named after its object.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.core.canonical import SALESFORCE_NULL_ID, TABLES
from engine.load.crm.base import Preset

# API field names, compared exactly (after trimming): "Id" in any other style is too generic.
MARKERS = frozenset(
    {
        "Id",
        "OwnerId",
        "StageName",
        "IsClosed",
        "IsWon",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "CloseDate",
        "LeadSource",
        "ForecastCategoryName",
        "OpportunityId",
        "WhatId",
        "WhoId",
        "ActivityDate",
        "ConvertedDate",
        "SystemModstamp",
    }
)


def detect(headers: Sequence[str]) -> bool:
    return len({h.strip() for h in headers} & MARKERS) >= 2


def synonym_rule(table: str, column: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    """A table's id column reads only ``Id``, and OpportunityHistory's ``CreatedDate`` (when
    the history row was written, i.e. when the stage changed) is the stage entry time."""
    if table == "reps":
        # User.csv: Id is the user id that OwnerId columns hold; Name is the rep.
        return ("id",) if column == "user_id" else tuple(k for k in keys if k != "id")
    if (table, column) == ("accounts", "account_name"):
        return ("name",)  # Account.Name; Lead.Company is a lead's company, not an account
    if column == TABLES[table].id_column:
        return ("id",)
    if (table, column) == ("stage_history", "entered_at"):
        return (*keys, "createddate")
    return keys


PRESET = Preset(
    id="salesforce_export",
    label="Salesforce Data Export",
    rank=30,
    detect=detect,
    synonym_rule=synonym_rule,
    stage_map="salesforce",
    null_id=SALESFORCE_NULL_ID,
    account_needs_name=True,
    filename_names_object=True,
)

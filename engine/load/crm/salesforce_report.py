"""Salesforce reports (Opportunities, Leads, Accounts reports exported from the UI).

Report headers are labels (``Opportunity ID``, ``Probability (%)``); the Salesforce standard
stage map lives here and is shared with the Data Export preset.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.core.canonical import SALESFORCE_NULL_ID
from engine.load.crm.base import Preset, StageRow, count_keys, header_keys

MARKERS = header_keys(
    (
        "Opportunity ID",
        "Opportunity Owner",
        "Opportunity Name",
        "Probability (%)",
        "Forecast Category",
        "Fiscal Period",
        "Stage Duration",
        "Lead Owner",
        "Lead ID",
        "Next Step",
        "Account Owner",
    )
)

# Salesforce's standard opportunity stages and their default probabilities.
STAGES: tuple[StageRow, ...] = (
    ("Prospecting", "opportunity", 10),
    ("Qualification", "opportunity", 10),
    ("Needs Analysis", "opportunity", 20),
    ("Value Proposition", "opportunity", 50),
    ("Id. Decision Makers", "opportunity", 60),
    ("Perception Analysis", "opportunity", 70),
    ("Proposal/Price Quote", "proposal", 75),
    ("Negotiation/Review", "proposal", 90),
    ("Closed Won", "closed_won", 100),
    ("Closed Lost", "closed_lost", 0),
)


def detect(headers: Sequence[str]) -> bool:
    return count_keys(headers, MARKERS) >= 2


PRESET = Preset(
    id="salesforce_report",
    label="Salesforce report",
    rank=40,
    detect=detect,
    stage_map="salesforce",
    stages=STAGES,
    stage_map_rank=10,
    null_id=SALESFORCE_NULL_ID,
)

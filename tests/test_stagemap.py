"""Stage maps: built-in CRM maps, keyword guesses, funnel order, edits and JSON."""

from __future__ import annotations

import pytest

from engine.core.errors import MappingError, UnknownName
from engine.load import crm
from engine.load.stagemap import (
    BUILTIN_STAGE_MAPS,
    HUBSPOT_STAGES,
    PIPEDRIVE_STAGES,
    SALESFORCE_STAGES,
    StageMap,
    StageMapEntry,
    guess_canonical,
    guess_stage_map,
    stage_key,
)


def as_rows(smap: StageMap) -> list[tuple[str, str, int, float, bool]]:
    return [(e.stage, e.canonical, e.order, e.probability, e.guessed) for e in smap]


def test_salesforce_builtin_matches_the_spec() -> None:
    assert [(e.stage, e.canonical, e.order, e.probability) for e in SALESFORCE_STAGES] == [
        ("Prospecting", "opportunity", 1, 10),
        ("Qualification", "opportunity", 2, 10),
        ("Needs Analysis", "opportunity", 3, 20),
        ("Value Proposition", "opportunity", 4, 50),
        ("Id. Decision Makers", "opportunity", 5, 60),
        ("Perception Analysis", "opportunity", 6, 70),
        ("Proposal/Price Quote", "proposal", 7, 75),
        ("Negotiation/Review", "proposal", 8, 90),
        ("Closed Won", "closed_won", 9, 100),
        ("Closed Lost", "closed_lost", 10, 0),
    ]
    # The built-in maps are those of the presets in engine/crm (one more per CRM module);
    # these three come first, in this order, which settles a tie when no preset is preferred.
    assert list(BUILTIN_STAGE_MAPS) == list(crm.stage_maps())
    assert list(BUILTIN_STAGE_MAPS)[:3] == ["salesforce", "hubspot", "pipedrive"]


@pytest.mark.parametrize(
    ("internal_id", "label", "canonical", "probability"),
    [
        ("appointmentscheduled", "Appointment Scheduled", "opportunity", 20),
        ("qualifiedtobuy", "Qualified To Buy", "opportunity", 40),
        ("presentationscheduled", "Presentation Scheduled", "opportunity", 60),
        ("decisionmakerboughtin", "Decision Maker Bought-In", "proposal", 80),
        ("contractsent", "Contract Sent", "proposal", 90),
        ("closedwon", "Closed Won", "closed_won", 100),
        ("closedlost", "Closed Lost", "closed_lost", 0),
    ],
)
def test_hubspot_builtin_ids_and_labels(
    internal_id: str, label: str, canonical: str, probability: float
) -> None:
    for name in (internal_id, label):
        entry = HUBSPOT_STAGES.lookup(name)
        assert entry is not None
        assert (entry.canonical, entry.probability) == (canonical, probability)


def test_pipedrive_builtin() -> None:
    assert [(e.stage, e.canonical, e.probability) for e in PIPEDRIVE_STAGES] == [
        ("Qualified", "opportunity", 10),
        ("Contact Made", "opportunity", 20),
        ("Demo Scheduled", "opportunity", 40),
        ("Proposal Made", "proposal", 60),
        ("Negotiations Started", "proposal", 80),
    ]


def test_lookup_ignores_case_and_spacing() -> None:
    entry = SALESFORCE_STAGES.lookup("  closed   WON ")
    assert entry is not None and entry.stage == "Closed Won" and entry.is_won
    assert SALESFORCE_STAGES.lookup("negotiation / review") is not None
    assert SALESFORCE_STAGES.lookup("Discovery") is None
    assert SALESFORCE_STAGES.lookup(None) is None
    assert stage_key("Decision Maker Bought-In") == "decisionmakerboughtin"


def test_guess_uses_salesforce_builtin_in_builtin_order() -> None:
    # First appearance order is scrambled; the built-in order wins.
    stages = ["Closed Won", "Prospecting", "Negotiation/Review", "Qualification", "Closed Lost"]
    assert as_rows(guess_stage_map(stages)) == [
        ("Prospecting", "opportunity", 1, 10, False),
        ("Qualification", "opportunity", 2, 10, False),
        ("Negotiation/Review", "proposal", 3, 90, False),
        ("Closed Won", "closed_won", 4, 100, False),
        ("Closed Lost", "closed_lost", 5, 0, False),
    ]


def test_guess_hubspot_internal_ids_keep_their_spelling() -> None:
    stages = ["closedwon", "appointmentscheduled", "contractsent", "closedlost"]
    assert as_rows(guess_stage_map(stages, "hubspot")) == [
        ("appointmentscheduled", "opportunity", 1, 20, False),
        ("contractsent", "proposal", 2, 90, False),
        ("closedwon", "closed_won", 3, 100, False),
        ("closedlost", "closed_lost", 4, 0, False),
    ]


def test_preset_breaks_a_tie_between_builtins() -> None:
    # "Closed Won" is in both the Salesforce and HubSpot maps with the same meaning; the
    # preset decides which map is used.
    assert guess_stage_map(["Closed Won"], "hubspot").lookup("Closed Won") is not None
    sf = guess_stage_map(["Closed Won", "Qualified"], "salesforce_export")
    qualified = sf.lookup("Qualified")
    assert qualified is not None and qualified.guessed  # not in the Salesforce map


def test_maven_stages() -> None:
    # Order of first appearance in Maven's sales_pipeline.csv.
    smap = guess_stage_map(["Won", "Engaging", "Lost", "Prospecting"], "spreadsheet")
    assert as_rows(smap) == [
        # Prospecting is a Salesforce built-in stage, so it leads the open stages.
        ("Prospecting", "opportunity", 1, 10, False),
        # Two open stages: the guessed one gets the top of the 10-60 spread.
        ("Engaging", "opportunity", 2, 60, True),
        ("Won", "closed_won", 3, 100, True),
        ("Lost", "closed_lost", 4, 0, True),
    ]
    assert smap.unknown(["Won", "Engaging", "Lost", "Prospecting", ""]) == []


def test_keyword_guesses_and_probability_spread() -> None:
    stages = ["New", "Discovery", "Demo", "Quote Sent", "Contract Review", "Deal Won",
              "Disqualified", "Closed - Lost", "Evaluation"]  # fmt: skip
    assert as_rows(guess_stage_map(stages)) == [
        # Open stages in order of first appearance, probabilities 10..60 in equal steps:
        # 10 + 50 * i / 3 for i = 0..3.
        ("New", "opportunity", 1, 10, True),
        ("Discovery", "opportunity", 2, 26.7, True),
        ("Demo", "opportunity", 3, 43.3, True),
        ("Evaluation", "opportunity", 4, 60, True),
        ("Quote Sent", "proposal", 5, 75, True),
        ("Contract Review", "proposal", 6, 75, True),
        ("Deal Won", "closed_won", 7, 100, True),
        # "Closed - Lost" is Salesforce's "Closed Lost" (same stage key), so it is built-in
        # and comes before the guessed lost stage.
        ("Closed - Lost", "closed_lost", 8, 0, False),
        ("Disqualified", "closed_lost", 9, 0, True),
    ]


@pytest.mark.parametrize(
    ("stage", "canonical"),
    [
        ("Won", "closed_won"),
        ("Closed Won", "closed_won"),
        ("Lost", "closed_lost"),
        ("closed lost", "closed_lost"),
        ("Disqualified", "closed_lost"),
        ("Qualified", "opportunity"),
        ("Proposal", "proposal"),
        ("Quotation", "proposal"),
        ("Negotiating", "proposal"),
        ("Contract Sent", "proposal"),
        ("Engaging", "opportunity"),
    ],
)
def test_guess_canonical(stage: str, canonical: str) -> None:
    assert guess_canonical(stage) == canonical


def test_mixed_builtin_and_guessed_stages() -> None:
    stages = ["Prospecting", "Discovery Call", "Proposal/Price Quote", "Legal Review",
              "Closed Won", "Churned - Lost"]  # fmt: skip
    assert as_rows(guess_stage_map(stages, "salesforce_report")) == [
        # Three open stages: the built-in one keeps its 10; the guessed ones take their place
        # in the 10-60 spread: 10 + 50 * 1/2 = 35 and 10 + 50 * 2/2 = 60.
        ("Prospecting", "opportunity", 1, 10, False),
        ("Discovery Call", "opportunity", 2, 35, True),
        ("Legal Review", "opportunity", 3, 60, True),
        ("Proposal/Price Quote", "proposal", 4, 75, False),
        ("Closed Won", "closed_won", 5, 100, False),
        ("Churned - Lost", "closed_lost", 6, 0, True),
    ]


def test_empty_and_duplicate_stages_are_ignored() -> None:
    smap = guess_stage_map(["Won", None, "", "won", "  WON "])
    assert as_rows(smap) == [("Won", "closed_won", 1, 100, True)]
    assert as_rows(guess_stage_map([])) == []


def test_unknown_stages_in_order_of_first_appearance() -> None:
    assert SALESFORCE_STAGES.unknown(
        ["Prospecting", "Discovery", None, "", "discovery", "Closed won", "On Hold"]
    ) == ["Discovery", "On Hold"]


def test_with_entry_confirms_and_keeps_funnel_order() -> None:
    smap = guess_stage_map(["Won", "Engaging", "Lost", "Prospecting"])
    # Confirm a guess: same values, no longer guessed.
    confirmed = smap.with_entry("engaging")
    entry = confirmed.lookup("Engaging")
    assert entry is not None and not entry.guessed and entry.probability == 60
    # Move Engaging to the proposal group: it leaves the open stages and takes 75.
    moved = smap.with_entry("Engaging", canonical="proposal")
    assert as_rows(moved) == [
        ("Prospecting", "opportunity", 1, 10, False),
        ("Engaging", "proposal", 2, 75, False),
        ("Won", "closed_won", 3, 100, True),
        ("Lost", "closed_lost", 4, 0, True),
    ]
    # Put Engaging first among the open stages.
    first = smap.with_entry("Engaging", order=1, probability=5)
    assert [e.stage for e in first] == ["Engaging", "Prospecting", "Won", "Lost"]
    assert first.lookup("Engaging") == StageMapEntry("Engaging", "opportunity", 1, 5)
    # An explicit order cannot cross the funnel: a closed stage stays after the open ones.
    lost_first = smap.with_entry("Lost", order=1)
    assert [e.stage for e in lost_first] == ["Prospecting", "Engaging", "Won", "Lost"]
    # A new stage needs its canonical stage.
    added = smap.with_entry("Demo", canonical="opportunity")
    assert [e.stage for e in added] == ["Prospecting", "Engaging", "Demo", "Won", "Lost"]
    assert [e.order for e in added] == [1, 2, 3, 4, 5]
    with pytest.raises(MappingError):
        smap.with_entry("Demo")
    with pytest.raises(UnknownName):
        smap.with_entry("Demo", canonical="pipeline")
    assert [e.stage for e in added.without("demo")] == ["Prospecting", "Engaging", "Won", "Lost"]


def test_entry_validation() -> None:
    with pytest.raises(UnknownName):
        StageMapEntry("X", "won", 1, 100)
    with pytest.raises(MappingError):
        StageMapEntry("X", "closed_won", 1, 120)
    with pytest.raises(MappingError):
        StageMapEntry(" ", "closed_won", 1, 100)
    with pytest.raises(MappingError, match="twice"):
        StageMap((StageMapEntry("Won", "closed_won", 1, 100),
                  StageMapEntry("won", "closed_won", 2, 100)))  # fmt: skip


def test_json_round_trip_and_rows() -> None:
    smap = guess_stage_map(["Won", "Engaging", "Lost", "Prospecting"])
    assert StageMap.from_json(smap.to_json()) == smap
    assert StageMap.from_dict(smap.to_dict()) == smap
    assert smap.rows()[0] == ("Prospecting", "opportunity", 1, 10)
    with pytest.raises(MappingError):
        StageMap.from_json("{}")
    with pytest.raises(MappingError):
        StageMap.from_json("nope")

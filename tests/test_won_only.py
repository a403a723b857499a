"""A dataset that records no lost deal has no win rate, and one whose every deal is won has no
deal-stage conversion: either would be 100% by construction (docs/metrics.md). Olist's closed
deals are such a file (won deals only); a Salesforce demo org has won and open deals but no
lost one. Each case is a tiny hand-written dataset with the arithmetic beside it."""

from __future__ import annotations

from typing import Any

import pytest

from engine.analyses import funnel
from engine.semantic import compute, make_request
from tests.metrics_fixtures import D, insert, new_con

AS_OF = "2026-09-20"


def _deal(i: str, stage: str, amount: float = 100.0) -> dict[str, Any]:
    return dict(
        opportunity_id=i,
        owner="A",
        stage=stage,
        amount=amount,
        created_date=D(2026, 7, 1),
        close_date=D(2026, 8, 1),
    )


def _values(deals: list[dict[str, Any]]) -> tuple[Any, Any, funnel.FunnelPath]:
    con = new_con()
    insert(con, "opportunities", deals)
    win_rate = compute(con, make_request(["win_rate"], as_of=AS_OF)).value
    conversion = compute(con, make_request(["stage_conversion"], as_of=AS_OF)).value
    path = funnel.funnel_path(con)
    con.close()
    return win_rate, conversion, path


def test_won_deals_only_have_no_win_rate_and_no_deal_conversion() -> None:
    win_rate, conversion, path = _values([_deal("w1", "Closed Won"), _deal("w2", "Closed Won")])
    # won 2 / (won 2 + lost 0) would be 100% by construction: null instead
    assert win_rate is None
    assert conversion is None  # 2 of 2 reached won, by construction
    assert [t.id for t in path.transitions] == []
    assert path.why_not("opportunity", "closed_won").startswith("every deal is won")


def test_won_and_open_deals_without_a_lost_one_have_conversion_but_no_win_rate() -> None:
    deals = [_deal("w1", "Closed Won"), _deal("o1", "Prospecting"), _deal("o2", "Prospecting")]
    win_rate, conversion, path = _values(deals)
    assert win_rate is None  # no lost deal anywhere: 1 / (1 + 0) would be 100%
    # reached won 1 of 3 opportunities (the open deals stay in the denominator): 1 / 3
    assert conversion == pytest.approx(1 / 3)
    # the Salesforce stage map of the fixture maps stages to proposal, so the path has it
    assert [t.id for t in path.transitions] == ["opportunity_to_proposal", "proposal_to_closed_won"]


def test_one_lost_deal_gives_the_win_rate_back() -> None:
    deals = [_deal("w1", "Closed Won"), _deal("w2", "Closed Won"), _deal("l1", "Closed Lost")]
    win_rate, conversion, _ = _values(deals)
    assert win_rate == pytest.approx(2 / 3)  # won 2 / (won 2 + lost 1)
    assert conversion == pytest.approx(2 / 3)  # 2 of 3 opportunities reached won


def test_velocity_win_rate_lever_follows_the_win_rate_metric() -> None:
    con = new_con()
    insert(con, "opportunities", [_deal("w1", "Closed Won"), _deal("o1", "Prospecting")])
    vel = compute(con, make_request(["sales_velocity"], as_of=AS_OF))
    con.close()
    # the lever would be won 1 / closed 1 = 100% with no lost deal recorded: null, and so is
    # the velocity built on it; the other levers stay (2 created, $100 average won deal)
    assert vel.extras["win_rate"] is None and vel.value is None
    assert vel.extras["opportunities_created"] == 2
    assert vel.extras["avg_deal_size"] == 100.0

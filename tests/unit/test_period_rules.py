"""Issue 3 rules measured over time and money: rolling-period quantity (9G) and days supply (AG),
prior authorizations with an approved quantity, non-preferred product amounts (135-UM/136-UN),
and purse benefit stacks with networks, per-period caps, frequency limits and class rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from rx_gateway.domain.adjudication import Paid
from rx_gateway.domain.member import Fill, PriorAuthorization, PurseSpend, PurseState
from rx_gateway.domain.reference import (
    CostShareKind,
    CostShareRule,
    FormularyEntry,
    FormularyStatus,
    PharmacyNetwork,
    PursePeriod,
    PurseRule,
)
from tests.unit.domain_fixtures import BRAND, GENERIC, PLAN, SNAPSHOT, claim, state, with_header
from tests.unit.test_plan_rules import codes, decide, snapshot_with

DOS = dt.date(2026, 11, 2)  # the fixtures' date of service
PERIOD_ENTRY = FormularyEntry(
    "P1",
    GENERIC.ndc,
    FormularyStatus.COVERED,
    1,
    period_days=30,
    period_quantity_limit_thousandths=60_000,
    period_days_supply_max=45,
)


def with_entry(entry: FormularyEntry, **plan_changes: object):  # type: ignore[no-untyped-def]
    others = [e for e in SNAPSHOT.formulary.values() if e.ndc != entry.ndc]
    return snapshot_with(dict(plan_changes), entries=[*others, entry])


def fill(days_ago: int, quantity: int, days_supply: int = 15) -> Fill:
    return Fill("mol-a", DOS - dt.timedelta(days=days_ago), days_supply, quantity)


# ------------------------------------------------------------------ 9G and AG


@pytest.mark.parametrize(
    ("history", "quantity", "days", "expected"),
    [
        ((), 30_000, 15, None),  # first fill
        ((fill(10, 30_000),), 30_000, 15, None),  # exactly at both limits
        ((fill(10, 40_000),), 30_000, 15, ["9G"]),  # 70 > 60 units in 30 days
        ((fill(10, 10_000, 40),), 10_000, 15, ["AG"]),  # 55 > 45 days in 30 days
        ((fill(10, 50_000, 40),), 20_000, 10, ["9G", "AG"]),  # both, reported together
        ((fill(30, 60_000, 45),), 60_000, 45, None),  # 30 days ago: outside the window
        ((fill(29, 60_000, 45),), 1_000, 1, ["9G", "AG"]),  # 29 days ago: inside
    ],
)
def test_rolling_period_limits(
    history: tuple[Fill, ...], quantity: int, days: int, expected: list[str] | None
) -> None:
    """The window is the last period_days days including the date of service; refill-too-soon
    is off here (threshold 0) so only the period limits decide."""
    snapshot = with_entry(PERIOD_ENTRY, refill_too_soon_threshold_bp=0)
    request = claim(GENERIC, quantity_dispensed_thousandths=quantity, days_supply=days)
    decision = decide(snapshot, request, state(fills=history))
    if expected is None:
        assert isinstance(decision, Paid), decision
    else:
        assert codes(decision) == expected


def test_period_messages_say_what_may_be_dispensed_now() -> None:
    snapshot = with_entry(PERIOD_ENTRY, refill_too_soon_threshold_bp=0)
    decision = decide(
        snapshot,
        claim(GENERIC, quantity_dispensed_thousandths=30_000, days_supply=15),
        state(fills=(fill(5, 45_000, 20),)),
    )
    assert codes(decision) == ["9G"]
    assert decision.response.message == (
        "Quantity limit 60 per 30 days; 45 already filled, submitted 30."
        " Up to 15 may be dispensed now"
    )


def test_per_fill_limit_names_the_limit_and_what_was_asked() -> None:
    decision = decide(SNAPSHOT, claim(BRAND, quantity_dispensed_thousandths=120_000))
    assert codes(decision) == ["76"]
    assert decision.response.message.startswith("Quantity limit 90 per fill; submitted 120.")


def test_prior_authorization_quantity_lifts_the_per_fill_limit_up_to_it() -> None:
    """A PA approving 120 units lets 120 through the 90-unit limit, not 150."""
    approved = PriorAuthorization(
        BRAND.ndc, None, dt.date(2026, 1, 1), dt.date(2026, 12, 31), "Q1", 120_000
    )
    member = state(prior_authorizations=(approved,))
    assert isinstance(
        decide(SNAPSHOT, claim(BRAND, quantity_dispensed_thousandths=120_000), member), Paid
    )
    assert codes(
        decide(SNAPSHOT, claim(BRAND, quantity_dispensed_thousandths=150_000), member)
    ) == ["76"]


def test_prior_authorization_message_names_where_to_ask() -> None:
    entry = replace(SNAPSHOT.formulary[("P1", GENERIC.ndc)], prior_authorization_required=True)
    snapshot = with_entry(entry, prior_authorization_contact="fax 1-800-555-0100")
    decision = decide(snapshot, claim(GENERIC))
    assert codes(decision) == ["75"]
    assert decision.response.message == (
        "Prior authorization required for generic: the prescriber requests it at fax 1-800-555-0100"
    )
    # a PA for a smaller quantity does not cover a larger fill
    small = PriorAuthorization(
        GENERIC.ndc, None, dt.date(2026, 1, 1), dt.date(2026, 12, 31), "S", 10_000
    )
    assert codes(decide(snapshot, claim(GENERIC), state(prior_authorizations=(small,)))) == ["75"]


# ------------------------------------------------------------------ 135-UM / 136-UN


@pytest.mark.parametrize(("drug", "um", "un"), [(GENERIC, 1_500, 0), (BRAND, 0, 1_500)])
def test_non_preferred_amount_is_reported_by_brand_or_generic(drug, um: int, un: int) -> None:  # type: ignore[no-untyped-def]
    """A non-preferred tier's surcharge: 135-UM for a generic, 136-UN for a brand; part of F5
    and of the out-of-pocket maximum."""
    tier3 = CostShareRule(
        CostShareKind.COPAY,
        copay_cents=4_000,
        deductible_applies=False,
        non_preferred_extra_cents=1_500,
    )
    entry = replace(SNAPSHOT.formulary[("P1", drug.ndc)], tier=3, quantity_limit_thousandths=None)
    snapshot = with_entry(entry, tiers={**PLAN.tiers, 3: tier3}, purse_order=())
    decision = decide(
        snapshot,
        claim(drug, quantity_dispensed_thousandths=3_000_000 if drug is GENERIC else 90_000),
    )
    assert isinstance(decision, Paid), decision
    pricing = decision.response.pricing
    assert pricing is not None
    assert pricing.amount_attributed_to_non_preferred_formulary_cents == um
    assert pricing.amount_attributed_to_brand_non_preferred_formulary_cents == un
    assert pricing.amount_of_copay_cents == 4_000
    assert pricing.patient_pay_amount_cents == 5_500
    assert decision.response.accumulators is not None
    assert decision.response.accumulators.out_of_pocket_individual_met_cents == 5_500


# ------------------------------------------------------------------ purse stacks


# A generic whose cost is well above the $10 tier-1 copay: the member owes $10 on each fill.
FILL = claim(GENERIC, quantity_dispensed_thousandths=300_000)
HRA = PurseState("HRA-F1", "HRA", 100_000)
WELLNESS = PurseState("WELL-F1", "WELLNESS", 100_000)


def paid_by(decision) -> dict[str, int]:  # type: ignore[no-untyped-def]
    assert isinstance(decision, Paid), decision
    return {line.purse_id: line.paid_cents for line in decision.response.purses}


def stack(*rules: PurseRule, **plan_changes: object):  # type: ignore[no-untyped-def]
    return snapshot_with({"purse_order": rules, **plan_changes})


def test_purse_limited_to_preferred_pharmacies() -> None:
    snapshot = stack(PurseRule("HRA", allowed_networks=frozenset({PharmacyNetwork.PREFERRED})))
    member = state(purses=(HRA,))
    assert paid_by(decide(snapshot, FILL, member)) == {"HRA-F1": 1_000}
    standard = decide(snapshot, with_header(FILL, service_provider_id="1000000002"), member)
    assert paid_by(standard) == {}
    assert "purse HRA: not allowed at standard pharmacies" in standard.response.rule_trace


def spend(day: dt.date, cents: int, purse: str = "HRA-F1") -> PurseSpend:
    return PurseSpend(purse, day, cents)


@pytest.mark.parametrize(
    ("spends", "expected"),
    [
        ((), {"HRA-F1": 1_000}),
        ((spend(dt.date(2026, 9, 30), 2_500),), {"HRA-F1": 1_000}),  # Q3 spending: not counted
        ((spend(dt.date(2026, 10, 1), 2_000),), {"HRA-F1": 500}),  # Q4 began Oct 1: $5 left
        ((spend(dt.date(2026, 12, 31), 2_500),), {}),  # a later claim in Q4 used it all
    ],
)
def test_quarterly_cap(spends: tuple[PurseSpend, ...], expected: dict[str, int]) -> None:
    """A $25 per quarter cap on what the HRA pays, whatever its balance."""
    rule = PurseRule("HRA", period=PursePeriod.QUARTER, per_period_max_cents=2_500)
    member = state(purses=(HRA,), purse_spends=spends)
    assert paid_by(decide(stack(rule), FILL, member)) == expected


def test_quarterly_cap_resets_in_the_next_quarter() -> None:
    rule = PurseRule("HRA", period=PursePeriod.QUARTER, per_period_max_cents=2_500)
    spent = (spend(dt.date(2026, 9, 30), 2_500),)  # Q3: full
    member = state(purses=(HRA,), purse_spends=spent)
    assert paid_by(decide(stack(rule), FILL, member)) == {"HRA-F1": 1_000}
    in_q3 = decide(stack(rule), with_header(FILL, date_of_service="20260930"), member)
    assert paid_by(in_q3) == {}
    assert any("$25.00 per quarter, $0.00 left" in t for t in in_q3.response.rule_trace)


def test_frequency_limit_counts_fills_in_the_month() -> None:
    rule = PurseRule("WELLNESS", period=PursePeriod.MONTH, fills_per_period_max=2)
    one = (spend(dt.date(2026, 11, 1), 300, "WELL-F1"),)
    two = (*one, spend(dt.date(2026, 11, 2), 300, "WELL-F1"))
    october = (spend(dt.date(2026, 10, 30), 300, "WELL-F1"),) * 2
    for spends, expected in ((one, {"WELL-F1": 1_000}), (two, {}), (october, {"WELL-F1": 1_000})):
        member = state(purses=(WELLNESS,), purse_spends=spends)
        assert paid_by(decide(stack(rule), FILL, member)) == expected


def test_class_has_its_own_benefit_stack() -> None:
    """Retirees (class RET) draw the wellness purse first; everyone else the HRA only."""
    snapshot = stack(
        PurseRule("HRA"),
        purse_order_by_class={
            "RET": (PurseRule("WELLNESS", per_fill_max_cents=400), PurseRule("HRA"))
        },
    )
    purses = (HRA, WELLNESS)
    full_time = state(purses=purses)
    retiree = state(purses=purses, member=replace(full_time.member, class_code="RET"))
    assert paid_by(decide(snapshot, FILL, full_time)) == {"HRA-F1": 1_000}
    assert paid_by(decide(snapshot, FILL, retiree)) == {"WELL-F1": 400, "HRA-F1": 600}


def test_due_allotment_is_spendable_and_pending_is_not() -> None:
    """The domain spends available_cents (posted + due); pending money is only reported."""
    purse = PurseState("HRA-F1", "HRA", available_cents=700, posted_cents=200, pending_cents=5_000)
    decision = decide(stack(PurseRule("HRA")), FILL, state(purses=(purse,)))
    assert paid_by(decision) == {"HRA-F1": 700}
    assert decision.response.purses[0].available_cents == 0
    # the write must post the due allotment before it spends it
    assert isinstance(decision, Paid)
    assert decision.releases_allotments


def test_nothing_to_release_when_no_allotment_is_due() -> None:
    """A purse with only posted money (pending ones included) asks the write for no release,
    and neither does a claim that spends no purse."""
    posted = PurseState("HRA-F1", "HRA", available_cents=700, posted_cents=700, pending_cents=5_000)
    decision = decide(stack(PurseRule("HRA")), FILL, state(purses=(posted,)))
    assert isinstance(decision, Paid)
    assert paid_by(decision) == {"HRA-F1": 700}
    assert not decision.releases_allotments
    due = PurseState("HRA-F1", "HRA", available_cents=700, posted_cents=200)
    unspent = decide(stack(PurseRule("WELLNESS")), FILL, state(purses=(due,)))
    assert isinstance(unspent, Paid)
    assert paid_by(unspent) == {}
    assert not unspent.releases_allotments

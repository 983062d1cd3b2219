"""Utilization and recommendations (domain/utilization.py): the summary of stored claims, and two
opportunities (generic for brand, 90-day mail for maintenance fills) sized by the simulator,
each against numbers worked out by hand from the test plan."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.reference import (
    CostShareKind,
    CostShareRule,
    DaysSupplyBand,
    Drug,
    Pharmacy,
    PharmacyNetwork,
    ReferenceSnapshot,
)
from rx_gateway.domain.simulation import Household, MemberBase, StoredEvent, replay
from rx_gateway.domain.utilization import (
    generic_moves,
    mail_moves,
    size,
    summarise,
    transform_of,
)
from tests.unit.domain_fixtures import BRAND, GENERIC, PLAN, SNAPSHOT, STATE, claim

BUSINESS_DATE = dt.date(2026, 11, 23)
START, END = dt.date(2026, 3, 1), dt.date(2026, 4, 30)
MAIL = Pharmacy("1000000009", "mail", PharmacyNetwork.PREFERRED, "mail")
# The test plan with a $1 generic copay (x2 for 35-90 days) and a $40 brand copay outside the
# deductible: every amount below is worked out from these.
TEST_PLAN = replace(
    PLAN,
    tiers={
        1: CostShareRule(
            CostShareKind.COPAY,
            copay_cents=100,
            deductible_applies=False,
            days_supply_bands=(DaysSupplyBand(34, 10_000), DaysSupplyBand(90, 20_000)),
        ),
        2: CostShareRule(CostShareKind.COPAY, copay_cents=4_000, deductible_applies=False),
    },
)
TEST_SNAPSHOT = ReferenceSnapshot.build(
    "7",
    [TEST_PLAN],
    list(SNAPSHOT.drugs.values()),
    list(SNAPSHOT.formulary.values()),
    [*SNAPSHOT.pharmacies.values(), MAIL],
)
MEMBERS = {"M1": MemberBase(STATE.member, STATE.coverages)}
NO_PURSES = Household("F1", MEMBERS)
WITH_PURSE = Household(
    "F1",
    MEMBERS,
    purses=(("HRA-F1", "HRA", 5_000),),
    allotments=(("HRA-F1", dt.date(2026, 4, 15), 1_000), ("HRA-F1", dt.date(2026, 6, 1), 2_000)),
)


def _stored(
    requests: list[ClaimRequest], household: Household, reversed_: frozenset[int] = frozenset()
) -> list[StoredEvent]:
    """The claims as they 'really happened' (decided in order on the family's state: the
    simulator's own core, which reproduces the claim path), the ``reversed_`` ones reversed
    right after."""
    events: list[StoredEvent] = []
    for number, request in enumerate(requests):
        events.append(
            StoredEvent(
                len(events),
                "F1",
                "M1",
                f"ICN{number}",
                request=request,
                business_date=BUSINESS_DATE,
                authorization_number=f"A{number}",
            )
        )
        if number in reversed_:
            events.append(
                StoredEvent(len(events), "F1", "M1", f"ICN{number}", reverses=f"ICN{number}")
            )
    decided = {
        r.event.internal_control_number: r
        for r in replay(events, {"F1": household}, TEST_SNAPSHOT, TEST_SNAPSHOT, lambda _e: False)
    }
    stored = []
    for event in events:
        r = decided.get(event.internal_control_number)
        if event.request is None or r is None:
            stored.append(event)
            continue
        stored.append(
            replace(
                event,
                real=r.response if r.paid else None,
                real_rejects=tuple(x.code.value for x in r.response.rejects),
                reversed_later=r.reversed_later,
            )
        )
    return stored


def _claim(drug: Drug, rx: str, day: str, **changes: object) -> ClaimRequest:
    return claim(drug, prescription_reference_number=rx, date_of_service=day, **changes)


def test_the_summary_of_a_period() -> None:
    events = _stored(
        [
            _claim(GENERIC, "5", "20260125"),  # before the period: its purse payment counts
            _claim(GENERIC, "1", "20260301"),  # 30 x $0.12 MAC + $1 fee = $4.60; copay $1
            _claim(BRAND, "2", "20260402"),  # 30 x $10 AWP - 20% + $1 = $241; copay $40
            _claim(GENERIC, "3", "20260403", service_provider_id="1000000003"),  # out: rejected
            _claim(BRAND, "4", "20260428"),  # reversed
        ],
        WITH_PURSE,
        reversed_=frozenset({4}),
    )
    summary = summarise(events, {"F1": WITH_PURSE}, TEST_SNAPSHOT, START, END)
    assert (summary.claims, summary.paid, summary.reversed, summary.rejected) == (4, 2, 1, 1)
    # the purse (HRA, tiers 1 and 2) pays each member share: the member pays nothing
    assert summary.overall.as_dict() == {
        "fills": 2,
        "allowed_cents": 460 + 24_100,
        "plan_paid_cents": 360 + 20_100,
        "member_paid_cents": 0,
        "purse_paid_cents": 100 + 4_000,
    }
    assert summary.generic_dispensing_rate == 0.5
    assert summary.brand_with_generic.fills == 1
    assert summary.brand_with_generic.plan_paid_cents == 20_100
    assert summary.specialty_share == 0.0
    assert {k: b.fills for k, b in summary.by["tier"].items()} == {"1": 1, "2": 1}
    assert summary.by["tier"]["2"].allowed_cents == 24_100
    assert {k: b.fills for k, b in summary.by["pharmacy_class"].items()} == {"retail": 2}
    assert {k: b.fills for k, b in summary.by["network"].items()} == {"preferred": 2}
    assert {k: b.fills for k, b in summary.by["supply"].items()} == {"30-day": 2}
    assert set(summary.by["drug_group"]) == {"cardio"}
    # funded by the end: $50 on file and the April allotment ($10); the June one is not due.
    # Spent: $1 in February, $1 + $40 in the period (the reversed claim's payment undone).
    assert summary.purses.as_dict() == {
        "purses": 1,
        "funded_cents": 6_000,
        "spent_before_period_cents": 100,
        "spent_in_period_cents": 4_100,
        "breakage_cents": 6_000 - 100 - 4_100,
    }


def test_generic_for_brand_sized_by_the_simulator() -> None:
    events = _stored(
        [
            _claim(BRAND, "1", "20260302"),
            _claim(BRAND, "2", "20260303", dispense_as_written=1),  # as written: not moved
            _claim(GENERIC, "3", "20260304"),
        ],
        NO_PURSES,
    )
    moves = generic_moves(events, TEST_SNAPSHOT, START, END)
    assert [m.icns for m in moves] == [("ICN0",)]
    generic = moves[0].request
    # the brand's submitted cost and U&C scaled by the AWP ratio ($1 / $10), the fee kept
    assert (generic.product_id, generic.ingredient_cost_submitted_cents) == (GENERIC.ndc, 3_000)
    assert generic.usual_and_customary_charge_cents == 6_020
    assert generic.gross_amount_due_cents == 3_200
    opportunity = size("generic", moves, events, {"F1": NO_PURSES}, TEST_SNAPSHOT, START, END)
    # brand: allowed $241, member $40, plan $201; generic: allowed $4.60, member $1, plan $3.60
    assert opportunity.plan_saving_cents == 20_100 - 360
    assert opportunity.member_saving_cents == 4_000 - 100
    assert (opportunity.fills_moved, opportunity.members, opportunity.not_payable) == (1, 1, 0)
    assert opportunity.reproduced == opportunity.replayed == 3
    # the saving is the difference of two direct replays
    inside = lambda e: e.request is not None and START <= e.request.service_date <= END  # noqa: E731
    direct = replay(
        events, {"F1": NO_PURSES}, TEST_SNAPSHOT, TEST_SNAPSHOT, inside, transform_of(moves)
    )
    assert sum(
        r.response.pricing.plan_paid_cents for r in direct if r.paid and r.response.pricing
    ) == (opportunity.scenario.plan_paid_cents)


def test_maintenance_fills_merged_into_90_day_mail() -> None:
    days = ("20260301", "20260331", "20260430", "20260420")
    requests = [_claim(GENERIC, str(n), day) for n, day in enumerate(days[:3])]
    requests.append(_claim(BRAND, "9", days[3]))  # one fill of a product: not maintenance
    events = _stored(requests, NO_PURSES)
    moves = mail_moves(events, TEST_SNAPSHOT, START, END)
    assert [m.icns for m in moves] == [("ICN0", "ICN1", "ICN2")]
    merged = moves[0].request
    assert merged.header.service_provider_id == MAIL.npi
    assert (merged.quantity_dispensed_thousandths, merged.days_supply) == (90_000, 90)
    assert merged.header.date_of_service == "20260301"
    opportunity = size("mail_90_day", moves, events, {"F1": NO_PURSES}, TEST_SNAPSHOT, START, END)
    # three fills at $4.60 (member $1, plan $3.60) against one of 90 x $0.12 + $1 = $11.80
    # (member $2: the 90-day band doubles the copay; plan $9.80)
    assert opportunity.plan_saving_cents == 3 * 360 - 980
    assert opportunity.member_saving_cents == 3 * 100 - 200
    assert (opportunity.fills_moved, opportunity.new_fills, opportunity.members) == (3, 1, 1)


def test_a_move_the_plan_rejects_is_not_proposed() -> None:
    """Three 34-day fills merged are 102 days, past the plan's 90: the plan would reject the
    mail fill, so the fills are left as they were and nothing is saved."""
    days = ("20260301", "20260402", "20260430")
    requests = [_claim(GENERIC, str(n), day, days_supply=34) for n, day in enumerate(days)]
    events = _stored(requests, NO_PURSES)
    moves = mail_moves(events, TEST_SNAPSHOT, START, END)
    assert len(moves) == 1 and moves[0].request.days_supply == 102
    opportunity = size("mail_90_day", moves, events, {"F1": NO_PURSES}, TEST_SNAPSHOT, START, END)
    assert (opportunity.fills_moved, opportunity.not_payable) == (0, 3)
    assert opportunity.plan_saving_cents == opportunity.member_saving_cents == 0

"""The pure replay of stored claims (domain/simulation.py) and the request record it replays
(domain/claim_record.py): the unchanged design answers what was answered, a copay change moves
what members pay by the amount worked out by hand, a formulary move flips a claim."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.adapters.plan_design import DesignError, apply_design, merge_patch
from rx_gateway.domain.accumulators import apply_moves
from rx_gateway.domain.additional_amounts import AdditionalAmounts, OtherAmount
from rx_gateway.domain.adjudication import Paid, adjudicate_checked
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.claim_record import request_from_record, request_to_record
from rx_gateway.domain.compound_segment import Compound, Ingredient
from rx_gateway.domain.dur import DurService
from rx_gateway.domain.member import Fill, MemberState
from rx_gateway.domain.other_payments import OtherPayment
from rx_gateway.domain.reference import (
    FormularyEntry,
    FormularyStatus,
    Plan,
    ReferenceSnapshot,
)
from rx_gateway.domain.simulation import (
    Household,
    MemberBase,
    StoredEvent,
    compare,
    most_affected,
    period_filter,
    replay,
    reproduces,
)
from tests.unit.domain_fixtures import BRAND, GENERIC, INSULIN, PLAN, SNAPSHOT, STATE, claim

BUSINESS_DATE = dt.date(2026, 11, 23)
NO_PURSES = replace(STATE, purses=())
HOUSEHOLD = Household(
    "F1",
    {"M1": MemberBase(STATE.member, STATE.coverages)},
)


def _history(
    requests: list[ClaimRequest], reversed_numbers: frozenset[int] = frozenset()
) -> list[StoredEvent]:
    """What 'really happened', worked out without the simulator: each claim decided on the
    member's state as the previous paid claims left it (accumulators, fills), reversals undo."""
    state: MemberState = NO_PURSES
    events: list[StoredEvent] = []
    for number, request in enumerate(requests):
        icn = f"ICN{number}"
        decision = adjudicate_checked(
            request,
            SNAPSHOT,
            state,
            authorization_number=f"A{number}",
            internal_control_number=icn,
            business_date=BUSINESS_DATE,
        )
        paid = isinstance(decision, Paid)
        events.append(
            StoredEvent(
                len(events),
                "F1",
                "M1",
                icn,
                request=request,
                business_date=BUSINESS_DATE,
                authorization_number=f"A{number}",
                real=decision.response if paid else None,
                real_rejects=tuple(r.code.value for r in decision.response.rejects),
                reversed_later=paid and number in reversed_numbers,
            )
        )
        if isinstance(decision, Paid) and number not in reversed_numbers:
            year = next(iter(decision.accumulator_moves)).plan_year_start
            before = state.accumulators_for("P1", year)
            fill = Fill(
                decision.molecule,
                request.service_date,
                request.days_supply,
                request.quantity_dispensed_thousandths,
                request.product_id,
                request.header.service_provider_id,
                prescription=f"{request.prescription_reference_number}|{request.fill_number}",
            )
            state = replace(
                state,
                accumulators={("P1", year): apply_moves(before, decision.accumulator_moves)},
                fills=(*state.fills, fill),
            )
        if paid and number in reversed_numbers:
            events.append(StoredEvent(len(events), "F1", "M1", "", reverses=icn))
    return events


def _claims() -> list[ClaimRequest]:
    return [
        claim(GENERIC, prescription_reference_number="1", date_of_service="20260301"),
        claim(BRAND, prescription_reference_number="2", date_of_service="20260302"),
        claim(BRAND, prescription_reference_number="3", date_of_service="20260401"),
        # out of network: rejected, whatever the design
        claim(
            GENERIC,
            prescription_reference_number="4",
            date_of_service="20260402",
            service_provider_id="1000000003",
        ),
        claim(GENERIC, prescription_reference_number="5", date_of_service="20260501"),
        claim(INSULIN, prescription_reference_number="6", date_of_service="20260601"),
    ]


def _snapshot(plans: list[Plan], formulary: list[FormularyEntry]) -> ReferenceSnapshot:
    return ReferenceSnapshot.build(
        "design",
        plans,
        list(SNAPSHOT.drugs.values()),
        formulary,
        list(SNAPSHOT.pharmacies.values()),
    )


def _household() -> dict[str, Household]:
    return {"F1": HOUSEHOLD}


def test_the_request_record_round_trips_every_field() -> None:
    request = claim(
        BRAND,
        date_of_birth="19800101",
        gender_code=1,
        submission_clarification_codes=(7, 8),
        dur_services=(DurService("ER", "M0", "1B", 11),),
        other_coverage_code=2,
        other_payments=(
            OtherPayment("01", "03", "123", "20260101", (("07", 500),), ("70",), (("06", 20),)),
        ),
        additional_amounts=AdditionalAmounts(
            incentive_cents=5, other_amounts=(OtherAmount("01", 7),), patient_paid_cents=3
        ),
        compound_code=2,
        compound=Compound("10", "1", (Ingredient("03", GENERIC.ndc, 1_000, 50, "01", ("A",)),)),
    )
    record = request_to_record(request, BUSINESS_DATE)
    assert "cardholder_id" not in record
    assert record["business_date"] == "2026-11-23"
    assert request_from_record(record, "CH1") == request


def test_the_unchanged_design_reproduces_every_answer() -> None:
    events = _history(_claims(), reversed_numbers=frozenset({2}))
    replayed = replay(events, _household(), SNAPSHOT, SNAPSHOT, period_filter(None, None))
    assert len(replayed) == 6
    assert all(reproduces(r) for r in replayed)
    # the second fill of the molecule a day later is a refill too soon; out of network: 40
    assert [r.paid for r in replayed] == [True, False, True, False, True, True]
    assert replayed[2].reversed_later
    report = compare(replayed, _household(), SNAPSHOT, SNAPSHOT, replayed)
    assert report.reproduction_rate == 1.0
    assert report.overall.real.as_dict() == report.overall.simulated.as_dict()
    assert report.flips == []


def test_a_lower_generic_copay_lowers_member_pay_by_the_difference() -> None:
    """Tier 1: $10 → $2. A generic fill is allowed $4.60 (30 units at the $0.12 MAC and the
    $1.00 fee), below the $10 copay: the member paid $4.60; with a $2 copay $2.00, $2.60 less,
    and the plan pays $2.60 more. Two generic fills stand (March and May; no deductible on tier
    1), one is out of network (rejected either way): members pay $5.20 less; the brand's and
    the insulin's fills are not touched."""
    events = _history(_claims(), reversed_numbers=frozenset({2}))
    cheaper = replace(PLAN, tiers={**PLAN.tiers, 1: replace(PLAN.tiers[1], copay_cents=200)})
    design = _snapshot([cheaper], list(SNAPSHOT.formulary.values()))
    inside = period_filter(None, None)
    replayed = replay(events, _household(), SNAPSHOT, design, inside)
    report = compare(replayed, _household(), SNAPSHOT, design)
    real, simulated = report.overall.real, report.overall.simulated
    assert simulated.member_paid_cents - real.member_paid_cents == -520
    assert simulated.plan_paid_cents - real.plan_paid_cents == 520
    assert report.by["tier"]["2"].real.as_dict() == report.by["tier"]["2"].simulated.as_dict()
    assert report.member_change_cents == {"M1": -520}
    assert set(report.by["utilization_band"]) == {"6-11 claims"}  # M1's 6 claims
    assert set(report.by["age_band"]) == {"45-64"}  # born 1980
    assert most_affected(report) == ([], [("M1", -520)])
    # only March in the period: one generic fill, $2.60
    march = period_filter(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    report = compare(
        replay(events, _household(), SNAPSHOT, design, march), _household(), SNAPSHOT, design
    )
    assert report.claims_in_period == 2
    assert report.member_change_cents == {"M1": -260}


def test_a_formulary_move_flips_a_claim() -> None:
    """Insulin taken off the formulary (excluded): its paid fill is rejected (70). The brand
    excluded instead flips nothing: its one fill that was paid was reversed (it stands in
    neither world), the other was a refill too soon."""
    events = _history(_claims(), reversed_numbers=frozenset({2}))
    entries = [
        e
        if e.ndc != INSULIN.ndc
        else FormularyEntry("P1", INSULIN.ndc, FormularyStatus.EXCLUDED, e.tier)
        for e in SNAPSHOT.formulary.values()
    ]
    design = _snapshot(list(SNAPSHOT.plans.values()), entries)
    replayed = replay(events, _household(), SNAPSHOT, design, period_filter(None, None))
    report = compare(replayed, _household(), SNAPSHOT, design)
    assert [(f.internal_control_number, f.real, f.simulated) for f in report.flips] == [
        ("ICN5", "paid", "rejected")
    ]
    assert report.flips[0].rejects == ("70",)
    assert report.overall.simulated.paid_claims == report.overall.real.paid_claims - 1


def test_a_merge_patch_merges_objects_replaces_values_and_removes_nulls() -> None:
    document = {"tiers": {"1": {"kind": "copay", "copay_cents": 1_000}, "2": {"x": 1}}, "a": 1}
    patched = merge_patch(document, {"tiers": {"1": {"copay_cents": 500}, "2": None}, "a": [2]})
    assert patched == {"tiers": {"1": {"kind": "copay", "copay_cents": 500}}, "a": [2]}
    assert document["tiers"]["1"]["copay_cents"] == 1_000  # not changed in place


def test_a_formulary_move_keeps_the_rest_of_the_entry() -> None:
    design = apply_design(
        {"formulary": [{"plan_id": "P1", "ndc": BRAND.ndc, "tier": 4}]}, "d.json", {}, SNAPSHOT
    )
    moved = design.formulary[("P1", BRAND.ndc)]
    assert moved == replace(SNAPSHOT.formulary[("P1", BRAND.ndc)], tier=4)
    assert moved.quantity_limit_thousandths == 90_000
    assert design.plans == SNAPSHOT.plans


@pytest.mark.parametrize(
    ("design", "expected"),
    [
        ([], "a design is a JSON object"),
        ({"plan": {}}, "unknown key 'plan'"),
        ({"plans": {}}, "changes nothing"),
        ({"plans": {"P9": {}}}, "plans.P9: no such plan"),
        ({"formulary": [{"plan_id": "P1", "ndc": "1"}]}, "ndc '1': no such drug"),
        ({"formulary": [{"plan_id": "P1", "ndc": GENERIC.ndc, "tier": "2"}]}, "not a tier"),
        ({"formulary": [{"plan_id": "P1", "ndc": GENERIC.ndc, "status": "gone"}]}, "status"),
        ({"formulary": [{"plan_id": "P1", "ndc": GENERIC.ndc, "colour": 1}]}, "colour"),
        # a tier the plan does not have was a KeyError traceback in the replay
        ({"formulary": [{"plan_id": "P1", "ndc": GENERIC.ndc, "tier": 9}]}, "tier 9"),
        ({"formulary": [{"plan_id": "P1", "ndc": GENERIC.ndc, "tier": -1}]}, "tier: -1 must be"),
        # the formulary file's rules for every field, and the JSON type each value must be
        *(
            ({"formulary": [{"plan_id": "P1", "ndc": GENERIC.ndc, field: value}]}, field)
            for field, value in (
                ("quantity_limit_thousandths", "abc"),
                ("quantity_limit_thousandths", -5),
                ("prior_authorization_required", "yes"),
                ("prior_authorization_required", 1),
                ("gender_code", 7),
                ("days_supply_max", 0),
                ("age_min", "x"),
                ("step_therapy_molecule", 5),
            )
        ),
    ],
)
def test_a_design_mistake_is_one_line(design: object, expected: str) -> None:
    with pytest.raises(DesignError) as raised:
        apply_design(design, "d.json", {"P1": {}}, SNAPSHOT)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("d.json")
    assert expected in message, message


def test_purse_funding_scales_each_kinds_starting_balance_and_allotments() -> None:
    """Hand-computed: an HRA of $500.00 posted and a $100.00 allotment at 150% → $750.00 and
    $150.00; the wellness purse untouched; 0 basis points funds nothing."""
    import datetime as dt

    from rx_gateway.domain.simulation import Household, with_purse_funding

    family = Household(
        "F1",
        {},
        purses=(("P-HRA", "HRA", 50_000), ("P-WELL", "WELLNESS", 7_500)),
        allotments=(("P-HRA", dt.date(2026, 7, 1), 10_000), ("P-WELL", dt.date(2026, 7, 1), 2_500)),
    )
    more = with_purse_funding({"F1": family}, {"HRA": 15_000})["F1"]
    assert more.purses == (("P-HRA", "HRA", 75_000), ("P-WELL", "WELLNESS", 7_500))
    assert more.allotments == (
        ("P-HRA", dt.date(2026, 7, 1), 15_000),
        ("P-WELL", dt.date(2026, 7, 1), 2_500),
    )
    none = with_purse_funding({"F1": family}, {"HRA": 0, "WELLNESS": 0})["F1"]
    assert [p[2] for p in none.purses] == [0, 0] and [a[2] for a in none.allotments] == [0, 0]
    assert with_purse_funding({"F1": family}, {})["F1"] == family


@pytest.mark.parametrize(
    ("funding", "problem"),
    [
        ([], "purse_funding is an object by purse kind"),
        ({"HRA": 15_000}, "purse_funding.HRA: give"),
        ({"HRA": {"scale_bp": -1}}, "purse_funding.HRA: give"),
        ({"HRA": {"scale_bp": 1.5}}, "purse_funding.HRA: give"),
        ({"HRA": {"scale_bp": 100, "cap": 1}}, "purse_funding.HRA: give"),
    ],
)
def test_a_bad_purse_funding_names_its_place(funding: Any, problem: str) -> None:
    from rx_gateway.adapters.plan_design import purse_funding_scales

    with pytest.raises(DesignError, match=problem):
        purse_funding_scales({"purse_funding": funding}, "d.json")


def test_reversing_a_spent_reward_leaves_the_purse_at_zero_as_the_ledger_does() -> None:
    """A $10.00 reward credited, then spent by another claim, then its claim reversed: the
    ledger recovers the $10.00 from the member (reward_recovery) and the purse stays at $0.00,
    never below; the replay's copy of the purse does the same (found in review)."""
    from types import SimpleNamespace

    from rx_gateway.domain.outcome import RewardLine
    from rx_gateway.domain.simulation import Household, _Family

    family = _Family.starting(Household("F", {}, {}, purses=(("P", "HRA", 0),)))
    family.posted["P"] += 1_000  # the reward, credited with its claim
    family.paid["ICN1"] = SimpleNamespace(  # type: ignore[assignment]
        accumulator_moves=(),
        purse_moves=(),
        rewards=(RewardLine("MAIL90", "P", "HRA", 1_000, "20260101", 1),),
        member_id="M",
    )
    family.posted["P"] -= 1_000  # another claim spent it
    family.reverse("ICN1")
    assert family.posted["P"] == 0


def test_a_design_refuses_only_the_unknown_keys_it_brings() -> None:
    """A stored plan document with a key no field reads (written by an earlier version) still
    takes a design that patches a copay; a key the patch itself misspells is refused; notes
    (`description`, `_...`) are never refused."""
    from rx_gateway.tools.synthetic.plans import plan_documents

    stored = next(d for d in plan_documents() if d["plan_id"] == "COMM-HRA-2026")
    stored = {**stored, "legacy_field": 1, "_note": "kept", "description": "a plan"}
    documents = {"COMM-HRA-2026": stored}
    copay = {"plans": {"COMM-HRA-2026": {"tiers": {"1": {"copay_cents": 500}}}}}
    designed = apply_design(copay, "d.json", documents, SNAPSHOT)
    assert designed.plans["COMM-HRA-2026"].tiers[1].copay_cents == 500
    typo = {"plans": {"COMM-HRA-2026": {"tiers": {"1": {"copay_centz": 500}}}}}
    with pytest.raises(DesignError, match=r"tiers\.1\.copay_centz"):
        apply_design(typo, "d.json", documents, SNAPSHOT)


def test_a_claim_stored_with_0_for_no_limit_is_reproduced_by_none() -> None:
    """Claims stored before 2026-12-01 kept 0 where a level has no limit (a self-only
    member's family figures); a replay now says None (not sent). The same answer: it is
    reproduced; another remaining amount is not."""
    events = _history(_claims())
    replayed = replay(events, _household(), SNAPSHOT, SNAPSHOT, period_filter(None, None))
    first = next(r for r in replayed if r.paid and r.response.accumulators is not None)
    view = first.response.accumulators
    assert view is not None
    no_limit = replace(view, deductible_family_remaining_cents=None)
    stored_then = replace(view, deductible_family_remaining_cents=0)
    now = replace(first, response=replace(first.response, accumulators=no_limit))
    then = replace(first.event, real=replace(first.response, accumulators=stored_then))
    assert reproduces(replace(now, event=then))
    other = replace(view, deductible_family_remaining_cents=1)
    then = replace(first.event, real=replace(first.response, accumulators=other))
    assert not reproduces(replace(now, event=then))

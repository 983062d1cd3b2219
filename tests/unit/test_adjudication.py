"""The pure adjudication core: rejects by group, pricing, cost share, purses, identities."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rx_gateway.adapters.postgres.records import response_from_record, response_to_record
from rx_gateway.domain.adjudication import Paid, Rejected, adjudicate, check_identities
from rx_gateway.domain.member import Accumulators, Coverage, Fill, PriorAuthorization
from rx_gateway.domain.outcome import ResponseStatus
from tests.unit.domain_fixtures import (
    BRAND,
    GENERIC,
    INSULIN,
    MET,
    SNAPSHOT,
    SPECIALTY,
    TERMINATED,
    claim,
    state,
)


def decide(request, member_state=None):  # type: ignore[no-untyped-def]
    return adjudicate(
        request,
        SNAPSHOT,
        state() if member_state is None else member_state,
        authorization_number="A1",
        internal_control_number="ICN1",
    )


def rejects_of(decision) -> list[str]:  # type: ignore[no-untyped-def]
    assert isinstance(decision, Rejected)
    assert decision.response.transaction_response_status is ResponseStatus.REJECTED
    return [r.code.value for r in decision.response.rejects]


@pytest.mark.parametrize(
    ("request_overrides", "member_state", "expected"),
    [
        ({"bin": "12"}, None, ["01"]),
        ({"bin": "999999"}, None, ["01"]),
        ({"processor_control_number": "OTHER"}, None, ["04"]),
        ({"date_of_service": "20261345"}, None, ["15"]),
        ({"days_supply": 0, "product_id": "123"}, None, ["19", "21"]),
        ({"quantity_dispensed_thousandths": 0}, None, ["E7"]),
        ({"dispense_as_written": 12}, None, ["22"]),
        ({"gross_amount_due_cents": 1}, None, ["R9"]),
        ({"usual_and_customary_charge_cents": 0}, None, ["8T"]),
        ({"group_id": ""}, None, ["06"]),
        ({"group_id": "OTHER"}, None, ["51"]),
        ({}, state(coverages=()), ["65"]),
        ({}, state(coverages=TERMINATED), ["69"]),
        ({"date_of_service": "20251201"}, None, ["67"]),
        ({"service_provider_id": "9999999999"}, None, ["50"]),
        ({"service_provider_id": "1000000003"}, None, ["40"]),
        ({"product_id": "00000000099"}, None, ["54"]),
        ({"days_supply": 120}, None, ["7X"]),
        # every request field, absurd values: the M/I reject for that field
        ({"cardholder_id": ""}, None, ["07"]),
        ({"cardholder_id": "X" * 10_000}, None, ["07"]),
        ({"person_code": "ABC"}, None, ["08"]),
        ({"date_of_birth": "19801345"}, None, ["09"]),
        ({"date_of_birth": "20300101"}, None, ["09"]),
        ({"gender_code": 7}, None, ["10"]),
        ({"prescription_reference_number": ""}, None, ["16"]),
        ({"fill_number": -1}, None, ["17"]),
        ({"fill_number": 100}, None, ["17"]),
        ({"days_supply": 9999}, None, ["19"]),
        ({"product_id_qualifier": "99"}, None, ["E1"]),
        # the fixture prices from the quantity, so absurd quantities bring absurd amounts too
        ({"quantity_dispensed_thousandths": -5}, None, ["E7", "R9"]),
        ({"quantity_dispensed_thousandths": 10**12}, None, ["8T", "8U", "E7"]),
        ({"prescriber_id": "12AB"}, None, ["25"]),
        ({"date_prescription_written": "20261203"}, None, ["28"]),
        ({"basis_of_cost_determination": "ZZ"}, None, ["DN"]),
        ({"gross_amount_due_cents": -100}, None, ["8U"]),
        ({"usual_and_customary_charge_cents": -1}, None, ["8T"]),
        ({"service_provider_id": ""}, None, ["05"]),
        ({"gender_code": 9, "date_of_birth": "x", "prescriber_id": "1"}, None, ["09", "10", "25"]),
        # coded fields the gateway does not use still hold to their values (a Node.js client
        # sent each of these and was paid)
        ({"patient_relationship_code": 5}, None, ["11"]),
        ({"patient_relationship_code": -1}, None, ["11"]),
        ({"service_provider_id_qualifier": "07"}, None, ["B2"]),
        ({"service_provider_id_qualifier": "99"}, None, ["B2"]),
        ({"prescriber_id_qualifier": "12"}, None, ["EZ"]),
        ({"prescriber_id_qualifier": "ZZ", "prescriber_id": "1"}, None, ["EZ", "25"]),
        ({"prior_authorization_type_code": "99"}, None, ["EU"]),
        ({"prior_authorization_type_code": "1X"}, None, ["EU"]),
    ],
)
def test_reject_table(request_overrides: dict, member_state, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Each rule group rejects with its NCPDP code; syntax rejects come in precedence order."""
    assert rejects_of(decide(claim(**request_overrides), member_state)) == expected


@pytest.mark.parametrize(
    "overrides",
    [
        {"patient_relationship_code": 4},
        {"service_provider_id_qualifier": "01"},
        {"prescriber_id_qualifier": "01"},
        {"prior_authorization_type_code": "00"},
        {"prior_authorization_type_code": "9"},
    ],
)
def test_coded_fields_within_their_values_pay(overrides: dict[str, object]) -> None:
    assert isinstance(decide(claim(**overrides)), Paid)


def test_unknown_member_is_52() -> None:
    """No member for the cardholder ID and person code."""
    decision = adjudicate(
        claim(), SNAPSHOT, None, authorization_number="A", internal_control_number="I"
    )
    assert rejects_of(decision) == ["52"]


def test_expired_coverage_is_68() -> None:
    """An end date without termination means the coverage expired."""
    expired = (Coverage("P1", "G1", dt.date(2025, 1, 1), dt.date(2026, 6, 30), None, "COMMERCIAL"),)
    assert rejects_of(decide(claim(), state(coverages=expired))) == ["68"]


def test_prior_authorization_required_unless_on_file() -> None:
    """75 without a PA; paid with one covering the date of service."""
    assert rejects_of(decide(claim(SPECIALTY, quantity_dispensed_thousandths=1_000))) == ["75"]
    pa = PriorAuthorization(None, "specialty", dt.date(2026, 1, 1), dt.date(2026, 12, 31), "PA1")
    decision = decide(
        claim(SPECIALTY, quantity_dispensed_thousandths=1_000), state(prior_authorizations=(pa,))
    )
    assert isinstance(decision, Paid)


def test_quantity_and_days_limits_report_together() -> None:
    """Both limit rejects of the limits group come back at once, with the limit in the message."""
    decision = decide(claim(BRAND, quantity_dispensed_thousandths=100_000, days_supply=95))
    assert rejects_of(decision) == ["76", "7X"]
    assert "90" in decision.response.message


def test_refill_too_soon_names_the_earliest_date() -> None:
    """80% of a 30-day supply filled 2026-10-20 allows the next fill on 2026-11-13."""
    fills = (Fill("mol-a", dt.date(2026, 10, 20), 30),)
    decision = decide(claim(), state(fills=fills))
    assert rejects_of(decision) == ["79"]
    assert "2026-11-13" in decision.response.message
    assert isinstance(
        decide(claim(), state(fills=(Fill("mol-a", dt.date(2026, 10, 1), 30),))), Paid
    )


def paid(decision) -> Paid:  # type: ignore[no-untyped-def]
    assert isinstance(decision, Paid), decision
    return decision


def test_generic_priced_at_mac_and_copay_lesser_of_cost() -> None:
    """MAC $3.60 + $1.00 fee beats AWP−20%; a $10 copay is capped at the $4.60 cost; HRA pays it."""
    result = paid(decide(claim()))
    p = result.response.pricing
    assert p is not None
    assert (p.allowed_amount_cents, p.basis_of_reimbursement_determination) == (460, "07")
    assert (p.ingredient_cost_paid_cents, p.dispensing_fee_paid_cents) == (360, 100)
    assert p.amount_of_copay_cents == 460
    assert p.health_plan_funded_assistance_amount_cents == -460
    assert p.patient_pay_amount_cents == 0
    assert result.purse_moves[0].amount_cents == -460


def test_usual_and_customary_wins_when_lowest() -> None:
    """U&C below the contract price is paid as submitted (522-FM 04)."""
    p = paid(decide(claim(usual_and_customary_charge_cents=300))).response.pricing
    assert p is not None
    assert (p.allowed_amount_cents, p.basis_of_reimbursement_determination) == (300, "04")


def test_brand_inside_deductible_then_copay_after() -> None:
    """AWP−20% + fee = $241.00, all deductible; once met, the $40 copay; HRA pays first $50."""
    first = paid(decide(claim(BRAND))).response.pricing
    assert first is not None
    assert first.amount_applied_to_periodic_deductible_cents == 24_100
    assert first.patient_pay_amount_cents == 24_100 - 5_000
    met = Accumulators(25_000, 25_000, 30_000, 30_000)
    after = paid(decide(claim(BRAND), state(accumulators={("P1", dt.date(2026, 1, 1)): met})))
    assert after.response.pricing is not None
    assert after.response.pricing.amount_of_copay_cents == 4_000
    assert after.response.pricing.plan_paid_cents == 20_100


def test_out_of_pocket_maximum_caps_the_member() -> None:
    """$10 of OOP left: a $40 copay becomes $10; with the OOP met the member pays nothing."""
    near = Accumulators(25_000, 25_000, 99_000, 99_000)
    p = paid(
        decide(claim(BRAND), state(accumulators={("P1", dt.date(2026, 1, 1)): near}))
    ).response.pricing
    assert p is not None
    assert p.amount_of_copay_cents == 1_000
    p = paid(
        decide(claim(BRAND), state(purses=(), accumulators={("P1", dt.date(2026, 1, 1)): MET}))
    ).response.pricing
    assert p is not None
    assert p.patient_pay_amount_cents == 0


def test_daw_penalty_is_outside_the_out_of_pocket() -> None:
    """DAW 1 on a multi-source brand: generic copay plus the price difference in 134-UK."""
    result = paid(decide(claim(BRAND, dispense_as_written=1), state(purses=())))
    p = result.response.pricing
    assert p is not None
    assert p.amount_attributed_to_product_selection_brand_cents == 24_100 - 460
    assert p.amount_of_copay_cents == 460
    oop_moves = [
        m.amount_cents for m in result.accumulator_moves if m.kind.value == "out_of_pocket"
    ]
    assert oop_moves == [460, 460]  # individual and family, penalty excluded


def test_insulin_program_caps_and_skips_deductible() -> None:
    """Insulin: $25 per 30 days even inside the deductible."""
    p = paid(
        decide(claim(INSULIN, quantity_dispensed_thousandths=10_000), state(purses=()))
    ).response.pricing
    assert p is not None
    assert p.patient_pay_amount_cents == 2_500
    assert p.amount_applied_to_periodic_deductible_cents == 0


def test_stored_response_round_trips() -> None:
    """What a duplicate replays is exactly what was answered."""
    response = paid(decide(claim())).response
    assert response_from_record(response_to_record(response)) == response


def test_entry_balances_and_mirrors() -> None:
    """The journal entry sums to zero and its mirror undoes it."""
    entry = paid(decide(claim(BRAND))).entry
    assert sum(p.amount_cents for p in entry.postings) == 0
    assert {p.account: p.amount_cents for p in entry.mirror().postings} == {
        p.account: -p.amount_cents for p in entry.postings
    }


@settings(max_examples=300, deadline=None)
@given(
    drug=st.sampled_from([GENERIC, BRAND, INSULIN]),
    quantity=st.integers(1, 90_000),
    days=st.integers(1, 90),
    daw=st.integers(0, 9),
    pharmacy=st.sampled_from(["1000000001", "1000000002"]),
    deductible=st.integers(0, 60_000),
    out_of_pocket=st.integers(0, 250_000),
    purse=st.integers(0, 100_000),
    uc_factor=st.integers(1, 400),
)
def test_money_is_conserved(
    drug, quantity, days, daw, pharmacy, deductible, out_of_pocket, purse, uc_factor
) -> None:  # type: ignore[no-untyped-def]
    """For any claim: identities hold, plan + purses + member = allowed, 0 <= member <= allowed."""
    from rx_gateway.domain.member import PurseState

    request = claim(
        drug,
        quantity_dispensed_thousandths=quantity,
        days_supply=days,
        dispense_as_written=daw,
        service_provider_id=pharmacy,
    )
    request = replace(
        request,
        usual_and_customary_charge_cents=max(1, request.gross_amount_due_cents * uc_factor // 100),
    )
    acc = Accumulators(deductible, deductible, out_of_pocket, out_of_pocket)
    member = state(
        accumulators={("P1", dt.date(2026, 1, 1)): acc}, purses=(PurseState("H", "HRA", purse),)
    )
    decision = decide(request, member)
    if isinstance(decision, Rejected):
        assert decision.response.rejects
        return
    p = decision.response.pricing
    assert p is not None
    check_identities(p, decision.response.purses)
    assert 0 <= p.patient_pay_amount_cents <= p.allowed_amount_cents
    assert p.allowed_amount_cents <= min(
        request.usual_and_customary_charge_cents, request.gross_amount_due_cents
    )
    assert sum(x.amount_cents for x in decision.entry.postings) == 0
    assert -p.health_plan_funded_assistance_amount_cents <= purse
    oop_left = max(0, 100_000 - out_of_pocket)
    counted = sum(
        m.amount_cents
        for m in decision.accumulator_moves
        if m.kind.value == "out_of_pocket" and m.level.value == "individual"
    )
    assert counted <= oop_left


def test_content_hash_of_a_known_claim_is_pinned() -> None:
    """The digest a stored claim was written with must not change when the request's shape
    does (the header became a value of its own): otherwise a true retransmission of a claim
    paid before the change would answer 83 instead of D. Pinned from the digest before."""
    assert claim().content_hash() == (
        "e9c3b1e5887cce581c24bea6e5c7e5e41ff8544aefeccfc973723a458c3af75a"
    )

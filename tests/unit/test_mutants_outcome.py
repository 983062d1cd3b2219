"""Responses: the reversal's negated pricing and R responses (issue 11)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rx_gateway.domain.outcome import (
    AccumulatorView,
    ClaimResponse,
    PurseLine,
    ResponsePricing,
    ResponseStatus,
    rejected,
)
from rx_gateway.domain.rejects import Reject, RejectCode

PRICING = ResponsePricing(
    patient_pay_amount_cents=500,
    ingredient_cost_paid_cents=9_000,
    dispensing_fee_paid_cents=100,
    total_amount_paid_cents=8_600,
    basis_of_reimbursement_determination="03",
    amount_applied_to_periodic_deductible_cents=300,
    amount_of_copay_cents=1_000,
    amount_of_coinsurance_cents=7,
    amount_exceeding_periodic_benefit_maximum_cents=None,
    accumulated_deductible_amount_cents=12_000,
    remaining_deductible_amount_cents=13_000,
    remaining_benefit_amount_cents=None,
    amount_attributed_to_provider_network_selection_cents=11,
    amount_attributed_to_product_selection_brand_cents=13,
    spending_account_amount_remaining_cents=4_000,
    health_plan_funded_assistance_amount_cents=-800,
    allowed_amount_cents=9_100,
    plan_paid_cents=7_800,
    amount_attributed_to_non_preferred_formulary_cents=17,
    amount_attributed_to_brand_non_preferred_formulary_cents=19,
    benefit_stages=(("01", 300), ("02", 8_800)),
)


def test_negated_pricing_flips_amounts_and_keeps_the_rest() -> None:
    assert PRICING.negated() == ResponsePricing(
        patient_pay_amount_cents=-500,
        ingredient_cost_paid_cents=-9_000,
        dispensing_fee_paid_cents=-100,
        total_amount_paid_cents=-8_600,
        basis_of_reimbursement_determination="03",  # kept
        amount_applied_to_periodic_deductible_cents=-300,
        amount_of_copay_cents=-1_000,
        amount_of_coinsurance_cents=-7,
        amount_exceeding_periodic_benefit_maximum_cents=None,  # None stays None
        accumulated_deductible_amount_cents=12_000,  # kept
        remaining_deductible_amount_cents=13_000,  # kept
        remaining_benefit_amount_cents=None,
        amount_attributed_to_provider_network_selection_cents=-11,
        amount_attributed_to_product_selection_brand_cents=-13,
        spending_account_amount_remaining_cents=4_000,  # kept
        health_plan_funded_assistance_amount_cents=800,
        allowed_amount_cents=-9_100,
        plan_paid_cents=-7_800,
        amount_attributed_to_non_preferred_formulary_cents=-17,
        amount_attributed_to_brand_non_preferred_formulary_cents=-19,
        benefit_stages=(("01", -300), ("02", -8_800)),
    )


def test_negated_pricing_keeps_present_balances_and_an_exceeding_amount_flips() -> None:
    with_values = replace(
        PRICING,
        amount_exceeding_periodic_benefit_maximum_cents=25,
        remaining_benefit_amount_cents=31,
        benefit_stages=(),
    )
    negated = with_values.negated()
    assert negated.amount_exceeding_periodic_benefit_maximum_cents == -25
    assert negated.remaining_benefit_amount_cents == 31  # a balance, kept
    assert negated.benefit_stages == ()


@pytest.mark.parametrize(
    ("rejects", "message", "additional"),
    [
        # the first reject with a message gives 504-F4; every message goes to 526-FQ
        (
            (Reject(RejectCode.MI_BIN, "first"), Reject(RejectCode.MI_PCN, "second")),
            "first",
            ("first", "second"),
        ),
        # rejects without a message are skipped for both
        (
            (Reject(RejectCode.MI_BIN), Reject(RejectCode.MI_PCN, "only")),
            "only",
            ("only",),
        ),
        # no message at all: the first reject's NCPDP text
        (
            (Reject(RejectCode.MI_PCN), Reject(RejectCode.MI_BIN)),
            "M/I Processor Control Number",
            (),
        ),
        ((), "", ()),
    ],
)
def test_rejected_messages(
    rejects: tuple[Reject, ...], message: str, additional: tuple[str, ...]
) -> None:
    response = rejected(rejects)
    assert response == ClaimResponse(
        transaction_response_status=ResponseStatus.REJECTED,
        rejects=rejects,
        message=message,
        additional_messages=additional,
    )


def test_rejected_carries_what_it_is_given() -> None:
    response = rejected(
        (Reject(RejectCode.MI_BIN, "m"),),
        prescription_reference_number="42",
        reference_data_version="v9",
        plan_id="P7",
        rule_trace=("a", "b"),
    )
    assert (
        response.prescription_reference_number,
        response.reference_data_version,
        response.plan_id,
        response.rule_trace,
        response.authorization_number,
        response.pricing,
    ) == ("42", "v9", "P7", ("a", "b"), "", None)


VIEW = AccumulatorView("20260101", 1, 2, 3, 4, 5, 6, 7, 8, "self_only")
PAID = ClaimResponse(
    transaction_response_status=ResponseStatus.PAID,
    authorization_number="AUTH1",
    message="Paid. Collect $5.00 from the patient",
    additional_messages=("X: member cost capped",),
    pricing=PRICING,
    purses=(PurseLine("H1", "HRA", 800, 4_000),),
    accumulators=VIEW,
    internal_control_number="ICN1",
    plan_id="P1",
    reference_data_version="v1",
    rule_trace=("eligibility: x", "pricing: y"),
    prescription_reference_number="123",
)
REJECTED = rejected(
    (Reject(RejectCode.MI_BIN, "bad BIN"), Reject(RejectCode.DAYS_SUPPLY_EXCEEDS_LIMIT, "90")),
    prescription_reference_number="9",
    plan_id="P2",
    rule_trace=("rejected in syntax: 01,7X",),
)


def test_as_status_changes_only_the_status() -> None:
    assert PAID.as_status(ResponseStatus.DUPLICATE_OF_PAID) == replace(
        PAID, transaction_response_status=ResponseStatus.DUPLICATE_OF_PAID
    )
    assert PAID.as_status(ResponseStatus.DUPLICATE_OF_PAID).transaction_response_status.value == "D"

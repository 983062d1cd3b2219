"""Reversals (B2), eligibility (E1), the benefit view, accumulator views, Part D stages and the
NCPDP identities, pinned against mutants of adjudication.py (issue 11).

Expected values are written out by hand; the paid claim reversed here is the one worked out in
test_mutants_adjudication.test_generic_paid_by_the_hra (allowed $4.60, the HRA paid it all).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.domain.accumulators import (
    accumulated_deductible,
    accumulator_view,
    apply_moves,
    remaining_deductible,
)
from rx_gateway.domain.adjudication import Paid, adjudicate, check_identities
from rx_gateway.domain.claim import EligibilityRequest, Header, ReversalRequest
from rx_gateway.domain.cost_share import ShareBreakdown
from rx_gateway.domain.eligibility import Eligibility, check_eligibility
from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.ledger import AccumulatorMove, Posting, PurseMove
from rx_gateway.domain.member import (
    AccumulatorKind,
    AccumulatorLevel,
    Accumulators,
    Coverage,
    CoverageEndReason,
    PurseState,
)
from rx_gateway.domain.outcome import (
    AccumulatorView,
    ClaimResponse,
    PurseLine,
    ResponsePricing,
    ResponseStatus,
    RewardLine,
)
from rx_gateway.domain.part_d import benefit_stages
from rx_gateway.domain.reference import CostShareKind, CostShareRule, CoverageLevel, Limits
from rx_gateway.domain.rejects import Reject, RejectCode
from rx_gateway.domain.reversal import Reversal, StoredClaim, reverse
from rx_gateway.domain.views import AccumulatorLine, BenefitView, benefit_view
from tests.unit.domain_fixtures import PLAN, SNAPSHOT, claim, state, with_header

D = dt.date
YEAR = D(2026, 1, 1)
MET_SOME = {("P1", YEAR): Accumulators(1_000, 3_000, 2_000, 5_000)}
POSTED = (PurseState("HRA-F1", "HRA", 5_000, posted_cents=5_000),)
IND, FAM = AccumulatorLevel.INDIVIDUAL, AccumulatorLevel.FAMILY
OOP, DED = AccumulatorKind.OUT_OF_POCKET, AccumulatorKind.DEDUCTIBLE


def original(level: CoverageLevel = CoverageLevel.FAMILY) -> Paid:
    coverage = replace(state().coverages[0], level=level)
    decision = adjudicate(
        claim(),
        SNAPSHOT,
        state(purses=POSTED, accumulators=MET_SOME, coverages=(coverage,)),
        authorization_number="A1",
        internal_control_number="ICN1",
    )
    assert isinstance(decision, Paid)
    return decision


def stored(paid: Paid | None = None, **changes: Any) -> StoredClaim:
    paid = paid or original()
    made = StoredClaim(
        claim_id=1,
        response=paid.response,
        entry=paid.entry,
        purse_moves=paid.purse_moves,
        accumulator_moves=paid.accumulator_moves,
        product_id="00000000001",
        member_id="M1",
        family_id="F1",
        reversal_response=None,
        # after the claim: OOP 2000 + 460 and 5000 + 460
        accumulators_now=Accumulators(1_000, 3_000, 2_460, 5_460),
        cardholder_id="CH1",
        person_code="001",
    )
    return replace(made, **changes)


HEADER = Header("610999", "TEST", "1000000001", "20261102")
B2 = ReversalRequest(
    header=HEADER,
    prescription_reference_number="123",
    fill_number=0,
    product_id_qualifier="03",
    product_id="00000000001",
)


def test_reversal_mirrors_the_paid_claim() -> None:
    outcome = reverse(B2, stored(), PLAN, authorization_number="R1")
    assert isinstance(outcome, Reversal)
    assert outcome.response == ClaimResponse(
        transaction_response_status=ResponseStatus.APPROVED,
        authorization_number="R1",
        message="Reversal accepted",
        pricing=ResponsePricing(
            patient_pay_amount_cents=0,
            ingredient_cost_paid_cents=-360,
            dispensing_fee_paid_cents=-100,
            total_amount_paid_cents=-460,
            basis_of_reimbursement_determination="07",
            amount_applied_to_periodic_deductible_cents=0,
            amount_of_copay_cents=-460,
            amount_of_coinsurance_cents=0,
            amount_exceeding_periodic_benefit_maximum_cents=None,
            accumulated_deductible_amount_cents=1_000,
            remaining_deductible_amount_cents=24_000,
            remaining_benefit_amount_cents=None,
            amount_attributed_to_provider_network_selection_cents=0,
            amount_attributed_to_product_selection_brand_cents=0,
            spending_account_amount_remaining_cents=4_540,
            health_plan_funded_assistance_amount_cents=460,
            allowed_amount_cents=-460,
            plan_paid_cents=0,
        ),
        # the HRA line flipped: −460 paid, its balance back to 4540 + 460
        purses=(PurseLine("HRA-F1", "HRA", -460, 5_000),),
        # OOP back to 2000 / 5000
        accumulators=AccumulatorView(
            "20260101", 1_000, 24_000, 3_000, 47_000, 2_000, 98_000, 5_000, 195_000, "family"
        ),
        internal_control_number="ICN1",
        plan_id="P1",
        reference_data_version="7",
        rule_trace=("reversal: mirror of the original entry",),
        prescription_reference_number="123",
    )
    assert outcome.entry.postings == (
        Posting("purse:HRA-F1", 460),
        Posting("pharmacy_payable:1000000001", -460),
    )
    assert outcome.purse_moves == (PurseMove("HRA-F1", 460),)
    assert outcome.accumulator_moves == (
        AccumulatorMove(IND, "M1", "P1", YEAR, OOP, -460),
        AccumulatorMove(FAM, "F1", "P1", YEAR, OOP, -460),
    )


def _after(purses_now: tuple[PurseState, ...], paid: Paid | None = None) -> ClaimResponse:
    outcome = reverse(
        B2, stored(paid, purses_now=purses_now, class_code="FT"), PLAN, authorization_number="R1"
    )
    assert isinstance(outcome, Reversal)
    return outcome.response


def test_a_reversal_answers_the_balances_after_it_not_its_claims() -> None:
    """The claim left the HRA 4540; other claims spent 1000 since (posted 3540) and an
    allotment of 500 is due: the reversal gives 460 back and answers 3540 + 460 + 500 = 4500,
    in its line and in 128-UC (it answered 5000, the claim's view). A purse outside the member's
    benefit stack (an FSA here) is not in 128-UC."""
    response = _after(
        (
            PurseState("HRA-F1", "HRA", 4_040, posted_cents=3_540),
            PurseState("FSA-F1", "FSA", 999, posted_cents=999),
        )
    )
    assert response.purses == (PurseLine("HRA-F1", "HRA", -460, 4_500),)
    assert response.pricing is not None
    assert response.pricing.spending_account_amount_remaining_cents == 4_500


def test_a_reward_taken_back_never_leaves_a_purse_below_zero() -> None:
    """The claim credited a 1000 reward to the HRA and the member spent most of it (posted
    300): the reversal gives back 460, takes back the reward (the rest is recovered from the
    member, not the purse, as rx_post_reversal posts it): the HRA holds 0, not -240."""
    paid = original()
    reward = RewardLine("MAIL90", "HRA-F1", "HRA", 1_000, "20260101", 1)
    paid = replace(paid, response=replace(paid.response, rewards=(reward,)))
    response = _after((PurseState("HRA-F1", "HRA", 300, posted_cents=300),), paid)
    assert response.purses == (PurseLine("HRA-F1", "HRA", -460, 0),)
    assert response.pricing is not None
    assert response.pricing.spending_account_amount_remaining_cents == 0


def test_reversal_of_a_self_only_claim_reports_self_only_limits() -> None:
    """Self-only: no family limits (remaining None); individual deductible $250, OOP $1,000."""
    outcome = reverse(
        B2, stored(original(CoverageLevel.SELF_ONLY)), PLAN, authorization_number="R1"
    )
    assert isinstance(outcome, Reversal)
    assert outcome.response.accumulators == AccumulatorView(
        "20260101", 1_000, 24_000, 3_000, None, 2_000, 98_000, 5_000, None, "self_only"
    )


def test_reversal_without_a_product_matches_on_the_key() -> None:
    request = replace(B2, product_id="", product_id_qualifier="")
    assert isinstance(reverse(request, stored(), PLAN, authorization_number="R1"), Reversal)


NO_MATCH = (Reject(RejectCode.CLAIM_NOT_PAID, "No paid claim matches this reversal"),)
CARD = Reject(
    RejectCode.NON_MATCHED_CARDHOLDER, "Cardholder ID (302-C2) does not match the paid claim"
)
PERSON = Reject(
    RejectCode.NON_MATCHED_PERSON_CODE, "Person code (303-C3) does not match the paid claim"
)


@pytest.mark.parametrize(
    ("request_changes", "stored_claim", "rejects"),
    [
        ({"bin": ""}, "stored", (Reject(RejectCode.MI_BIN, "BIN (101-A1) is missing"),)),
        # syntax rejects come sorted by precedence: 01 before 15 (checked in the other order)
        (
            {"date_of_service": "X", "bin": "1"},
            "stored",
            (
                Reject(RejectCode.MI_BIN, "BIN (101-A1) must be 6 digits 0-9"),
                Reject(
                    RejectCode.MI_DATE_OF_SERVICE,
                    "Date of service (401-D1) must be a date CCYYMMDD",
                ),
            ),
        ),
        ({}, None, NO_MATCH),
        ({"product_id": "00000000002"}, "stored", NO_MATCH),
        ({"product_id": "", "product_id_qualifier": ""}, None, NO_MATCH),
        ({"cardholder_id": "SOMEONE"}, "stored", (CARD,)),
        # a cardholder mismatch is reported alone, even with a person code mismatch too
        ({"cardholder_id": "SOMEONE", "person_code": "002"}, "stored", (CARD,)),
        ({"cardholder_id": "CH1", "person_code": "002"}, "stored", (PERSON,)),
        ({"person_code": "002"}, "stored", (PERSON,)),
    ],
)
def test_reversal_rejects(
    request_changes: dict[str, str], stored_claim: str | None, rejects: tuple[Reject, ...]
) -> None:
    request = with_header(B2, **request_changes)
    outcome = reverse(request, stored() if stored_claim else None, PLAN, authorization_number="R1")
    messages = tuple(r.message for r in rejects)
    assert outcome == ClaimResponse(
        transaction_response_status=ResponseStatus.REJECTED,
        rejects=rejects,
        message=messages[0],
        additional_messages=messages,
        prescription_reference_number="123",
    )


def test_a_repeated_reversal_answers_the_first_one_as_s() -> None:
    first = ClaimResponse(
        transaction_response_status=ResponseStatus.APPROVED, authorization_number="R0", plan_id="P1"
    )
    outcome = reverse(B2, stored(reversal_response=first), PLAN, authorization_number="R1")
    assert outcome == replace(
        first, transaction_response_status=ResponseStatus.DUPLICATE_OF_APPROVED
    )


@pytest.mark.parametrize(
    ("changes", "plan", "message"),
    [
        ({"pricing": None}, PLAN, r"^a paid claim must carry pricing and a known plan$"),
        ({}, None, r"^a paid claim must carry pricing and a known plan$"),
        ({"accumulators": None}, PLAN, "^a paid claim must carry its plan year$"),
    ],
)
def test_a_stored_claim_missing_its_parts_is_a_bug(
    changes: dict[str, Any], plan: Any, message: str
) -> None:
    broken = stored(response=replace(original().response, **changes))
    with pytest.raises(InvariantViolation, match=message):
        reverse(B2, broken, plan, authorization_number="R1")


def test_a_stored_claim_with_an_unreadable_plan_year_is_a_bug() -> None:
    response = original().response
    assert response.accumulators is not None
    bad_view = replace(response.accumulators, plan_year="2026")
    with pytest.raises(InvariantViolation, match=r"^a paid claim must carry its plan year$"):
        reverse(
            B2,
            stored(response=replace(response, accumulators=bad_view)),
            PLAN,
            authorization_number="R1",
        )


# ------------------------------------------------------------------ E1 eligibility

E1 = EligibilityRequest(
    header=HEADER,
    cardholder_id="CH1",
    group_id="G1",
    person_code="001",
)
FAMILY_VIEW = AccumulatorView(
    "20260101", 1_000, 24_000, 3_000, 47_000, 2_000, 98_000, 5_000, 195_000, "family"
)
UNKNOWN = (Reject(RejectCode.NON_MATCHED_CARDHOLDER, "Cardholder ID and person code not found"),)


@pytest.mark.parametrize(
    ("changes", "member", "expected"),
    [
        ({}, "known", "approved"),
        ({"date_of_birth": "19800101"}, "known", "approved"),
        # an E1 may leave 301-C1 out: the answer tells the group (a claim gets 06)
        ({"group_id": ""}, "known", "approved"),
        # another date of birth: 09, as a claim for this member answers
        (
            {"date_of_birth": "19800102"},
            "known",
            Eligibility(
                ResponseStatus.REJECTED,
                (
                    Reject(
                        RejectCode.MI_DATE_OF_BIRTH,
                        "Date of birth (304-C4) does not match the member's",
                    ),
                ),
            ),
        ),
        ({}, None, Eligibility(ResponseStatus.REJECTED, UNKNOWN)),
        ({"date_of_birth": "19800101"}, None, Eligibility(ResponseStatus.REJECTED, UNKNOWN)),
        (
            {"date_of_birth": "1980", "bin": "1"},
            "known",
            Eligibility(
                ResponseStatus.REJECTED,
                (
                    Reject(RejectCode.MI_BIN, "BIN (101-A1) must be 6 digits 0-9"),
                    Reject(RejectCode.MI_DATE_OF_BIRTH, "Date of birth (304-C4) must be CCYYMMDD"),
                ),
            ),
        ),
        (
            {"group_id": "G2"},
            "known",
            Eligibility(
                ResponseStatus.REJECTED,
                (
                    Reject(
                        RejectCode.NON_MATCHED_GROUP,
                        "Group ID does not match the member's coverage",
                    ),
                ),
            ),
        ),
    ],
)
def test_eligibility(changes: dict[str, str], member: str | None, expected: Any) -> None:
    member_state = state(accumulators=MET_SOME) if member else None
    got = check_eligibility(with_header(E1, **changes), SNAPSHOT, member_state)
    if expected == "approved":
        expected = Eligibility(ResponseStatus.APPROVED, (), PLAN, state().coverages[0], FAMILY_VIEW)
    assert got == expected


def test_eligibility_of_a_self_only_member_in_another_plan_year() -> None:
    """A July plan, 2026-06-30: the plan year began 2025-07-01 (no accumulators there)."""
    plan = replace(PLAN, plan_year_start_month=7)
    snapshot = replace(SNAPSHOT, plans={"P1": plan}, plans_by_bin_pcn={("610999", "TEST"): (plan,)})
    coverage = replace(state().coverages[0], level=CoverageLevel.SELF_ONLY)
    member = state(coverages=(coverage,), accumulators=MET_SOME)
    got = check_eligibility(with_header(E1, date_of_service="20260630"), snapshot, member)
    assert got == Eligibility(
        ResponseStatus.APPROVED,
        (),
        plan,
        coverage,
        AccumulatorView("20250701", 0, 25_000, 0, None, 0, 100_000, 0, None, "self_only"),
    )


@pytest.mark.parametrize(
    ("person_code", "rejects"),
    [
        ("001", ()),
        (
            "",
            (
                Reject(
                    RejectCode.MI_PERSON_CODE, "Person code (303-C3) is missing: the plan needs it"
                ),
            ),
        ),
    ],
)
def test_eligibility_where_the_plan_needs_the_person_code(
    person_code: str, rejects: tuple[Reject, ...]
) -> None:
    plan = replace(PLAN, person_code_required=True)
    snapshot = replace(SNAPSHOT, plans={"P1": plan}, plans_by_bin_pcn={("610999", "TEST"): (plan,)})
    got = check_eligibility(replace(E1, person_code=person_code), snapshot, state())
    assert (got.transaction_response_status, got.rejects) == (
        ResponseStatus.REJECTED if rejects else ResponseStatus.APPROVED,
        rejects,
    )


# ------------------------------------------------------------------ the benefit view

OLD = Coverage("P1", "G1", D(2025, 1, 1), D(2025, 12, 31), CoverageEndReason.EXPIRED, "COMMERCIAL")
ELSEWHERE = Coverage("PX", "G9", D(2026, 1, 1), None, None, "COMMERCIAL")
NOW = Coverage("P1", "G1", D(2026, 1, 1), None, None, "COMMERCIAL")


def test_benefit_view_of_the_plan_in_force() -> None:
    member = state(coverages=(OLD, ELSEWHERE, NOW), accumulators=MET_SOME)
    assert benefit_view(member, SNAPSHOT, D(2026, 11, 2)) == BenefitView(
        coverages=((OLD, False), (ELSEWHERE, True), (NOW, True)),
        plan=PLAN,
        plan_year_start=YEAR,
        accumulators=(
            AccumulatorLine("deductible", "individual", 25_000, 1_000),
            AccumulatorLine("deductible", "family", 50_000, 3_000),
            AccumulatorLine("out_of_pocket", "individual", 100_000, 2_000),
            AccumulatorLine("out_of_pocket", "family", 200_000, 5_000),
        ),
    )


def test_benefit_view_of_a_self_only_coverage() -> None:
    self_only = replace(NOW, level=CoverageLevel.SELF_ONLY)
    view = benefit_view(state(coverages=(self_only,)), SNAPSHOT, D(2026, 11, 2))
    assert view.accumulators == (
        AccumulatorLine("deductible", "individual", 25_000, 0),
        AccumulatorLine("deductible", "family", None, 0),
        AccumulatorLine("out_of_pocket", "individual", 100_000, 0),
        AccumulatorLine("out_of_pocket", "family", None, 0),
    )


def test_benefit_view_without_a_plan_in_force() -> None:
    member = state(coverages=(OLD, ELSEWHERE))
    assert benefit_view(member, SNAPSHOT, D(2026, 11, 2)) == BenefitView(
        ((OLD, False), (ELSEWHERE, True)), None, None, ()
    )


@pytest.mark.parametrize(
    ("limit", "met", "left"), [(25_000, 1_000, 24_000), (25_000, 30_000, 0), (None, 700, 0)]
)
def test_accumulator_line_remaining(limit: int | None, met: int, left: int) -> None:
    assert AccumulatorLine("deductible", "individual", limit, met).remaining_cents == left


# ------------------------------------------------------------------ accumulator views

FAMILY_LIMITS = Limits(25_000, 50_000, 100_000, 200_000)


@pytest.mark.parametrize(
    ("limits", "acc", "view"),
    [
        (
            FAMILY_LIMITS,
            Accumulators(1_000, 3_000, 2_000, 5_000),
            AccumulatorView(
                "20260101", 1_000, 24_000, 3_000, 47_000, 2_000, 98_000, 5_000, 195_000
            ),
        ),
        # over-met limits leave 0; no limit: None (not sent)
        (
            Limits(25_000, None, 100_000, None),
            Accumulators(30_000, 40_000, 120_000, 130_000),
            AccumulatorView("20260101", 30_000, 0, 40_000, None, 120_000, 0, 130_000, None),
        ),
    ],
)
def test_accumulator_view(limits: Limits, acc: Accumulators, view: AccumulatorView) -> None:
    assert accumulator_view(limits, CoverageLevel.FAMILY, YEAR, acc) == view


@pytest.mark.parametrize(
    ("limits", "accumulated", "left"),
    [
        (FAMILY_LIMITS, 1_000, 24_000),  # the individual's own: min(24000, 47000)
        (Limits(deductible_family_cents=50_000), 3_000, 47_000),  # aggregate: the family's
        (Limits(deductible_individual_cents=25_000), 1_000, 24_000),
        (Limits(), None, None),  # no deductible
        (Limits(0, 0), None, None),  # zero limits count as none
        (Limits(25_000, 3_500), 1_000, 500),  # the family's $5.00 left is the lesser
    ],
)
def test_deductible_fields(limits: Limits, accumulated: int | None, left: int | None) -> None:
    """512-FC and 513-FD with 1000 met individually and 3000 by the family."""
    acc = Accumulators(1_000, 3_000)
    assert accumulated_deductible(limits, acc) == accumulated
    assert remaining_deductible(limits, acc) == left


def test_apply_moves() -> None:
    before = Accumulators(1, 2, 3, 4)
    moves = (
        AccumulatorMove(IND, "M1", "P1", YEAR, DED, 10),
        AccumulatorMove(FAM, "F1", "P1", YEAR, DED, 20),
        AccumulatorMove(IND, "M1", "P1", YEAR, OOP, 30),
        AccumulatorMove(FAM, "F1", "P1", YEAR, OOP, 40),
        AccumulatorMove(FAM, "F1", "P1", YEAR, OOP, -4),
    )
    assert apply_moves(before, moves) == Accumulators(11, 22, 33, 40)
    assert apply_moves(before, ()) == before


# ------------------------------------------------------------------ Part D stages

COINS = CostShareRule(CostShareKind.COINSURANCE, coinsurance_bp=2_500)


def coinsurance_share(coinsurance: int, deductible: int = 0, network: int = 0, np: int = 0) -> Any:
    return ShareBreakdown(deductible, 0, coinsurance, network, 0, 0, np)


STAGE_ROWS = [
    # no out-of-pocket limit: deductible, then initial coverage
    pytest.param(
        Limits(), COINS, Accumulators(), 10_000, coinsurance_share(1_750, 3_000),
        (("01", 3_000), ("02", 7_000)), id="no-limit",
    ),
    # a one-cent deductible is still a stage
    pytest.param(
        Limits(), COINS, Accumulators(), 10_000, coinsurance_share(2_500, 1),
        (("01", 1), ("02", 9_999)), id="one-cent-deductible",
    ),
    # threshold already met: all catastrophic
    pytest.param(
        Limits(out_of_pocket_individual_cents=100_000), COINS, Accumulators(0, 0, 100_000),
        10_000, coinsurance_share(0), (("04", 10_000),), id="met",
    ),
    # 1¢ left: 25% coinsurance reaches it after ⌈1 / 25%⌉ = 4¢ of cost
    pytest.param(
        Limits(out_of_pocket_individual_cents=100_000), COINS, Accumulators(0, 0, 99_999),
        10_000, coinsurance_share(1), (("02", 4), ("04", 9_996)), id="one-cent-left",
    ),
    # the family's $10.00 left is less than the individual's: split at $10 / 25% = $40.00
    pytest.param(
        Limits(out_of_pocket_individual_cents=100_000, out_of_pocket_family_cents=200_000),
        COINS, Accumulators(0, 0, 50_000, 199_000), 10_000, coinsurance_share(1_000),
        (("02", 4_000), ("04", 6_000)), id="family-left",
    ),
    # under the threshold: no split
    pytest.param(
        Limits(out_of_pocket_individual_cents=100_000), COINS, Accumulators(0, 0, 99_000),
        10_000, coinsurance_share(500), (("02", 10_000),), id="under",
    ),
    # a copay tier reaching the threshold is not split (only coinsurance is)
    pytest.param(
        Limits(out_of_pocket_individual_cents=100_000),
        CostShareRule(CostShareKind.COPAY, copay_cents=1_000, coinsurance_bp=2_500),
        Accumulators(0, 0, 99_000), 10_000, ShareBreakdown(0, 1_000, 0, 0, 0, 0),
        (("02", 10_000),), id="copay",
    ),
    # a 0% coinsurance (its minimum reached the threshold): no split, no division by zero
    pytest.param(
        Limits(out_of_pocket_individual_cents=100_000),
        CostShareRule(CostShareKind.COINSURANCE, coinsurance_bp=0, coinsurance_min_cents=1_000),
        Accumulators(0, 0, 99_000), 10_000, coinsurance_share(1_000),
        (("02", 10_000),), id="zero-percent",
    ),
    # 0.01%: $10.00 left is reached after $10 / 0.01% = $100,000.00 of a $200,000.00 cost
    pytest.param(
        Limits(out_of_pocket_individual_cents=100_000),
        CostShareRule(CostShareKind.COINSURANCE, coinsurance_bp=1),
        Accumulators(0, 0, 99_000), 20_000_000, coinsurance_share(1_000),
        (("02", 10_000_000), ("04", 10_000_000)), id="one-basis-point",
    ),
    # $30.00 left; deductible $5.00, network $3.00 and non-preferred $2.00 count first, so the
    # coinsurance meets it after $20.00: $20 / 25% = $80.00 of initial coverage
    pytest.param(
        Limits(out_of_pocket_individual_cents=100_000), COINS, Accumulators(0, 0, 97_000),
        20_000, coinsurance_share(2_000, 500, 300, 200),
        (("01", 500), ("02", 8_000), ("04", 11_500)), id="other-parts-count-first",
    ),
    # 30%: $10.00 / 30% = $33.3333 → rounded up (not to the nearest cent) to $33.34
    pytest.param(
        Limits(out_of_pocket_individual_cents=100_000),
        CostShareRule(CostShareKind.COINSURANCE, coinsurance_bp=3_000),
        Accumulators(0, 0, 99_000), 10_000, coinsurance_share(1_000),
        (("02", 3_334), ("04", 6_666)), id="rounded-up-below-half",
    ),
    # 30%: $10.01 / 30% = $33.3667 → rounded up to $33.37
    pytest.param(
        Limits(out_of_pocket_individual_cents=100_000),
        CostShareRule(CostShareKind.COINSURANCE, coinsurance_bp=3_000),
        Accumulators(0, 0, 98_999), 10_000, coinsurance_share(1_001),
        (("02", 3_337), ("04", 6_663)), id="rounded-up",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("limits", "rule", "before", "cost", "share", "stages"), STAGE_ROWS)
def test_benefit_stages(
    limits: Limits,
    rule: CostShareRule,
    before: Accumulators,
    cost: int,
    share: ShareBreakdown,
    stages: tuple[tuple[str, int], ...],
) -> None:
    got = benefit_stages(limits, rule, before, cost, share)
    assert got == stages
    assert all(type(amount) is int for _, amount in got)


# ------------------------------------------------------------------ the NCPDP identities

# 505-F5 $5.00 = 517-FH 300 + 518-FI 100 + 572-4U 50 + 520-FK 20 + 133-UJ 40 + 134-UK 30
#   + 135-UM 30 + 136-UN 30 + 129-UD −100 (= −the purse line's 100);
# 509-F9 = 9000 + 100 − 500 = 8600; plan 8500 + purse 100 + member 500 = allowed 9100;
# stages 300 + 8800 = 9100.
GOOD = ResponsePricing(
    patient_pay_amount_cents=500,
    ingredient_cost_paid_cents=9_000,
    dispensing_fee_paid_cents=100,
    total_amount_paid_cents=8_600,
    basis_of_reimbursement_determination="03",
    amount_applied_to_periodic_deductible_cents=300,
    amount_of_copay_cents=100,
    amount_of_coinsurance_cents=50,
    amount_exceeding_periodic_benefit_maximum_cents=20,
    accumulated_deductible_amount_cents=None,
    remaining_deductible_amount_cents=None,
    remaining_benefit_amount_cents=None,
    amount_attributed_to_provider_network_selection_cents=40,
    amount_attributed_to_product_selection_brand_cents=30,
    spending_account_amount_remaining_cents=None,
    health_plan_funded_assistance_amount_cents=-100,
    allowed_amount_cents=9_100,
    plan_paid_cents=8_500,
    amount_attributed_to_non_preferred_formulary_cents=30,
    amount_attributed_to_brand_non_preferred_formulary_cents=30,
    benefit_stages=(("01", 300), ("02", 8_800)),
)
LINES = (PurseLine("H", "HRA", 100, 0),)


def test_identities_hold() -> None:
    check_identities(GOOD, LINES)
    check_identities(GOOD, list(LINES))
    # a member who pays nothing, a plan that pays nothing: both edges are allowed
    nothing = replace(
        GOOD,
        patient_pay_amount_cents=0,
        amount_applied_to_periodic_deductible_cents=0,
        amount_of_copay_cents=0,
        amount_of_coinsurance_cents=0,
        amount_exceeding_periodic_benefit_maximum_cents=None,
        amount_attributed_to_provider_network_selection_cents=0,
        amount_attributed_to_product_selection_brand_cents=0,
        amount_attributed_to_non_preferred_formulary_cents=0,
        amount_attributed_to_brand_non_preferred_formulary_cents=0,
        health_plan_funded_assistance_amount_cents=0,
        total_amount_paid_cents=9_100,
        plan_paid_cents=9_100,
        benefit_stages=(),
    )
    check_identities(nothing, ())


@pytest.mark.parametrize(
    ("changes", "lines"),
    [
        ({"total_amount_paid_cents": 8_601}, LINES),  # 509-F9
        ({"amount_exceeding_periodic_benefit_maximum_cents": 21}, LINES),  # F5 ≠ components
        ({"plan_paid_cents": 8_499}, LINES),  # plan + purses + member ≠ allowed
        ({}, (PurseLine("H", "HRA", 99, 1), PurseLine("H2", "HRA", 1, 0))),  # fine: still 100
        ({"health_plan_funded_assistance_amount_cents": -99}, LINES),  # 129-UD ≠ −purses
        ({"benefit_stages": (("01", 300), ("02", 8_799))}, LINES),  # stages ≠ allowed
    ],
)
def test_identities_broken(changes: dict[str, Any], lines: tuple[PurseLine, ...]) -> None:
    pricing = replace(GOOD, **changes)
    if not changes:
        check_identities(pricing, lines)
        return
    with pytest.raises(InvariantViolation, match=r"^NCPDP pricing identities do not hold: Resp"):
        check_identities(pricing, lines)

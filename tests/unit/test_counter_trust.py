"""Issue 11 in the pure core: one definition of a month, coverage levels and aggregate family
deductibles, honest NCPDP fields, patient matching, reversal cross-checks, field hygiene."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.adapters.documents import plan_from_document
from rx_gateway.config import Settings
from rx_gateway.domain.adjudication import Paid, Rejected, adjudicate
from rx_gateway.domain.claim import ReversalRequest
from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.domain.member import (
    Accumulators,
    CardMember,
    Coverage,
    match_person_code,
    match_unknown_person_code,
)
from rx_gateway.domain.reference import (
    CoverageLevel,
    Limits,
    PurseRule,
    ReferenceSnapshot,
)
from rx_gateway.domain.reversal import StoredClaim, reverse
from rx_gateway.domain.syntax import validate_claim
from rx_gateway.service_layer.reference import ReferenceHolder
from tests.unit.domain_fixtures import INSULIN, PLAN, SNAPSHOT, SPECIALTY, claim, state


def decide(request: Any, member_state: Any = None, snapshot: ReferenceSnapshot = SNAPSHOT) -> Any:
    return adjudicate(
        request,
        snapshot,
        state() if member_state is None else member_state,
        authorization_number="A1",
        internal_control_number="ICN1",
    )


def paid(decision: Any) -> Paid:
    assert isinstance(decision, Paid), decision.response.rejects
    return decision


def codes(decision: Any) -> list[str]:
    assert isinstance(decision, Rejected)
    return [r.code.value for r in decision.response.rejects]


# ------------------------------------------------------------------ a month's supply


@pytest.mark.parametrize(
    ("days", "months"),
    [(1, 1), (30, 1), (31, 1), (34, 1), (35, 2), (60, 2), (61, 3), (90, 3), (91, 4), (120, 4)],
)
def test_months_supplied_follow_the_plan_bands(days: int, months: int) -> None:
    """1-34 days is one month, 35-60 two, 61-90 three; past the bands one more per 30 days."""
    assert PLAN.months_supplied(days) == months


def test_months_supplied_can_be_defined_by_the_plan() -> None:
    plan = replace(PLAN, month_bands=((30, 1), (90, 3)))
    assert [plan.months_supplied(d) for d in (30, 31, 90, 91)] == [1, 3, 3, 4]


@pytest.mark.parametrize(("days", "cap_cents"), [(30, 2_500), (31, 2_500), (34, 2_500)])
def test_insulin_cap_counts_months_not_30_day_periods(days: int, cap_cents: int) -> None:
    """A 31-day insulin fill is one month's supply: one $25 cap, not two (the old count of
    30-day periods charged a 31-34 day fill twice the cap)."""
    request = claim(INSULIN, quantity_dispensed_thousandths=10_000, days_supply=days)
    pricing = paid(decide(request, state(purses=()))).response.pricing
    assert pricing is not None
    assert pricing.patient_pay_amount_cents == cap_cents


# ------------------------------------------------------------------ coverage levels

HSA_PLAN = replace(
    PLAN,
    deductible_individual_cents=None,  # aggregate family deductible
    deductible_family_cents=340_000,
    deductible_self_only_cents=170_000,
    out_of_pocket_individual_cents=850_000,
    out_of_pocket_family_cents=1_700_000,
    out_of_pocket_self_only_cents=850_000,
    hsa_qualified=True,
)


def test_limits_by_coverage_level() -> None:
    assert HSA_PLAN.limits(CoverageLevel.SELF_ONLY) == Limits(170_000, None, 850_000, None)
    assert HSA_PLAN.limits(CoverageLevel.FAMILY) == Limits(None, 340_000, 850_000, 1_700_000)
    # without self-only figures, self-only coverage uses the individual ones, no family limit
    assert PLAN.limits(CoverageLevel.SELF_ONLY) == Limits(25_000, None, 100_000, None)


def _hsa_snapshot() -> ReferenceSnapshot:
    return replace(
        SNAPSHOT, plans={"P1": HSA_PLAN}, plans_by_bin_pcn={("610999", "TEST"): (HSA_PLAN,)}
    )


@pytest.mark.parametrize(
    ("level", "met", "deductible", "accumulated", "remaining"),
    [
        # family coverage, aggregate: one member's $1,800 is not the end of the deductible; the
        # claim costs $41.00 (0.1 unit at AWP $500 - 20% = $40.00, + $1.00 fee), all deductible
        (CoverageLevel.FAMILY, Accumulators(180_000, 180_000, 0, 0), 4_100, 184_100, 155_900),
        # self-only coverage: $1,700 and done
        (CoverageLevel.SELF_ONLY, Accumulators(169_000, 169_000, 0, 0), 1_000, 170_000, 0),
    ],
)
def test_aggregate_family_and_self_only_deductibles(
    level: CoverageLevel,
    met: Accumulators,
    deductible: int,
    accumulated: int,
    remaining: int,
) -> None:
    """512-FC is what was applied toward the deductible that applies (the family's when it is
    aggregate), 513-FD what is left of it."""
    coverage = Coverage("P1", "G1", dt.date(2026, 1, 1), None, None, "COMMERCIAL", level)
    member_state = state(
        coverages=(coverage,), purses=(), accumulators={("P1", dt.date(2026, 1, 1)): met}
    )
    request = claim(SPECIALTY, quantity_dispensed_thousandths=100)
    pricing = paid(
        decide(request, replace(member_state, prior_authorizations=_pa()), _hsa_snapshot())
    ).response.pricing
    assert pricing is not None
    assert pricing.amount_applied_to_periodic_deductible_cents == deductible
    assert pricing.accumulated_deductible_amount_cents == accumulated
    assert pricing.remaining_deductible_amount_cents == remaining


def _pa() -> tuple[Any, ...]:
    from rx_gateway.domain.member import PriorAuthorization

    return (
        PriorAuthorization(None, "specialty", dt.date(2026, 1, 1), dt.date(2026, 12, 31), "PA"),
    )


def _plan_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "plan_id": "H",
        "name": "h",
        "bin": "610999",
        "pcn": "H",
        "line_of_business": "COMMERCIAL",
        "hsa_qualified": True,
        "deductible": {"self_only_cents": 170_000, "family_cents": 340_000},
        "out_of_pocket": {"self_only_cents": 850_000, "family_cents": 1_700_000},
        "networks": {"preferred": {"awp_discount_bp": 1_500}},
        "tiers": {"1": {"kind": "coinsurance", "coinsurance_bp": 2_000}},
    }
    return document | changes


def test_a_qualifying_hsa_plan_loads() -> None:
    plan = plan_from_document(_plan_document(), "h.json")
    assert plan.hsa_qualified
    assert plan.limits(CoverageLevel.FAMILY).deductible_individual_cents is None


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        # the generated HDHP of old: $1,700 embedded in a $3,400 family deductible
        (
            {"deductible": {"individual_cents": 170_000, "family_cents": 340_000}},
            "deductible.individual_cents",
        ),
        (
            {"deductible": {"self_only_cents": 150_000, "family_cents": 340_000}},
            "deductible.self_only_cents",
        ),
        (
            {"deductible": {"self_only_cents": 170_000, "family_cents": 300_000}},
            "deductible.family_cents",
        ),
        (
            {"out_of_pocket": {"self_only_cents": 900_000, "family_cents": 1_700_000}},
            "out_of_pocket.self_only_cents",
        ),
        (
            {"out_of_pocket": {"self_only_cents": 850_000, "family_cents": 1_800_000}},
            "out_of_pocket.family_cents",
        ),
    ],
)
def test_a_plan_that_is_not_hsa_qualified_is_refused(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ReferenceDataError) as caught:
        plan_from_document(_plan_document(**changes), "h.json")
    assert caught.value.field == path


def test_the_generated_hdhp_is_hsa_qualified(tmp_path: Any) -> None:
    from rx_gateway.adapters.files.loader import read_dataset
    from rx_gateway.tools.synthetic import generate

    generate(tmp_path, members=300)
    plans = {p.plan_id: p for p, _ in read_dataset(tmp_path).plans}
    hdhp = plans["HDHP-2026"]
    assert hdhp.hsa_qualified
    assert hdhp.limits(CoverageLevel.SELF_ONLY).deductible_individual_cents == 170_000
    family = hdhp.limits(CoverageLevel.FAMILY)
    assert (family.deductible_individual_cents, family.deductible_family_cents) == (None, 340_000)


def test_an_aggregate_family_figure_needs_a_self_only_one() -> None:
    document = _plan_document(hsa_qualified=False, deductible={"family_cents": 340_000})
    with pytest.raises(ReferenceDataError) as caught:
        plan_from_document(document, "h.json")
    assert caught.value.field == "deductible.self_only_cents"


# ------------------------------------------------------------------ honest fields


def test_fields_the_plan_has_no_figure_for_are_left_out() -> None:
    """514-FE and 520-FK: the plans have no benefit maximum, so they are absent (None), not a
    0 that would read as 'no benefit left'."""
    pricing = paid(decide(claim())).response.pricing
    assert pricing is not None
    assert pricing.remaining_benefit_amount_cents is None
    assert pricing.amount_exceeding_periodic_benefit_maximum_cents is None


def test_spending_account_remaining_when_no_purse_paid() -> None:
    """128-UC reports what the member's HRA holds even when this claim did not spend it (a
    tier the purse may not pay for)."""
    request = claim(SPECIALTY, quantity_dispensed_thousandths=100)
    decision = paid(decide(request, state(prior_authorizations=_pa())))
    assert decision.response.purses == ()
    assert decision.response.pricing is not None
    assert decision.response.pricing.spending_account_amount_remaining_cents == 5_000


def test_spending_account_remaining_after_a_purse_paid_and_absent_without_one() -> None:
    decision = paid(decide(claim()))
    spent = sum(line.paid_cents for line in decision.response.purses)
    assert spent > 0
    assert decision.response.pricing is not None
    assert decision.response.pricing.spending_account_amount_remaining_cents == 5_000 - spent
    without = paid(decide(claim(), state(purses=()))).response.pricing
    assert without is not None
    assert without.spending_account_amount_remaining_cents is None


def test_the_rule_trace_names_no_internal_identifier() -> None:
    """What goes to the switch names purse kinds, never purse or family identifiers."""
    decision = paid(decide(claim()))
    assert decision.response.purses  # the HRA paid
    trace = " ".join(decision.response.rule_trace)
    assert "HRA-F1" not in trace
    assert "F1" not in trace.split()


# ------------------------------------------------------------------ patient matching

PEOPLE = (
    CardMember("001", dt.date(1980, 1, 1), 1),
    CardMember("002", dt.date(1982, 5, 5), 2),
    CardMember("003", dt.date(2015, 3, 3), 1),
    CardMember("004", dt.date(2015, 3, 3), 2),  # a twin
)


@pytest.mark.parametrize(
    ("people", "born", "gender", "expected"),
    [
        (PEOPLE, dt.date(1982, 5, 5), 0, "002"),
        (PEOPLE, dt.date(1982, 5, 5), 1, None),  # gender does not match
        (PEOPLE, dt.date(2015, 3, 3), 0, None),  # twins: the date of birth alone is not enough
        (PEOPLE, dt.date(2015, 3, 3), 2, "004"),
        (PEOPLE, None, 0, None),  # several people and nothing to tell them apart
        (PEOPLE[:1], None, 0, "001"),  # a card with one person
        ((), dt.date(1980, 1, 1), 0, None),
    ],
)
def test_person_code_matching(
    people: tuple[CardMember, ...], born: dt.date | None, gender: int, expected: str | None
) -> None:
    assert match_person_code(people, born, gender) == expected


@pytest.mark.parametrize(
    ("people", "sent", "born", "gender", "expected"),
    [
        (PEOPLE, "2", None, 0, "002"),  # the same number: x(3) with its zeros left out
        (PEOPLE, "02", None, 0, "002"),
        (PEOPLE, "0002", None, 0, "002"),
        (PEOPLE, "009", None, 0, None),  # no such number and no date of birth
        (PEOPLE, "009", dt.date(1982, 5, 5), 0, "002"),  # the date of birth tells
        (PEOPLE, "009", dt.date(1982, 5, 5), 1, None),  # ... but not with the other gender
        (PEOPLE, "009", dt.date(2015, 3, 3), 0, None),  # twins
        (PEOPLE, "009", dt.date(2015, 3, 3), 2, "004"),
        (PEOPLE, "AB", dt.date(1982, 5, 5), 0, "002"),  # not a number: the date of birth
        (PEOPLE, "AB", None, 0, None),
        (PEOPLE[:1], "009", None, 0, None),  # one person, but nothing says it is them
        ((), "2", dt.date(1982, 5, 5), 0, None),
    ],
)
def test_a_person_code_nobody_has_is_matched_as_a_hint(
    people: tuple[CardMember, ...],
    sent: str,
    born: dt.date | None,
    gender: int,
    expected: str | None,
) -> None:
    assert match_unknown_person_code(people, sent, born, gender) == expected


def test_a_plan_may_require_the_person_code() -> None:
    strict = replace(PLAN, person_code_required=True)
    snapshot = replace(
        SNAPSHOT, plans={"P1": strict}, plans_by_bin_pcn={("610999", "TEST"): (strict,)}
    )
    decision = decide(claim(person_code=""), state(), snapshot)
    assert codes(decision) == ["08"]
    assert "missing" in decision.response.rejects[0].message
    assert isinstance(decide(claim(person_code=""), state()), Paid)  # optional elsewhere


# ------------------------------------------------------------------ field hygiene


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"prescription_reference_number": "\u0661\u0662\u0663"}, "16"),  # Arabic-Indic
        ({"prescription_reference_number": "\uff11\uff12\uff13"}, "16"),  # full-width
        ({"product_id": "0000000000\u0663"}, "21"),
        ({"bin": "61099\u0669"}, "01"),
        ({"cardholder_id": "CH\x001"}, "07"),
        ({"person_code": "0\x001"}, "08"),
        ({"group_id": "G\x00"}, "06"),
        ({"cardholder_id": "CH\u00e91"}, "07"),  # not ASCII
        ({"prior_authorization_number": "PA\x02"}, "EV"),
        ({"software_vendor_id": "V\x1c"}, "AK"),
        ({"service_provider_id_qualifier": "X1"}, "B2"),
    ],
)
def test_fields_hold_ascii_and_digits_mean_0_to_9(overrides: dict[str, str], code: str) -> None:
    assert [r.code.value for r in validate_claim(claim(**overrides))] == [code]


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("prescription_reference_number", "16"),
        ("cardholder_id", "07"),
        ("product_id", "21"),
        ("bin", "01"),
        ("processor_control_number", "04"),
        ("date_of_service", "15"),
    ],
)
def test_a_missing_field_says_it_is_missing(field: str, code: str) -> None:
    rejects = validate_claim(claim(**{field: ""}))
    assert [r.code.value for r in rejects][:1] == [code]
    assert rejects[0].message.endswith("is missing")


# ------------------------------------------------------------------ reversal cross-checks


def _stored() -> StoredClaim:
    original = paid(decide(claim()))
    return StoredClaim(
        claim_id=1,
        response=original.response,
        entry=original.entry,
        purse_moves=original.purse_moves,
        accumulator_moves=original.accumulator_moves,
        product_id=claim().product_id,
        member_id="M1",
        family_id="F1",
        reversal_response=None,
        accumulators_now=Accumulators(),
        cardholder_id="CH1",
        person_code="001",
    )


def _reversal(**insurance: str) -> ReversalRequest:
    request = claim()
    return ReversalRequest(
        header=request.header,
        prescription_reference_number=request.prescription_reference_number,
        fill_number=0,
        product_id_qualifier="03",
        product_id=request.product_id,
        **insurance,
    )


@pytest.mark.parametrize(
    ("insurance", "expected"),
    [
        ({}, "A"),
        ({"cardholder_id": "CH1", "person_code": "001"}, "A"),
        ({"cardholder_id": "SOMEONE"}, "52"),
        ({"cardholder_id": "CH1", "person_code": "002"}, "53"),
    ],
)
def test_a_reversal_must_name_the_claims_patient_when_it_names_one(
    insurance: dict[str, str], expected: str
) -> None:
    outcome = reverse(_reversal(**insurance), _stored(), PLAN, authorization_number="R1")
    if expected == "A":
        assert not hasattr(outcome, "rejects") or not outcome.rejects  # a Reversal
        assert outcome.response.transaction_response_status.value == "A"  # type: ignore[union-attr]
    else:
        assert [r.code.value for r in outcome.rejects] == [expected]  # type: ignore[union-attr]


# ------------------------------------------------------------------ reference snapshots


class _Store:
    """Hands out the snapshots it is given, slowest first: two reloads finishing out of order."""

    def __init__(self, *snapshots: tuple[ReferenceSnapshot, float]) -> None:
        self._snapshots = list(snapshots)

    async def load_snapshot(self) -> ReferenceSnapshot:
        snapshot, delay = self._snapshots.pop(0)
        await asyncio.sleep(delay)
        return snapshot


async def test_an_older_snapshot_never_replaces_a_newer_one() -> None:
    holder = ReferenceHolder(replace(SNAPSHOT, version="7"))
    store = _Store((replace(SNAPSHOT, version="8"), 0.05), (replace(SNAPSHOT, version="9"), 0.0))
    await asyncio.gather(holder.reload(store), holder.reload(store))  # type: ignore[arg-type]
    assert holder.snapshot.version == "9"
    assert holder.is_behind("10") and not holder.is_behind("9")


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("listen", "refused"),
    [
        ("127.0.0.1:50051", False),
        ("[::1]:50051", False),
        ("0.0.0.0:50051", True),
        ("10.0.0.5:1", True),
    ],
)
def test_development_mode_listens_on_loopback_only(listen: str, refused: bool) -> None:
    problem = Settings(dev_mode=True, listen_address=listen).security_problem()
    assert (problem is not None) == refused
    if refused:
        assert problem is not None and "loopback" in problem


def test_the_application_role_is_the_default() -> None:
    assert Settings.from_env({}).pool.role == "rx_gateway_app"
    assert Settings.from_env({"RX_GATEWAY_DB_ROLE": "none"}).pool.role is None
    assert Settings.from_env({"RX_GATEWAY_DB_ROLE": "ops"}).pool.role == "ops"
    assert Settings.from_env({}).admin_db_role == "rx_gateway_admin"


def test_purse_rule_kinds_feed_the_spending_account() -> None:
    """Only purses in the member's benefit stack count toward 128-UC."""
    plan = replace(PLAN, purse_order=(PurseRule("WELLNESS"),))
    snapshot = replace(SNAPSHOT, plans={"P1": plan}, plans_by_bin_pcn={("610999", "TEST"): (plan,)})
    pricing = paid(decide(claim(), state(), snapshot)).response.pricing
    assert pricing is not None
    assert pricing.spending_account_amount_remaining_cents is None  # the HRA is not in the stack

"""Compounds (issue 15), computed by hand on the worked example of
shared/reference/switch-claims.md §5: A 30 g at 0.30/g (billed 12.00), B 60 g at 0.80/g
(billed 45.00), C not covered (billed 20.00) with 420-DK 8; 409-D9 77.00, 412-DC 2.00, 479-H8 09
480-H9 10.00, 430-DU 89.00 → F6 54.00, F7 2.00, J4 10.00, F5 15.00, F9 51.00."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.domain.additional_amounts import AdditionalAmounts, OtherAmount
from rx_gateway.domain.adjudication import Paid, Rejected, adjudicate
from rx_gateway.domain.claim import ReversalRequest
from rx_gateway.domain.compound_segment import Compound, Ingredient, compound_rejects
from rx_gateway.domain.dur import (
    DurAction,
    DurPolicy,
    DurReason,
    DurService,
    Interaction,
    Significance,
)
from rx_gateway.domain.member import Fill
from rx_gateway.domain.reference import (
    CompoundRules,
    CostShareKind,
    CostShareRule,
    Drug,
    FormularyEntry,
    FormularyStatus,
    NetworkPricing,
    PharmacyNetwork,
    ReferenceSnapshot,
)
from rx_gateway.domain.syntax import validate_reversal
from tests.unit.domain_fixtures import PLAN, SNAPSHOT, claim, state


def _powder(ndc: str, molecule: str, cents_per_gram: int) -> Drug:
    return Drug(ndc, molecule, molecule, "compounding", False, None, False, cents_per_gram * 1_000)


A = _powder("51927000001", "mol-a", 30)
B = _powder("51927000002", "mol-b", 80)
C = _powder("51927000003", "mol-c", 200)
RULES = CompoundRules(tier=3, level_of_effort_fees_cents={12: 500, 13: 1_000})


def _snapshot(
    rules: CompoundRules = RULES, c_status: FormularyStatus = FormularyStatus.EXCLUDED
) -> Any:
    network = NetworkPricing(
        awp_discount_bp=0,
        use_mac=False,
        dispensing_fee_cents=200,
        other_amounts_paid_max_cents={"09": 1_000},
    )
    plan = replace(
        PLAN,
        networks={PharmacyNetwork.PREFERRED: network},
        tiers={
            **PLAN.tiers,
            3: CostShareRule(CostShareKind.COPAY, copay_cents=1_500, deductible_applies=False),
        },
        compound=rules,
    )
    return ReferenceSnapshot.build(
        "7",
        [plan],
        [*SNAPSHOT.drugs.values(), A, B, C],
        [
            *SNAPSHOT.formulary.values(),
            FormularyEntry("P1", A.ndc, FormularyStatus.COVERED, 1),
            FormularyEntry("P1", B.ndc, FormularyStatus.COVERED, 2),
            FormularyEntry("P1", C.ndc, c_status, 1),
        ],
        list(SNAPSHOT.pharmacies.values()),
    )


INGREDIENTS = (
    Ingredient("03", A.ndc, 30_000, 1_200, "01"),
    Ingredient("03", B.ndc, 60_000, 4_500, "01"),
    Ingredient("03", C.ndc, 10_000, 2_000, "01"),
)


def _compound_claim(ingredients: tuple[Ingredient, ...] = INGREDIENTS, **kw: Any) -> Any:
    ingredient_cost = sum(i.cost_cents for i in ingredients)
    prep = AdditionalAmounts(other_amounts=(OtherAmount("09", 1_000),))
    return claim(
        **(
            {
                "product_id_qualifier": "00",
                "product_id": "0",
                "quantity_dispensed_thousandths": 100_000,
                "compound_code": 2,
                "compound": Compound("03", "2", ingredients),
                "ingredient_cost_submitted_cents": ingredient_cost,
                "dispensing_fee_submitted_cents": 200,
                "usual_and_customary_charge_cents": 20_000,
                "gross_amount_due_cents": ingredient_cost + 200 + 1_000,
                "additional_amounts": prep,
                "submission_clarification_codes": (8,),
            }
            | kw
        )
    )


def _decide(request: Any, snapshot: Any = None, **state_: Any) -> Paid | Rejected:
    return adjudicate(
        request,
        snapshot or _snapshot(),
        state(**({"purses": ()} | state_)),
        authorization_number="A",
        internal_control_number="I",
    )


def test_the_worked_compound() -> None:
    request = _compound_claim()
    assert request.gross_amount_due_cents == 8_900
    decision = _decide(request)
    assert isinstance(decision, Paid), decision.response.rejects
    p = decision.response.pricing
    assert p is not None
    assert (p.ingredient_cost_paid_cents, p.dispensing_fee_paid_cents) == (5_400, 200)
    assert p.other_amounts_paid == (("09", 1_000),)
    assert (p.patient_pay_amount_cents, p.total_amount_paid_cents) == (1_500, 5_100)
    assert p.basis_of_reimbursement_determination == "08"  # contract pricing, per ingredient
    assert p.amount_of_copay_cents == 1_500  # the plan's compound tier 3
    assert any(
        "Ingredient 3 not paid (420-DK 8)" in m for m in decision.response.additional_messages
    )
    assert "ingredient 3 dropped (420-DK 8, 70)" in " ".join(decision.response.rule_trace)
    assert decision.molecule == "mol-a+mol-b"


def test_a_non_covered_ingredient_rejects_by_position_without_420_dk_8() -> None:
    decision = _decide(_compound_claim(submission_clarification_codes=()))
    assert isinstance(decision, Rejected)
    (reject,) = decision.response.rejects
    assert reject.code.value == "70"
    assert reject.message.startswith("Ingredient 3 (NDC 51927000003)")
    assert "resubmit with 420-DK 8" in reject.message


@pytest.mark.parametrize(
    ("snapshot_kw", "ingredients", "expected"),
    [
        ({"rules": CompoundRules(covered=False)}, INGREDIENTS, "7Y"),
        ({"rules": CompoundRules(ingredients_max=2)}, INGREDIENTS, "9K"),
        ({}, (INGREDIENTS[2], replace(INGREDIENTS[2], product_id="51927000009")), "8A"),
        ({"c_status": FormularyStatus.NON_FORMULARY}, INGREDIENTS[2:] * 1 + INGREDIENTS[:1], None),
    ],
)
def test_plan_rules_and_uncovered_compounds(
    snapshot_kw: dict[str, Any], ingredients: tuple[Ingredient, ...], expected: str | None
) -> None:
    decision = _decide(_compound_claim(ingredients), _snapshot(**snapshot_kw))
    if expected is None:
        assert isinstance(decision, Paid), decision.response.rejects
    else:
        assert [r.code.value for r in decision.response.rejects] == [expected]


def test_an_unknown_ingredient_is_54_naming_it() -> None:
    unknown = replace(INGREDIENTS[1], product_id="51927000009")
    decision = _decide(
        _compound_claim((INGREDIENTS[0], unknown), submission_clarification_codes=())
    )
    assert [(r.code.value, r.message.split(":")[0]) for r in decision.response.rejects] == [
        ("54", "Ingredient 2 (NDC 51927000009) is not in the drug file")
    ]


def test_the_level_of_effort_adds_the_compounding_fee() -> None:
    """474-8E 13: the plan's 10.00 on top of the 2.00 dispensing fee."""
    request = _compound_claim(
        dur_services=(DurService("", "", "", 13),), dispensing_fee_submitted_cents=1_200
    )
    request = replace(request, gross_amount_due_cents=request.gross_amount_due_cents + 1_000)
    decision = _decide(request)
    assert isinstance(decision, Paid), decision.response.rejects
    assert decision.response.pricing is not None
    assert decision.response.pricing.dispensing_fee_paid_cents == 1_200


@pytest.mark.parametrize("level", [-1, 1, 10, 16, 99])
def test_a_level_of_effort_outside_11_to_15_is_8e(level: int) -> None:
    """474-8E is 11-15 (or left out, 0): 99 was accepted and paid no compounding fee."""
    request = _compound_claim(dur_services=(DurService("", "", "", level),))
    decision = _decide(request)
    assert [r.code.value for r in decision.response.rejects] == ["8E"]


def test_a_lower_usual_and_customary_wins() -> None:
    decision = _decide(_compound_claim(usual_and_customary_charge_cents=3_000))
    assert isinstance(decision, Paid)
    p = decision.response.pricing
    assert p is not None
    assert (p.basis_of_reimbursement_determination, p.ingredient_cost_paid_cents) == ("04", 3_000)


def test_the_same_compound_refilled_early_is_79() -> None:
    fill = Fill("mol-a+mol-b", dt.date(2026, 10, 25), 30, 100_000, "0")
    decision = _decide(_compound_claim(), fills=(fill,))
    assert [r.code.value for r in decision.response.rejects] == ["79"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"compound_code": 3}, ["20"]),
        ({"compound": None}, ["8B"]),
        ({"compound_code": 1}, ["8D"]),
        ({"product_id_qualifier": "03"}, ["E1"]),
        ({"product_id": "00000000001"}, ["8G"]),
        ({"compound": Compound("3", "2", INGREDIENTS)}, ["EF"]),
        ({"compound": Compound("03", "4", INGREDIENTS)}, ["EG"]),
        ({"compound": Compound("03", "2", INGREDIENTS[:1])}, ["7Z"]),
        ({"compound": Compound("03", "2", INGREDIENTS * 9)}, ["9K"]),
        ({"compound": Compound("03", "2", (replace(INGREDIENTS[0], product_id_qualifier="01"),
          INGREDIENTS[1]))}, ["RE"]),
        ({"compound": Compound("03", "2", (replace(INGREDIENTS[0], product_id="1234"),
          INGREDIENTS[1]))}, ["TE"]),
        ({"compound": Compound("03", "2", (replace(INGREDIENTS[0], quantity_thousandths=0),
          INGREDIENTS[1]))}, ["ED"]),
        ({"compound": Compound("03", "2", (replace(INGREDIENTS[0], cost_cents=0),
          INGREDIENTS[1]))}, ["9P"]),
        ({"compound": Compound("03", "2", (replace(INGREDIENTS[0], cost_cents=100_000_000),
          INGREDIENTS[1]))}, ["EE"]),
        ({"compound": Compound("03", "2", (replace(INGREDIENTS[0], basis_of_cost="10"),
          INGREDIENTS[1]))}, ["UE"]),
        ({"compound": Compound("03", "2", (replace(INGREDIENTS[0], modifiers=("ABC",)),
          INGREDIENTS[1]))}, ["2H"]),
        ({"compound": Compound("03", "2", (INGREDIENTS[0], INGREDIENTS[0]))}, ["9Z"]),
        ({"ingredient_cost_submitted_cents": 7_600, "gross_amount_due_cents": 8_800}, ["8M"]),
    ],
)  # fmt: skip
def test_compound_syntax(changes: dict[str, Any], expected: list[str]) -> None:
    request = replace(_compound_claim(), **changes)
    rejects = compound_rejects(
        request.compound_code,
        request.product_id_qualifier,
        request.product_id,
        request.compound,
        request.ingredient_cost_submitted_cents,
    )
    assert [r.code.value for r in rejects] == expected
    assert all(r.message for r in rejects)
    decision = _decide(request)
    assert isinstance(decision, Rejected)
    assert expected[0] in [r.code.value for r in decision.response.rejects]


def test_a_compound_reversal_names_its_product_as_00_and_0() -> None:
    reversal = ReversalRequest(claim().header, "123", 0, "00", "0")
    assert validate_reversal(reversal) == []


def test_a_compound_named_by_one_of_its_ingredients_is_read_as_the_same_compound() -> None:
    """The older way (436-E1 03 and 407-D7 an ingredient's NDC), as a public transmission
    sends it, prices the same; an NDC that is not one of the ingredients is 8G."""
    legacy = _compound_claim(product_id_qualifier="03", product_id=A.ndc)
    paid, standard = _decide(legacy), _decide(_compound_claim())
    assert isinstance(paid, Paid) and isinstance(standard, Paid)
    assert paid.response.pricing == standard.response.pricing
    other = _decide(_compound_claim(product_id_qualifier="03", product_id="00000000001"))
    assert [r.code.value for r in other.response.rejects] == ["8G", "E1"] or [
        r.code.value for r in other.response.rejects
    ] == ["E1", "8G"]


def test_an_ingredient_interacting_with_an_active_fill_is_a_dur_conflict() -> None:
    """DUR looked only at the drug a compound is billed as (its costliest covered
    ingredient): an interaction of another ingredient with what the member takes, even one
    not paid under 420-DK 8, went unseen and the compound was paid. Each is checked."""
    warf = Drug("00000000013", "warf", "warf", "anticoag", False, None, False, 50_000)
    dur = DurPolicy(drug_interaction=DurAction.REJECT)
    base = _snapshot()
    plan = replace(base.plans["P1"], dur=dur)
    for molecule in ("mol-a", "mol-c"):  # a paid minor ingredient, the dropped one
        snapshot = ReferenceSnapshot.build(
            "7",
            [plan],
            [*base.drugs.values(), warf],
            list(base.formulary.values()),
            list(base.pharmacies.values()),
            [Interaction(molecule, "warf", Significance.MAJOR, f"{molecule} with warf")],
        )
        fill = Fill("warf", dt.date(2026, 10, 25), 30, 30_000, warf.ndc, "1000000009", "")
        decision = _decide(_compound_claim(), snapshot, fills=(fill,))
        assert isinstance(decision, Rejected), decision.response
        assert [r.code.value for r in decision.response.rejects] == ["88"]
        (conflict,) = decision.response.dur_conflicts
        assert (conflict.reason, conflict.text) == (
            DurReason.DRUG_DRUG_INTERACTION,
            f"{molecule} with warf",
        )

"""Rewards for lower-cost choices (domain/rewards.py): earned, not earned, capped, reversed.

The hand-built plan of tests/unit/domain_fixtures.py with one reward program: $10 to the
member's HRA for a cardio drug filled for 84 days or more by mail or at a 90-day retail
pharmacy, twice per plan year.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.adapters.document_reader import Reader
from rx_gateway.adapters.documents import plan_from_document
from rx_gateway.adapters.plan_terms import reward_terms
from rx_gateway.adapters.postgres.records import response_from_record, response_to_record
from rx_gateway.domain.adjudication import Paid, adjudicate
from rx_gateway.domain.claim import ReversalRequest
from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.domain.member import PurseState, RewardEarned
from rx_gateway.domain.outcome import RewardLine
from rx_gateway.domain.reference import (
    DaysSupplyBand,
    Pharmacy,
    PharmacyNetwork,
    Program,
    ReferenceSnapshot,
    RewardProgram,
)
from rx_gateway.domain.reversal import Reversal, StoredClaim, reverse
from rx_gateway.tools.synthetic.plans import plan_documents
from tests.unit.domain_fixtures import (
    BRAND,
    GENERIC,
    INSULIN,
    PLAN,
    SNAPSHOT,
    claim,
    state,
)

MAIL, RETAIL90, RETAIL = "1000000004", "1000000005", "1000000001"
YEAR = dt.date(2026, 1, 1)
REWARD = RewardProgram(
    "MAIL90",
    amount_cents=1_000,
    purse_kind="HRA",
    per_year_max=2,
    drug_groups=frozenset({"cardio"}),
    pharmacy_kinds=frozenset({"mail", "retail90"}),
    days_supply_min=84,
)


# tier 2 (brands, insulin) allows 90-day fills here too: 2.5 times the 30-day copay
TIERS = {
    **PLAN.tiers,
    2: replace(
        PLAN.tiers[2], days_supply_bands=(DaysSupplyBand(34, 10_000), DaysSupplyBand(90, 25_000))
    ),
}


def snapshot_with(*programs: RewardProgram) -> ReferenceSnapshot:
    return ReferenceSnapshot.build(
        "7r",
        [replace(PLAN, rewards=programs, tiers=TIERS)],
        list(SNAPSHOT.drugs.values()),
        list(SNAPSHOT.formulary.values()),
        [
            *SNAPSHOT.pharmacies.values(),
            Pharmacy(MAIL, "mail", PharmacyNetwork.PREFERRED, "mail"),
            Pharmacy(RETAIL90, "r90", PharmacyNetwork.PREFERRED, "retail90"),
        ],
    )


PLAN_R = replace(PLAN, rewards=(REWARD,), tiers=TIERS)
SNAPSHOT_R = snapshot_with(REWARD)
PURSE = PurseState("HRA-F1", "HRA", 5_000, posted_cents=5_000)


def decide(
    drug: Any = GENERIC,
    *,
    pharmacy: str = MAIL,
    days: int = 90,
    earned: tuple[RewardEarned, ...] = (),
    purses: tuple[PurseState, ...] = (PURSE,),
    snapshot: ReferenceSnapshot = SNAPSHOT_R,
) -> Paid:
    decision = adjudicate(
        claim(
            drug,
            service_provider_id=pharmacy,
            days_supply=days,
            quantity_dispensed_thousandths=days * 1_000,
        ),
        snapshot,
        state(purses=purses, rewards=earned),
        authorization_number="A1",
        internal_control_number="ICN1",
    )
    assert isinstance(decision, Paid), decision
    return decision


ONE_THIS_YEAR = (RewardEarned("MAIL90", YEAR, 1_000),)
TWO_THIS_YEAR = ONE_THIS_YEAR * 2
LAST_YEAR = (RewardEarned("MAIL90", dt.date(2025, 1, 1), 1_000),) * 2
OTHER_PROGRAM = (RewardEarned("OTHER", YEAR, 1_000),) * 2


@pytest.mark.parametrize(
    ("case", "kwargs", "earned_this_year", "why"),
    [
        ("90 days by mail", {}, 1, "$10.00 to HRA (1 of 2"),
        ("84 days at a 90-day retail pharmacy", {"pharmacy": RETAIL90, "days": 84}, 1, "1 of 2"),
        ("the second this year", {"earned": ONE_THIS_YEAR}, 2, "2 of 2"),
        ("last year's do not count", {"earned": LAST_YEAR}, 1, "1 of 2"),
        ("another program's do not count", {"earned": OTHER_PROGRAM}, 1, "1 of 2"),
        ("capped: two this year", {"earned": TWO_THIS_YEAR}, 0, "2 per plan year already"),
        (
            "30 days at retail",
            {"days": 30, "pharmacy": RETAIL},
            0,
            "not at a retail pharmacy",
        ),
        ("83 days", {"days": 83}, 0, "needs at least 84 days"),
        ("a 30-day fill by mail", {"days": 30}, 0, "needs at least 84 days"),
        ("another drug group", {"drug": INSULIN}, 0, "not for insulin"),
        ("no HRA purse", {"purses": ()}, 0, "no HRA purse"),
    ],
)
def test_a_reward_is_earned_by_the_rewarded_choice_only(
    case: str, kwargs: dict[str, Any], earned_this_year: int, why: str
) -> None:
    paid = decide(**kwargs)
    assert any(why in line for line in paid.response.rule_trace), paid.response.rule_trace
    if not earned_this_year:
        assert paid.rewards == paid.response.rewards == ()
        assert not any("Reward" in m for m in paid.response.additional_messages)
        return
    line = RewardLine("MAIL90", "HRA-F1", "HRA", 1_000, "20260101", earned_this_year)
    assert paid.rewards == paid.response.rewards == (line,)
    assert "Reward MAIL90: $10.00 credited to your HRA for a lower-cost choice" in (
        paid.response.additional_messages
    )


def test_a_reward_leaves_the_claims_own_payment_and_entry_alone() -> None:
    without = decide(snapshot=snapshot_with())
    paid = decide()
    assert paid.rewards and not without.rewards
    assert paid.entry == without.entry
    assert paid.purse_moves == without.purse_moves
    assert paid.response.pricing == without.response.pricing
    assert all(m.amount_cents < 0 for m in paid.purse_moves)  # a claim still only spends


def test_a_brand_is_rewarded_only_when_the_program_allows_brands() -> None:
    brands_too = decide(BRAND, days=84)
    assert [r.program_id for r in brands_too.rewards] == ["MAIL90"]
    generics_only = decide(
        BRAND, days=84, snapshot=snapshot_with(replace(REWARD, generics_only=True))
    )
    assert generics_only.rewards == ()
    assert "reward MAIL90: generics only" in generics_only.response.rule_trace


def test_a_reversal_takes_the_reward_back_and_gives_the_count_back() -> None:
    paid = decide(earned=ONE_THIS_YEAR)
    stored = StoredClaim(
        claim_id=1,
        response=response_from_record(response_to_record(paid.response)),
        entry=paid.entry,
        purse_moves=paid.purse_moves,
        accumulator_moves=paid.accumulator_moves,
        product_id=GENERIC.ndc,
        member_id="M1",
        family_id="F1",
        cardholder_id="CH1",
        person_code="001",
    )
    assert stored.response.rewards == paid.rewards  # the stored form keeps them
    request = ReversalRequest(
        header=claim().header,
        prescription_reference_number="123",
        fill_number=0,
        product_id_qualifier="03",
        product_id=GENERIC.ndc,
    )
    outcome = reverse(request, stored, PLAN_R, authorization_number="R1")
    assert isinstance(outcome, Reversal)
    assert outcome.response.rewards == (
        RewardLine("MAIL90", "HRA-F1", "HRA", -1_000, "20260101", 1),
    )
    assert outcome.response.additional_messages == ("Reward MAIL90: $10.00 taken back",)
    assert outcome.entry == paid.entry.mirror()


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"program_id": "", "amount_cents": 1, "purse_kind": "HRA", "per_year_max": 1}, "1-20"),
        (
            {"program_id": "A", "amount_cents": 0, "purse_kind": "HRA", "per_year_max": 1},
            "1-100000",
        ),
        ({"program_id": "A", "amount_cents": 1, "purse_kind": "", "per_year_max": 1}, "empty"),
        ({"program_id": "A", "amount_cents": 1, "purse_kind": "HRA", "per_year_max": 0}, ">= 1"),
        (
            {
                "program_id": "A",
                "amount_cents": 1,
                "purse_kind": "HRA",
                "per_year_max": 1,
                "pharmacy_kinds": ["drive-through"],
            },
            "one of retail",
        ),
        (
            {
                "program_id": "A",
                "amount_cents": 1,
                "purse_kind": "HRA",
                "per_year_max": 1,
                "networks": ["cheap"],
            },
            "one of preferred",
        ),
    ],
)
def test_a_reward_program_is_checked_when_the_plan_loads(
    document: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ReferenceDataError, match=problem):
        reward_terms(Reader("plan.json", ""), {"rewards": [document]})


def test_a_reward_program_reads_every_rule() -> None:
    terms = reward_terms(
        Reader("plan.json", ""),
        {
            "rewards": [
                {
                    "program_id": "MAIL90",
                    "amount_cents": 1_000,
                    "purse_kind": "HRA",
                    "per_year_max": 2,
                    "drug_groups": ["cardio"],
                    "pharmacy_kinds": ["mail", "retail90"],
                    "networks": ["preferred"],
                    "tiers": [1],
                    "days_supply_min": 84,
                    "generics_only": True,
                }
            ]
        },
    )
    assert terms == {
        "rewards": (
            replace(
                REWARD,
                networks=frozenset({PharmacyNetwork.PREFERRED}),
                tiers=frozenset({1}),
                generics_only=True,
            ),
        )
    }
    assert reward_terms(Reader("plan.json", ""), {}) == {"rewards": ()}


# (a) $0 copay for a preferred generic instead of its brand: a Program (the cost-share cap of
# domain/cost_share.py) with a rule on the generic indicator and the formulary tier
GENERIC_FIRST = Program("CARDIO-GEN0", "cardio", 0, generics_only=True, tiers=frozenset({1}))


@pytest.mark.parametrize(
    ("drug", "tiers", "member_pays", "capped"),
    [
        (GENERIC, frozenset({1}), False, True),  # the preferred generic: $0
        (BRAND, frozenset({1}), True, False),  # the brand: its deductible and copay
        (GENERIC, frozenset({2}), True, False),  # a generic, but not on a named tier
    ],
)
def test_a_preferred_generic_instead_of_the_brand_costs_nothing(
    drug: Any, tiers: frozenset[int], member_pays: bool, capped: bool
) -> None:
    plan = replace(PLAN, programs=(replace(GENERIC_FIRST, tiers=tiers),))
    snapshot = ReferenceSnapshot.build(
        "7g",
        [plan],
        list(SNAPSHOT.drugs.values()),
        list(SNAPSHOT.formulary.values()),
        list(SNAPSHOT.pharmacies.values()),
    )
    decision = adjudicate(
        claim(drug),
        snapshot,
        state(purses=()),
        authorization_number="A1",
        internal_control_number="I",
    )
    assert isinstance(decision, Paid)
    pricing = decision.response.pricing
    assert pricing is not None
    assert (pricing.patient_pay_amount_cents > 0) is member_pays
    assert ("CARDIO-GEN0: member cost capped" in decision.response.additional_messages) is capped


def test_a_program_reads_its_tiers() -> None:
    doc = next(d for d in plan_documents() if d["plan_id"] == "COMM-HRA-2026")
    doc = doc | {
        "programs": [
            {
                "program_id": "G0",
                "drug_group": "cardio",
                "member_cap_per_30_days_cents": 0,
                "tiers": [1],
            }
        ]
    }
    plan = plan_from_document(doc, "plan.json")
    assert plan.programs[0].tiers == frozenset({1})
    assert [r.program_id for r in plan.rewards] == ["MAIL90-MAINT"]
    with pytest.raises(ReferenceDataError, match="tier numbers"):
        plan_from_document(doc | {"programs": [doc["programs"][0] | {"tiers": ["1"]}]}, "p.json")

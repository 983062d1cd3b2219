"""Pricing arms, markups, lesser-of and tie rules, pinned against mutants (issue 11).

Every request is 10 units (10_000 thousandths), so a unit price of N millicents extends to
N / 100 cents (10 × N / 1000 millicents per cent). The arithmetic is in each row's comment.
"""

from __future__ import annotations

import pytest

from rx_gateway.domain.adjudication import Paid, adjudicate
from rx_gateway.domain.pricing import Price, contract_ingredient, price_claim
from rx_gateway.domain.reference import Drug, NetworkPricing
from tests.unit.domain_fixtures import GENERIC, SNAPSHOT, claim, state

TEN_UNITS = 10_000


def drug(
    *,
    brand: bool = False,
    awp: int = 200_000,
    wac: int | None = None,
    nadac: int | None = None,
    mac: int | None = None,
) -> Drug:
    return Drug("00000000077", "d", "mol", "grp", brand, None, False, awp, wac, nadac, mac)


def contract(
    *,
    awp_discount_bp: int = 2_000,
    wac_markup_bp: int | None = None,
    nadac_markup_bp: int | None = None,
    use_mac: bool = True,
    fee: int = 0,
) -> NetworkPricing:
    return NetworkPricing(awp_discount_bp, wac_markup_bp, nadac_markup_bp, use_mac, fee)


ARMS = [
    # --- each arm alone against AWP ($2.00 a unit: 2000¢ − 20% = 1600¢) ---
    pytest.param(drug(), contract(), (1_600, "03"), id="awp-less-20pct"),
    # AWP − 35%: 2000 × 6500 / 10000 = 1300
    pytest.param(drug(), contract(awp_discount_bp=3_500), (1_300, "03"), id="awp-less-35pct"),
    # AWP − 0%: 2000
    pytest.param(drug(), contract(awp_discount_bp=0), (2_000, "03"), id="awp-less-0pct"),
    # MAC $1.00 → 1000 < 1600
    pytest.param(drug(mac=100_000), contract(), (1_000, "07"), id="mac"),
    # NADAC $0.90 → 900 + 10% (1000 bp) = 990 (a flipped sign gives 810)
    pytest.param(drug(nadac=90_000), contract(nadac_markup_bp=1_000), (990, "20"), id="nadac+10"),
    # NADAC 999¢ + 10% = 1098.9 → 1099 (half up)
    pytest.param(drug(nadac=99_900), contract(nadac_markup_bp=1_000), (1_099, "20"), id="nadac-rd"),
    # WAC $1.00 → 1000 + 5% (500 bp) = 1050 (a flipped sign gives 950)
    pytest.param(drug(wac=100_000), contract(wac_markup_bp=500), (1_050, "13"), id="wac+5"),
    # WAC $1.40 → 1400 + 12.5% = 1575 < 1600
    pytest.param(drug(wac=140_000), contract(wac_markup_bp=1_250), (1_575, "13"), id="wac+12.5"),
    # WAC 1500 + 10% = 1650 > AWP 1600: AWP wins
    pytest.param(drug(wac=150_000), contract(wac_markup_bp=1_000), (1_600, "03"), id="wac-loses"),
    # NADAC 1500 + 10% = 1650 > 1600: AWP wins
    pytest.param(drug(nadac=150_000), contract(nadac_markup_bp=1_000), (1_600, "03"), id="nadac-l"),
    # all four: MAC 1000, NADAC 900 + 10% = 990, WAC 1000 + 5% = 1050, AWP 1600 → NADAC
    pytest.param(
        drug(mac=100_000, nadac=90_000, wac=100_000),
        contract(nadac_markup_bp=1_000, wac_markup_bp=500),
        (990, "20"),
        id="four-arms-nadac-lowest",
    ),
    # all four: MAC 950 is lowest
    pytest.param(
        drug(mac=95_000, nadac=90_000, wac=100_000),
        contract(nadac_markup_bp=1_000, wac_markup_bp=500),
        (950, "07"),
        id="four-arms-mac-lowest",
    ),
    # all four: WAC 800 + 5% = 840 is lowest
    pytest.param(
        drug(mac=100_000, nadac=90_000, wac=80_000),
        contract(nadac_markup_bp=1_000, wac_markup_bp=500),
        (840, "13"),
        id="four-arms-wac-lowest",
    ),
    # --- arms that do not apply ---
    # a brand is never MAC-priced, even with a MAC price (500 would win): AWP 1600
    pytest.param(drug(brand=True, mac=50_000), contract(), (1_600, "03"), id="brand-no-mac"),
    # the contract does not use MAC: AWP 1600
    pytest.param(drug(mac=50_000), contract(use_mac=False), (1_600, "03"), id="contract-no-mac"),
    # a NADAC price but no NADAC arm in the contract (500 would win)
    pytest.param(drug(nadac=50_000), contract(), (1_600, "03"), id="no-nadac-arm"),
    # a NADAC arm but no NADAC price
    pytest.param(drug(), contract(nadac_markup_bp=0), (1_600, "03"), id="no-nadac-price"),
    # a WAC price but no WAC arm (500 would win)
    pytest.param(drug(wac=50_000), contract(), (1_600, "03"), id="no-wac-arm"),
    # a WAC arm but no WAC price
    pytest.param(drug(), contract(wac_markup_bp=0), (1_600, "03"), id="no-wac-price"),
    # a brand keeps its NADAC and WAC arms: NADAC 500 + 0% = 500
    pytest.param(
        drug(brand=True, nadac=50_000), contract(nadac_markup_bp=0), (500, "20"), id="brand-nadac"
    ),
    # --- ties favour the earlier arm: MAC, NADAC, WAC, AWP ---
    # MAC 1000 = NADAC 800 + 25% = 1000 → MAC
    pytest.param(
        drug(mac=100_000, nadac=80_000), contract(nadac_markup_bp=2_500), (1_000, "07"), id="t-m-n"
    ),
    # NADAC 800 + 25% = 1000 = WAC 500 + 100% = 1000 → NADAC
    pytest.param(
        drug(nadac=80_000, wac=50_000),
        contract(nadac_markup_bp=2_500, wac_markup_bp=10_000),
        (1_000, "20"),
        id="tie-nadac-wac",
    ),
    # WAC 500 + 100% = 1000 = AWP 1250 − 20% = 1000 → WAC
    pytest.param(
        drug(awp=125_000, wac=50_000), contract(wac_markup_bp=10_000), (1_000, "13"), id="t-w-a"
    ),
    # MAC 1000 = AWP 1250 − 20% = 1000 → MAC
    pytest.param(drug(awp=125_000, mac=100_000), contract(), (1_000, "07"), id="tie-mac-awp"),
    # NADAC 1000 + 0% = AWP 1000 → NADAC
    pytest.param(
        drug(awp=125_000, nadac=100_000), contract(nadac_markup_bp=0), (1_000, "20"), id="t-n-a"
    ),
    # MAC 1000 = WAC 1000 + 0% → MAC
    pytest.param(
        drug(mac=100_000, wac=100_000), contract(wac_markup_bp=0), (1_000, "07"), id="tie-mac-wac"
    ),
    # all four at 1000 → MAC
    pytest.param(
        drug(awp=125_000, mac=100_000, nadac=80_000, wac=50_000),
        contract(nadac_markup_bp=2_500, wac_markup_bp=10_000),
        (1_000, "07"),
        id="tie-all-four",
    ),
]


@pytest.mark.parametrize(("the_drug", "the_contract", "expected"), ARMS)
def test_contract_ingredient(
    the_drug: Drug, the_contract: NetworkPricing, expected: tuple[int, str]
) -> None:
    assert contract_ingredient(the_drug, TEN_UNITS, the_contract) == expected


# The contract for lesser-of: AWP $2.00 − 20% = 1600¢ + a 100¢ fee = 1700¢.
LESSER_OF = [
    # contract lowest: F6 1600 + F7 100 (03)
    pytest.param(5_000, 3_900, 100, Price(1_700, 1_600, 100, "03", 1_700), id="contract"),
    # contract = U&C: the contract wins
    pytest.param(1_700, 3_900, 100, Price(1_700, 1_600, 100, "03", 1_700), id="contract=uc"),
    # contract = gross amount due (1500 + 200): the contract wins
    pytest.param(5_000, 1_500, 200, Price(1_700, 1_600, 100, "03", 1_700), id="contract=gad"),
    # all three 1700: the contract wins
    pytest.param(1_700, 1_600, 100, Price(1_700, 1_600, 100, "03", 1_700), id="three-way-tie"),
    # U&C one cent under the contract: U&C paid as the ingredient, no fee (04)
    pytest.param(1_699, 3_900, 100, Price(1_699, 1_699, 0, "04", 1_700), id="uc"),
    # U&C = gross amount due (1300 + 200), both under the contract: U&C wins
    pytest.param(1_500, 1_300, 200, Price(1_500, 1_500, 0, "04", 1_700), id="uc=gad"),
    # gross amount due lowest (1300 + 200 = 1500 < U&C 1501 < 1700): as submitted (01)
    pytest.param(1_501, 1_300, 200, Price(1_500, 1_300, 200, "01", 1_700), id="gad"),
    # gross amount due one cent under the contract (1599 + 100), U&C high
    pytest.param(5_000, 1_599, 100, Price(1_699, 1_599, 100, "01", 1_700), id="gad-under-1"),
    # gross amount due under U&C under contract: 1000 + 0 < 1200 < 1700
    pytest.param(1_200, 1_000, 0, Price(1_000, 1_000, 0, "01", 1_700), id="gad-no-fee"),
]


@pytest.mark.parametrize(("uc", "ingredient", "fee", "expected"), LESSER_OF)
def test_lesser_of(uc: int, ingredient: int, fee: int, expected: Price) -> None:
    got = price_claim(
        drug(),
        TEN_UNITS,
        contract(fee=100),
        usual_and_customary_cents=uc,
        gross_amount_due_cents=ingredient + fee,
        ingredient_cost_submitted_cents=ingredient,
        dispensing_fee_submitted_cents=fee,
    )
    assert got == expected


def test_contract_price_includes_the_dispensing_fee() -> None:
    """MAC $1.00 (1000¢) + a 250¢ fee = 1250¢, reported whichever arm of lesser-of won."""
    got = price_claim(
        drug(mac=100_000),
        TEN_UNITS,
        contract(fee=250),
        usual_and_customary_cents=1_100,
        gross_amount_due_cents=1_200,
        ingredient_cost_submitted_cents=1_000,
        dispensing_fee_submitted_cents=200,
    )
    assert got == Price(1_100, 1_100, 0, "04", 1_250)


@pytest.mark.parametrize(
    ("allowed", "f6", "f7", "ok"),
    [(100, 60, 40, True), (100, 60, 39, False), (100, 61, 40, False), (0, 0, 0, True)],
)
def test_price_requires_f6_plus_f7_to_be_the_allowed_amount(
    allowed: int, f6: int, f7: int, ok: bool
) -> None:
    if ok:
        assert Price(allowed, f6, f7, "03", allowed).allowed_cents == allowed
    else:
        with pytest.raises(ValueError, match=r"^F6 \+ F7 must equal the allowed amount$"):
            Price(allowed, f6, f7, "03", allowed)


def test_gross_amount_due_lowest_end_to_end() -> None:
    """GENERIC 300 units at the preferred pharmacy: MAC 300 × $0.12 = $36.00 + $1.00 = $37.00;
    the pharmacy bills 409-D9 $29.00 + 412-DC $1.00 = 430-DU $30.00 with U&C $50.00. The gross
    amount due is lowest: 522-FM 01, F6 2900, F7 100. Tier 1 copay $10.00 (no deductible), no
    purse: member $10.00, plan $30.00 − $10.00 = $20.00 = 509-F9 (2900 + 100 − 1000)."""
    request = claim(
        GENERIC,
        quantity_dispensed_thousandths=300_000,
        ingredient_cost_submitted_cents=2_900,
        dispensing_fee_submitted_cents=100,
        gross_amount_due_cents=3_000,
        usual_and_customary_charge_cents=5_000,
    )
    decision = adjudicate(
        request, SNAPSHOT, state(purses=()), authorization_number="A", internal_control_number="I"
    )
    assert isinstance(decision, Paid)
    p = decision.response.pricing
    assert p is not None
    assert (
        p.basis_of_reimbursement_determination,
        p.allowed_amount_cents,
        p.ingredient_cost_paid_cents,
        p.dispensing_fee_paid_cents,
        p.amount_of_copay_cents,
        p.patient_pay_amount_cents,
        p.plan_paid_cents,
        p.total_amount_paid_cents,
    ) == ("01", 3_000, 2_900, 100, 1_000, 1_000, 2_000, 2_000)
    assert "pricing: allowed $30.00 (522-FM 01)" in decision.response.rule_trace


def test_each_arm_is_rounded_once() -> None:
    """AWP $12.34567 a unit less 18%, one unit: 1012.34494¢ → 1012 (an arm rounded twice, the
    extended $12.35 first, gives 1013); NADAC 12.345¢ a unit plus 10%, 450.500 units:
    6117.56475¢ → 6118 (rounded twice: 6117)."""
    awp_only = drug(awp=1_234_567)
    assert contract_ingredient(awp_only, 1_000, contract(awp_discount_bp=1_800)) == (1_012, "03")
    nadac = drug(awp=10_000_000, nadac=12_345)
    assert contract_ingredient(nadac, 450_500, contract(nadac_markup_bp=1_000)) == (6_118, "20")

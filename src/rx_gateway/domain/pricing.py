"""What the drug costs: the allowed amount and how it was determined (522-FM).

allowed = lesser of (U&C 426-DQ, gross amount due 430-DU, contract price), where the contract
price is the network's lowest applicable ingredient basis plus its dispensing fee:
AWP − x%, WAC + y%, NADAC + z%, and MAC for generics.
"""

from __future__ import annotations

from dataclasses import dataclass

from rx_gateway.domain.additional_amounts import AdditionalAmounts, OtherAmount
from rx_gateway.domain.money import BASIS_POINTS_PER_UNIT, divide, extended_cost_cents
from rx_gateway.domain.reference import Drug, NetworkPricing

# 522-FM Basis of Reimbursement Determination values the gateway emits.
BASIS_SUBMITTED = "01"  # ingredient cost paid as submitted (gross amount due was lowest)
BASIS_AWP_LESS = "03"  # ingredient cost reduced to AWP less X%
BASIS_USUAL_AND_CUSTOMARY = "04"  # usual & customary paid as submitted
# 347-HJ Basis of Calculation—Copay when the claim is paid at U&C (522-FM 04): the U&C then
# bounds what the member pays (ncpdp-d0.md 5.3).
COPAY_BASIS_USUAL_AND_CUSTOMARY = "03"


def copay_basis(basis_of_reimbursement: str, copay_cents: int, allowed_cents: int) -> str:
    """347-HJ: "03" when the U&C set the copay (the claim paid at U&C, 522-FM 04, and the
    copay, 518-FI, is the whole U&C: the plan's copay was more), else "" (not sent). A copay
    under the U&C, coinsurance or the deductible leave it unsent."""
    if (
        basis_of_reimbursement == BASIS_USUAL_AND_CUSTOMARY
        and copay_cents != 0
        and copay_cents == allowed_cents
    ):
        return COPAY_BASIS_USUAL_AND_CUSTOMARY
    return ""


BASIS_MAC = "07"  # MAC pricing, ingredient cost reduced to MAC
BASIS_WAC = "13"
BASIS_NADAC = "20"


@dataclass(frozen=True, slots=True)
class Price:
    allowed_cents: int
    ingredient_cost_paid_cents: int  # 506-F6
    dispensing_fee_paid_cents: int  # 507-F7
    basis: str  # 522-FM
    contract_price_cents: int

    def __post_init__(self) -> None:
        if self.ingredient_cost_paid_cents + self.dispensing_fee_paid_cents != self.allowed_cents:
            msg = "F6 + F7 must equal the allowed amount"
            raise ValueError(msg)


def contract_ingredient(
    drug: Drug, quantity_thousandths: int, contract: NetworkPricing
) -> tuple[int, str]:
    """The lowest applicable ingredient basis and its 522-FM code. Ties favour the earlier arm.
    Each arm is the quantity at the unit price times the arm's rate, rounded once."""
    q = quantity_thousandths
    arms: list[tuple[int, str]] = []
    if contract.use_mac and not drug.is_brand and drug.mac_unit_price_millicents is not None:
        arms.append((extended_cost_cents(q, drug.mac_unit_price_millicents), BASIS_MAC))
    if contract.nadac_markup_bp is not None and drug.nadac_unit_price_millicents is not None:
        rate = BASIS_POINTS_PER_UNIT + contract.nadac_markup_bp
        arms.append((extended_cost_cents(q, drug.nadac_unit_price_millicents, rate), BASIS_NADAC))
    if contract.wac_markup_bp is not None and drug.wac_unit_price_millicents is not None:
        rate = BASIS_POINTS_PER_UNIT + contract.wac_markup_bp
        arms.append((extended_cost_cents(q, drug.wac_unit_price_millicents, rate), BASIS_WAC))
    rate = BASIS_POINTS_PER_UNIT - contract.awp_discount_bp
    arms.append((extended_cost_cents(q, drug.awp_unit_price_millicents, rate), BASIS_AWP_LESS))
    return min(arms, key=lambda arm: arm[0])


def price_claim(
    drug: Drug,
    quantity_thousandths: int,
    contract: NetworkPricing,
    *,
    usual_and_customary_cents: int,
    gross_amount_due_cents: int,
    ingredient_cost_submitted_cents: int,
    dispensing_fee_submitted_cents: int,
) -> Price:
    """Lesser-of pricing of one drug at the network's lowest ingredient basis."""
    ingredient, basis = contract_ingredient(drug, quantity_thousandths, contract)
    return lesser_of(
        ingredient,
        basis,
        contract.dispensing_fee_cents,
        usual_and_customary_cents=usual_and_customary_cents,
        gross_amount_due_cents=gross_amount_due_cents,
        ingredient_cost_submitted_cents=ingredient_cost_submitted_cents,
        dispensing_fee_submitted_cents=dispensing_fee_submitted_cents,
    )


def lesser_of(
    ingredient_cents: int,
    basis: str,
    fee_cents: int,
    *,
    usual_and_customary_cents: int,
    gross_amount_due_cents: int,
    ingredient_cost_submitted_cents: int,
    dispensing_fee_submitted_cents: int,
) -> Price:
    """The lesser of the contract price (ingredient at ``basis`` plus fee), the U&C and the
    gross amount due. The contract wins ties; then U&C; then the gross amount due."""
    contract_price = ingredient_cents + fee_cents
    if contract_price <= usual_and_customary_cents and contract_price <= gross_amount_due_cents:
        return Price(contract_price, ingredient_cents, fee_cents, basis, contract_price)
    if usual_and_customary_cents <= gross_amount_due_cents:
        # U&C is what the pharmacy charges cash customers, fee included: pay it as the ingredient.
        return Price(
            usual_and_customary_cents,
            usual_and_customary_cents,
            0,
            BASIS_USUAL_AND_CUSTOMARY,
            contract_price,
        )
    return Price(
        gross_amount_due_cents,
        ingredient_cost_submitted_cents,
        dispensing_fee_submitted_cents,
        BASIS_SUBMITTED,
        contract_price,
    )


TAX_RATE_UNIT = 1_000_000  # 483-HE / 560-AY: percent with 4 implied decimals, so 1.0 = 1,000,000
TAX_BASIS_INGREDIENT = "02"
SALES_TAX_PLAN, SALES_TAX_PATIENT, SALES_TAX_EXEMPT = "plan", "patient", "exempt"
TAX_EXEMPT_PAYER = "1"  # 557-AV: the payer is exempt from sales tax


@dataclass(frozen=True, slots=True)
class AdditionalPaid:
    """What the plan allows of the additional amounts (the response's 558-AW .. 565-J4)."""

    flat_sales_tax_cents: int = 0  # 558-AW Flat Sales Tax Amount Paid
    percentage_sales_tax_cents: int = 0  # 559-AX Percentage Sales Tax Amount Paid
    percentage_sales_tax_rate: int = 0  # 560-AY Percentage Sales Tax Rate Paid
    percentage_sales_tax_basis: str = ""  # 561-AZ Percentage Sales Tax Basis Paid
    incentive_cents: int = 0  # 521-FL Incentive Amount Paid
    other_amounts: tuple[OtherAmount, ...] = ()  # 563-J2 / 564-J3 / 565-J4
    tax_exempt_indicator: str = ""  # 557-AV

    @property
    def taxes_cents(self) -> int:
        return self.flat_sales_tax_cents + self.percentage_sales_tax_cents

    @property
    def total_cents(self) -> int:
        return (
            self.taxes_cents
            + self.incentive_cents
            + sum(o.amount_cents for o in self.other_amounts)
        )


def price_additional(
    amounts: AdditionalAmounts, contract: NetworkPricing, price: Price
) -> AdditionalPaid:
    """Taxes as the contract says (passed through at the submitted flat amount and the
    submitted rate applied to what is paid for the drug, never more than the 482-GE billed;
    or none when the plan is exempt); the incentive and each other amount up to the
    contract's maximum."""
    incentive = min(amounts.incentive_cents, contract.incentive_paid_max_cents)
    others = tuple(
        OtherAmount(o.qualifier, paid)
        for o in amounts.other_amounts
        if (paid := min(o.amount_cents, contract.other_amounts_paid_max_cents.get(o.qualifier, 0)))
    )
    if contract.sales_tax == SALES_TAX_EXEMPT:
        exempt = amounts.flat_sales_tax_cents or amounts.percentage_sales_tax_cents
        return AdditionalPaid(
            incentive_cents=incentive,
            other_amounts=others,
            tax_exempt_indicator=TAX_EXEMPT_PAYER if exempt else "",
        )
    percentage = 0
    rate = amounts.percentage_sales_tax_rate
    if amounts.percentage_sales_tax_cents:
        basis = price.ingredient_cost_paid_cents
        if amounts.percentage_sales_tax_basis != TAX_BASIS_INGREDIENT:
            basis += price.dispensing_fee_paid_cents
        percentage = divide(basis * rate, TAX_RATE_UNIT)
        if percentage > amounts.percentage_sales_tax_cents:
            # a rate that says more than was billed: pay what was billed, and say at what
            # rate that is on the paid basis (560-AY × 561-AZ = 559-AX, to the cent)
            percentage = amounts.percentage_sales_tax_cents
            rate = divide(percentage * TAX_RATE_UNIT, basis)
    return AdditionalPaid(
        flat_sales_tax_cents=amounts.flat_sales_tax_cents,
        percentage_sales_tax_cents=percentage,
        percentage_sales_tax_rate=rate if percentage else 0,
        percentage_sales_tax_basis=amounts.percentage_sales_tax_basis if percentage else "",
        incentive_cents=incentive,
        other_amounts=others,
    )

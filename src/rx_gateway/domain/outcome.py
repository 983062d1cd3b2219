"""What the gateway answers: the domain's view of an NCPDP response, and its stored form.

Its stored form (adapters/postgres/records.py) is what a duplicate replays, so a
retransmission gets exactly the original authorization number and amounts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum

from rx_gateway.domain.dur import DurConflict
from rx_gateway.domain.other_payments import OtherPayer
from rx_gateway.domain.rejects import Reject


class ResponseStatus(StrEnum):
    """112-AN Transaction Response Status."""

    PAID = "P"
    DUPLICATE_OF_PAID = "D"
    REJECTED = "R"
    APPROVED = "A"
    DUPLICATE_OF_APPROVED = "S"


@dataclass(frozen=True, slots=True)
class ResponsePricing:
    """The AM23 pricing fields, in cents. See proto PricingResponse for the identities."""

    patient_pay_amount_cents: int  # 505-F5
    ingredient_cost_paid_cents: int  # 506-F6
    dispensing_fee_paid_cents: int  # 507-F7
    total_amount_paid_cents: int  # 509-F9
    basis_of_reimbursement_determination: str  # 522-FM
    amount_applied_to_periodic_deductible_cents: int  # 517-FH
    amount_of_copay_cents: int  # 518-FI
    amount_of_coinsurance_cents: int  # 572-4U
    # None: the plan has no such figure, and the field is left out of the answer
    amount_exceeding_periodic_benefit_maximum_cents: int | None  # 520-FK
    accumulated_deductible_amount_cents: int | None  # 512-FC
    remaining_deductible_amount_cents: int | None  # 513-FD
    remaining_benefit_amount_cents: int | None  # 514-FE
    amount_attributed_to_provider_network_selection_cents: int  # 133-UJ
    amount_attributed_to_product_selection_brand_cents: int  # 134-UK
    spending_account_amount_remaining_cents: int | None  # 128-UC
    health_plan_funded_assistance_amount_cents: int  # 129-UD (<= 0)
    allowed_amount_cents: int
    plan_paid_cents: int
    amount_attributed_to_non_preferred_formulary_cents: int = 0  # 135-UM
    amount_attributed_to_brand_non_preferred_formulary_cents: int = 0  # 136-UN
    # 393-MV qualifier and 394-MW amount per Part D stage (392-MU is their count)
    benefit_stages: tuple[tuple[str, int], ...] = ()
    # Paid beyond ingredient and fee (each part of 509-F9 and of the allowed amount)
    flat_sales_tax_amount_paid_cents: int = 0  # 558-AW
    percentage_sales_tax_amount_paid_cents: int = 0  # 559-AX
    percentage_sales_tax_rate_paid: int = 0  # 560-AY: percent, 4 implied decimals
    percentage_sales_tax_basis_paid: str = ""  # 561-AZ
    incentive_amount_paid_cents: int = 0  # 521-FL
    other_amounts_paid: tuple[tuple[str, int], ...] = ()  # 564-J3 qualifier, 565-J4 amount
    sales_tax_exempt_indicator: str = ""  # 557-AV
    amount_attributed_to_sales_tax_cents: int = 0  # 523-FN: the tax inside 505-F5
    patient_sales_tax_amount_cents: int = 0  # 575-EQ
    plan_sales_tax_amount_cents: int = 0  # 574-2Y
    # What the payers before this plan are taken to have paid (a secondary claim)
    other_payer_amount_recognized_cents: int = 0  # 566-J5

    @property
    def additional_paid_cents(self) -> int:
        """558-AW + 559-AX + 521-FL + Σ 565-J4: what the plan allows beyond the drug."""
        return (
            self.flat_sales_tax_amount_paid_cents
            + self.percentage_sales_tax_amount_paid_cents
            + self.incentive_amount_paid_cents
            + sum(amount for _, amount in self.other_amounts_paid)
        )

    def negated(self) -> ResponsePricing:
        """The pricing of a reversal: every amount with its sign flipped, accumulators kept."""
        kept = {
            "basis_of_reimbursement_determination",
            "percentage_sales_tax_rate_paid",
            "percentage_sales_tax_basis_paid",
            "sales_tax_exempt_indicator",
            "accumulated_deductible_amount_cents",
            "remaining_deductible_amount_cents",
            "remaining_benefit_amount_cents",
            "spending_account_amount_remaining_cents",
        }
        paired = ("benefit_stages", "other_amounts_paid")
        values = {
            k: (v if k in kept or v is None else -v)
            for k, v in asdict(self).items()
            if k not in paired
        }
        return ResponsePricing(
            **values,
            benefit_stages=tuple((q, -amount) for q, amount in self.benefit_stages),
            other_amounts_paid=tuple((q, -amount) for q, amount in self.other_amounts_paid),
        )


@dataclass(frozen=True, slots=True)
class PurseLine:
    """What one purse paid on a claim, and what it has available afterwards."""

    purse_id: str
    kind: str
    paid_cents: int
    available_cents: int


@dataclass(frozen=True, slots=True)
class RewardLine:
    """A reward a claim credited to a member's purse (negative on its reversal), and the
    rewards of its program the member has had this plan year, this one included."""

    program_id: str
    purse_id: str  # internal: kept with the claim, not answered
    purse_kind: str
    amount_cents: int
    plan_year_start: str  # CCYYMMDD
    earned_this_year: int = 0


@dataclass(frozen=True, slots=True)
class AccumulatorView:
    """Met and remaining at each level; a remaining amount is None when the plan sets no
    limit at that level for the member's coverage (claims stored before this kept 0)."""

    plan_year: str  # CCYYMMDD
    deductible_individual_met_cents: int
    deductible_individual_remaining_cents: int | None
    deductible_family_met_cents: int
    deductible_family_remaining_cents: int | None
    out_of_pocket_individual_met_cents: int
    out_of_pocket_individual_remaining_cents: int | None
    out_of_pocket_family_met_cents: int
    out_of_pocket_family_remaining_cents: int | None
    # which limits applied (self_only or family): stored so a reversal reports the same view
    coverage_level: str = "family"


@dataclass(frozen=True, slots=True)
class ClaimResponse:
    transaction_response_status: ResponseStatus  # 112-AN
    authorization_number: str = ""
    rejects: tuple[Reject, ...] = ()
    message: str = ""
    additional_messages: tuple[str, ...] = ()
    pricing: ResponsePricing | None = None
    purses: tuple[PurseLine, ...] = ()
    accumulators: AccumulatorView | None = None
    internal_control_number: str = ""
    plan_id: str = ""
    reference_data_version: str = ""
    rule_trace: tuple[str, ...] = ()
    prescription_reference_number: str = ""
    dur_conflicts: tuple[DurConflict, ...] = ()  # segment 24: on an 88, or a paid soft edit
    # Kept with the claim, not answered: what the next claims' DUR and 79 checks read back.
    refill_override: int = 0  # the 420-DK code that let this fill past a refill too soon
    prescriber_id: str = ""  # 411-DB
    dispense_as_written: int = 0  # 408-D8 as submitted (member files: EOB, PDE)
    # 415-DF as submitted (None: not sent; claims stored before 415-DF's presence was kept
    # have 0 for not sent)
    number_of_refills_authorized: int | None = None
    # AM28: on a 41, the payers to bill before this plan
    other_payers: tuple[OtherPayer, ...] = ()
    # Kept with the claim, not answered: 308-C8 as billed (the 835 says paid as secondary)
    other_coverage_code: int = 0
    # Kept with a compound claim, not answered: each covered ingredient's NDC and priced amount,
    # the largest first (the 835 names the compound by the first)
    compound_ingredients: tuple[tuple[str, int], ...] = ()
    # Rewards for a lower-cost choice credited to the member's purse in the claim's write
    rewards: tuple[RewardLine, ...] = ()

    def as_status(self, status: ResponseStatus) -> ClaimResponse:
        return replace(self, transaction_response_status=status)


def rejected(
    rejects: tuple[Reject, ...],
    *,
    prescription_reference_number: str = "",
    reference_data_version: str = "",
    plan_id: str = "",
    rule_trace: tuple[str, ...] = (),
) -> ClaimResponse:
    """An R response whose messages (526-FQ) are the actionable text of each reject."""
    messages = tuple(r.message for r in rejects if r.message)
    return ClaimResponse(
        transaction_response_status=ResponseStatus.REJECTED,
        rejects=rejects,
        message=messages[0] if messages else (rejects[0].text if rejects else ""),
        additional_messages=messages,
        plan_id=plan_id,
        reference_data_version=reference_data_version,
        rule_trace=rule_trace,
        prescription_reference_number=prescription_reference_number,
    )

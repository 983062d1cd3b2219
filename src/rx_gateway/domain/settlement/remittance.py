"""What a pharmacy payee is paid for a cycle: its claim lines, their adjustments (the 835's CAS),
the provider-level adjustments (PLB), the payment (BPR02), and the ledger entry of the close.

The 835's three balancing identities hold by construction and are checked again here:

1. service: SVC02 − Σ CAS = SVC03, with SVC02 = 430-DU and SVC03 = 509-F9;
2. claim: CLP03 − Σ CAS = CLP04 (the adjustments are at service level, once);
3. payment: BPR02 = Σ CLP04 − Σ PLB (a positive PLB amount reduces the payment).

The adjustments of one line: CO 45, what the contract took off the charge (430-DU minus the
allowed amount F6 + F7); OA 23, what the payers before this plan paid on a secondary claim
(566-J5); PR, the member's share the pharmacy collected (505-F5) in its parts:
1 deductible (517-FH), 2 coinsurance (572-4U), 3 copay (518-FI), 119 benefit maximum (520-FK),
and the plan-design differentials (133-UJ network, 134-UK brand, 135-UM/136-UN non-preferred).
A purse (129-UD) pays part of the member's share: its money is inside 509-F9, so the PR parts
are what is left after the purse, taken from the parts in that order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.ledger import (
    JournalEntry,
    entry_from_amounts,
    pharmacy_payable_account,
)

CARC_DEDUCTIBLE = "1"
CARC_COINSURANCE = "2"
CARC_COPAY = "3"
CARC_CONTRACTUAL = "45"  # charge exceeds fee schedule / contracted amount (group CO)
CARC_BENEFIT_MAXIMUM = "119"  # benefit maximum for this time period has been reached
# The plan-design differentials have no CARC of their own and no published crosswalk from the
# NCPDP fields; these are the closest texts in the CARC list (README: the trading partners may
# agree on others). Under group PR each is the patient's to pay.
CARC_NETWORK = "279"  # services not provided by preferred network providers (133-UJ)
CARC_PRODUCT_SELECTION = "45"  # charge exceeds the maximum allowable: the brand's (134-UK)
CARC_NON_PREFERRED = "144"  # incentive adjustment, e.g. preferred product (135-UM, 136-UN)
CARC_TAX = "137"  # regulatory surcharges, assessments, allowances or health related taxes
# The impact of prior payer(s) adjudication including payments and/or adjustments (group OA):
# on a secondary claim, what the payers before this plan paid (566-J5)
CARC_PRIOR_PAYER = "23"


class LineKind(StrEnum):
    PAID = "paid"  # CLP02 = 1, processed as primary
    REVERSAL = "reversal"  # CLP02 = 22, reversal of a previous payment


class AdjustmentGroup(StrEnum):
    CONTRACTUAL = "CO"
    OTHER = "OA"
    PATIENT_RESPONSIBILITY = "PR"


@dataclass(frozen=True, slots=True)
class Adjustment:
    group: AdjustmentGroup
    reason: str  # CARC
    amount_cents: int


@dataclass(frozen=True, slots=True)
class Patient:
    """NM1*QC: the patient, as the pharmacy knows them (PHI: this goes in the file only)."""

    last_name: str
    first_name: str
    member_identifier: str  # the cardholder ID


@dataclass(frozen=True, slots=True)
class MemberShare:
    """505-F5 in its parts (as on the paid claim; positive), and what purses paid of it."""

    deductible_cents: int = 0  # 517-FH
    coinsurance_cents: int = 0  # 572-4U
    copay_cents: int = 0  # 518-FI
    benefit_maximum_cents: int = 0  # 520-FK
    network_cents: int = 0  # 133-UJ
    product_selection_cents: int = 0  # 134-UK
    non_preferred_cents: int = 0  # 135-UM + 136-UN
    sales_tax_cents: int = 0  # 523-FN
    purse_paid_cents: int = 0  # −129-UD

    def parts(self) -> tuple[tuple[str, int], ...]:
        return (
            (CARC_DEDUCTIBLE, self.deductible_cents),
            (CARC_COINSURANCE, self.coinsurance_cents),
            (CARC_COPAY, self.copay_cents),
            (CARC_BENEFIT_MAXIMUM, self.benefit_maximum_cents),
            (CARC_NETWORK, self.network_cents),
            (CARC_PRODUCT_SELECTION, self.product_selection_cents),
            (CARC_NON_PREFERRED, self.non_preferred_cents),
            (CARC_TAX, self.sales_tax_cents),
        )

    def patient_pay_cents(self) -> int:
        return sum(amount for _, amount in self.parts()) - self.purse_paid_cents


@dataclass(frozen=True, slots=True)
class RemittanceLine:
    """One claim (or reversal) on a remittance. Amounts are as on the paid claim (positive);
    ``sign`` is −1 on a reversal, and every amount the file shows is multiplied by it."""

    kind: LineKind
    internal_control_number: str  # 993-A7: CLP07 (a reversal's REF*F8 points at it)
    prescription_reference_number: str  # 402-D2
    fill_number: int  # 403-D3
    service_provider_id: str  # 201-B1: the store
    product_id: str  # 407-D7 (NDC)
    date_of_service: dt.date
    quantity_thousandths: int
    gross_amount_due_cents: int  # 430-DU: CLP03, SVC02
    total_amount_paid_cents: int  # 509-F9: CLP04, SVC03
    share: MemberShare
    plan_id: str
    line_of_business: str
    patient: Patient
    prior_payer_paid_cents: int = 0  # 566-J5: a secondary claim's other payers (OA 23)
    secondary: bool = False  # billed after another payer (308-C8 2, 4 or 8): CLP02 2
    adjustments: tuple[Adjustment, ...] = field(init=False, repr=False, compare=False)
    patient_pay_cents: int = field(init=False, repr=False, compare=False)  # 505-F5, unsigned

    def __post_init__(self) -> None:
        object.__setattr__(self, "patient_pay_cents", self.share.patient_pay_cents())
        object.__setattr__(self, "adjustments", self._adjust())

    @property
    def sign(self) -> int:
        return -1 if self.kind is LineKind.REVERSAL else 1

    @property
    def claim_status(self) -> str:
        """CLP02: 1 processed as primary, 2 as secondary (billed after another payer), 22 a
        reversal of a previous payment."""
        if self.kind is LineKind.REVERSAL:
            return "22"
        return "2" if self.secondary or self.prior_payer_paid_cents else "1"

    @property
    def patient_control_number(self) -> str:
        """CLP01: the Rx number and fill, as the pharmacy's system knows the claim."""
        return f"{self.prescription_reference_number}-{self.fill_number:02d}"

    @property
    def charge_cents(self) -> int:
        return self.sign * self.gross_amount_due_cents

    @property
    def paid_cents(self) -> int:
        return self.sign * self.total_amount_paid_cents

    @property
    def patient_responsibility_cents(self) -> int:
        return self.sign * self.patient_pay_cents

    def _adjust(self) -> tuple[Adjustment, ...]:
        """CO 45, OA 23 (the prior payers) and the PR parts, zero amounts left out, signed like
        the line (computed once, when the line is made: ``adjustments``)."""
        share = self.share
        prior = self.prior_payer_paid_cents
        allowed = self.total_amount_paid_cents + self.patient_pay_cents + prior
        out = []
        contractual = self.gross_amount_due_cents - allowed
        if contractual:
            out.append(
                Adjustment(AdjustmentGroup.CONTRACTUAL, CARC_CONTRACTUAL, self.sign * contractual)
            )
        if prior:
            out.append(Adjustment(AdjustmentGroup.OTHER, CARC_PRIOR_PAYER, self.sign * prior))
        purse_left = share.purse_paid_cents
        by_reason: dict[str, int] = {}
        for reason, amount in share.parts():
            taken = min(amount, purse_left)
            purse_left -= taken
            if amount - taken:
                by_reason[reason] = by_reason.get(reason, 0) + amount - taken
        if purse_left:
            msg = f"purses paid more than the member's share on {self.internal_control_number}"
            raise InvariantViolation(msg)
        out += [
            Adjustment(AdjustmentGroup.PATIENT_RESPONSIBILITY, reason, self.sign * amount)
            for reason, amount in by_reason.items()
        ]
        return tuple(out)


class ProviderAdjustmentReason(StrEnum):
    ORIGINATION_FEE = "AH"  # a transaction fee not tied to one claim
    FORWARDING_BALANCE = "FB"  # a balance carried from (positive) or to (negative) a cycle


@dataclass(frozen=True, slots=True)
class ProviderAdjustment:
    """PLB: a positive amount reduces the payment."""

    reason: ProviderAdjustmentReason
    reference: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class Remittance:
    """One payee's 835 for one cycle."""

    cycle_id: str
    payee_id: str
    pay_date: dt.date
    lines: tuple[RemittanceLine, ...]
    provider_adjustments: tuple[ProviderAdjustment, ...]
    carried_in_cents: int  # what the payee owed from earlier cycles, recovered here
    fee_cents: int
    claims_paid_cents: int = field(init=False, compare=False)  # Σ CLP04

    def __post_init__(self) -> None:
        object.__setattr__(self, "claims_paid_cents", sum(line.paid_cents for line in self.lines))

    @property
    def payment_cents(self) -> int:
        """BPR02."""
        return self.claims_paid_cents - sum(a.amount_cents for a in self.provider_adjustments)

    @property
    def carried_out_cents(self) -> int:
        """What the payee still owes after this cycle (carried to the next): ≥ 0."""
        return max(0, self.fee_cents + self.carried_in_cents - self.claims_paid_cents)

    def check_identities(self) -> None:
        """The 835's balancing, and the payment never negative (raises on a bug)."""
        for line in self.lines:
            adjusted = sum(a.amount_cents for a in line.adjustments)
            if line.charge_cents - adjusted != line.paid_cents:
                msg = f"service/claim balancing fails on {line.internal_control_number}"
                raise InvariantViolation(msg)
        if self.payment_cents < 0:
            msg = f"remittance {self.cycle_id}/{self.payee_id} pays a negative amount"
            raise InvariantViolation(msg)

    def entry(self) -> JournalEntry:
        """The close's ledger entry: each store's payable to the payee's clearing account (what
        the EFT will pay), the fee to income, the carried balance to the payee's carry account."""
        by_store: dict[str, int] = {}
        for line in self.lines:
            by_store[line.service_provider_id] = (
                by_store.get(line.service_provider_id, 0) + line.paid_cents
            )
        amounts = [(pharmacy_payable_account(npi), -paid) for npi, paid in sorted(by_store.items())]
        amounts += [
            (TRANSACTION_FEE_INCOME, self.fee_cents),
            (payee_carry_account(self.payee_id), self.carried_in_cents - self.carried_out_cents),
            (remittance_clearing_account(self.payee_id), self.payment_cents),
        ]
        return entry_from_amounts(amounts)


TRANSACTION_FEE_INCOME = "fee_income:transaction"


def transaction_fee(lines: tuple[RemittanceLine, ...], fee_by_plan: dict[str, int]) -> int:
    """The per-transaction fee of a cycle: each claim and each reversal is a transaction, at
    its plan's fee."""
    return sum(fee_by_plan.get(line.plan_id, 0) for line in lines)


def remittance_clearing_account(payee_id: str) -> str:
    """What a remittance will pay the payee: cleared when the bank confirms the EFT."""
    return f"remittance_clearing:{payee_id}"


def payee_carry_account(payee_id: str) -> str:
    """What a payee owes from cycles that netted negative (a debit balance: negative)."""
    return f"payee_carry:{payee_id}"


def remit(
    cycle_id: str,
    payee_id: str,
    pay_date: dt.date,
    lines: tuple[RemittanceLine, ...],
    *,
    fee_cents: int,
    carried_in_cents: int,
    carried_from: str = "",
) -> Remittance:
    """The payee's remittance: the fee (PLB AH), the balance it owed (PLB FB, positive), and,
    when the cycle nets negative, the remainder carried forward (PLB FB, negative) so that the
    payment is zero and the file still balances. Both FB adjustments name the cycle the
    balance was carried out of (this one for a carry out; ``carried_from`` for a carry in),
    so that a pharmacy pairs the two."""
    if fee_cents < 0 or carried_in_cents < 0:
        msg = "fees and carried balances are not negative"
        raise InvariantViolation(msg)
    claims = sum(line.paid_cents for line in lines)
    adjustments = []
    if fee_cents:
        adjustments.append(
            ProviderAdjustment(ProviderAdjustmentReason.ORIGINATION_FEE, cycle_id, fee_cents)
        )
    if carried_in_cents:
        adjustments.append(
            ProviderAdjustment(
                ProviderAdjustmentReason.FORWARDING_BALANCE,
                carried_from or "CARRIED IN",
                carried_in_cents,
            )
        )
    net = claims - fee_cents - carried_in_cents
    if net < 0:
        adjustments.append(
            ProviderAdjustment(ProviderAdjustmentReason.FORWARDING_BALANCE, cycle_id, net)
        )
    remittance = Remittance(
        cycle_id, payee_id, pay_date, lines, tuple(adjustments), carried_in_cents, fee_cents
    )
    remittance.check_identities()
    return remittance

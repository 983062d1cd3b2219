"""What a sponsor is billed for a cycle, line by line, and the ledger entries of billing and of
the sponsor's payments.

A sponsor pays the plan's cost of the claims of its plans (plan paid) and the purse money it
funds (an employer's HRA: the purse's funder is billed what was spent, when it was spent), plus
an admin fee per paid claim (refunded on the reversal). Reversals are negative lines in the cycle
that received them. Pass-through pricing: what the pharmacy was paid, nothing kept in between.

Ledger (settlement accounts; credit positive, as in :mod:`rx_gateway.domain.ledger`):
    invoice    sponsor_receivable:S −total, plan:P +plan paid, employer_funding:S +purse paid,
               fee_income:admin +fees
    receipt    sponsor_receivable:S +amount, receipt_clearing:S −amount (cash on its way)
A sponsor's receivable balance is what it has paid less what it was billed: negative is owed,
positive is a pre-funded deposit that the next invoices draw down.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.ledger import (
    JournalEntry,
    employer_funding_account,
    entry_from_amounts,
    plan_account,
)
from rx_gateway.domain.settlement.remittance import LineKind

ADMIN_FEE_INCOME = "fee_income:admin"


def sponsor_receivable_account(sponsor_id: str) -> str:
    return f"sponsor_receivable:{sponsor_id}"


def receipt_clearing_account(sponsor_id: str) -> str:
    """A sponsor payment recorded, not yet seen by the bank: cleared by reconciliation."""
    return f"receipt_clearing:{sponsor_id}"


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One claim (or reversal) on a sponsor's invoice. Amounts carry the line's sign."""

    kind: LineKind
    internal_control_number: str  # 993-A7
    authorization_number: str  # 503-F3
    date_of_service: dt.date
    received_on: dt.date
    service_provider_id: str
    plan_id: str
    member_id: str
    product_id: str
    quantity_thousandths: int
    days_supply: int
    plan_paid_cents: int  # billed when the sponsor is the plan's
    purse_paid_cents: int  # the purse money this sponsor funds
    admin_fee_cents: int

    @property
    def billed_cents(self) -> int:
        return self.plan_paid_cents + self.purse_paid_cents + self.admin_fee_cents


@dataclass(frozen=True, slots=True)
class Invoice:
    invoice_id: str
    sponsor_id: str
    cycle_id: str
    period_start: dt.date
    period_end: dt.date
    due_on: dt.date
    lines: tuple[InvoiceLine, ...]

    @property
    def plan_paid_cents(self) -> int:
        return sum(line.plan_paid_cents for line in self.lines)

    @property
    def purse_paid_cents(self) -> int:
        return sum(line.purse_paid_cents for line in self.lines)

    @property
    def admin_fee_cents(self) -> int:
        return sum(line.admin_fee_cents for line in self.lines)

    @property
    def total_cents(self) -> int:
        return sum(line.billed_cents for line in self.lines)

    def entry(self) -> JournalEntry:
        """Receivable against the plans' cost, the sponsor's purse funding and fee income."""
        by_plan: dict[str, int] = {}
        for line in self.lines:
            by_plan[line.plan_id] = by_plan.get(line.plan_id, 0) + line.plan_paid_cents
        amounts = [(plan_account(plan), paid) for plan, paid in sorted(by_plan.items())]
        amounts += [
            (employer_funding_account(self.sponsor_id), self.purse_paid_cents),
            (ADMIN_FEE_INCOME, self.admin_fee_cents),
            (sponsor_receivable_account(self.sponsor_id), -self.total_cents),
        ]
        return entry_from_amounts(amounts)


def admin_fee(kind: LineKind, *, plan_sponsor: bool, fee_cents: int) -> int:
    """The admin fee of a line: charged to the plan's sponsor on each paid claim (also one the
    member paid in full), refunded on its reversal; nothing on a line that only bills a purse's
    funder."""
    if not plan_sponsor:
        return 0
    return -fee_cents if kind is LineKind.REVERSAL else fee_cents


@dataclass(frozen=True, slots=True)
class Receipt:
    """A sponsor payment: against an invoice, or (empty ``invoice_id``) a deposit."""

    sponsor_id: str
    invoice_id: str
    amount_cents: int
    received_on: dt.date
    reference: str  # the payment's trace: what the bank's confirmation carries

    def entry(self) -> JournalEntry:
        if self.amount_cents <= 0:
            msg = "a receipt is a positive amount"
            raise InvariantViolation(msg)
        return entry_from_amounts(
            [
                (sponsor_receivable_account(self.sponsor_id), self.amount_cents),
                (receipt_clearing_account(self.sponsor_id), -self.amount_cents),
            ]
        )


def below_threshold(balance_cents: int, threshold_cents: int) -> bool:
    """A pre-funded sponsor's deposit is low: an alert (claims keep paying)."""
    return balance_cents < threshold_cents

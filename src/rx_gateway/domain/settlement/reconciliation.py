"""Matching the bank's confirmations to what the ledger expects, and the exceptions.

Outgoing EFTs are matched to remittances by their trace (the 835's TRN02, which the CCD+ addenda
carries back), incoming credits to recorded sponsor receipts by the receipt's reference. A match
needs the same amount; a matched item clears its clearing account:
    remittance   remittance_clearing:P −amount, bank:operating +amount
    receipt      receipt_clearing:S +amount, bank:operating −amount
Nothing else is ever edited: an exception is reported with its type, and a closed cycle stays as
it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rx_gateway.domain.ledger import JournalEntry, entry_from_amounts
from rx_gateway.domain.settlement.invoices import receipt_clearing_account
from rx_gateway.domain.settlement.remittance import remittance_clearing_account

BANK_ACCOUNT = "bank:operating"
UNCONFIRMED_AFTER_DAYS = 21  # VistA warns on pharmacy EFTs with no 835 match after 21 days


class Direction(StrEnum):
    OUT = "debit"  # money left the processor's account (an EFT to a payee)
    IN = "credit"  # money arrived (a sponsor's payment)


class ExpectedKind(StrEnum):
    REMITTANCE = "remittance"
    RECEIPT = "receipt"


@dataclass(frozen=True, slots=True)
class BankLine:
    line_number: int
    direction: Direction
    trace: str
    amount_cents: int
    posted_on: dt.date


@dataclass(frozen=True, slots=True)
class Expected:
    """A payment the ledger expects the bank to confirm."""

    kind: ExpectedKind
    trace: str
    party_id: str  # payee or sponsor
    reference_id: str  # remittance ID or receipt ID
    amount_cents: int
    expected_on: dt.date  # the pay date, or the day the receipt was recorded

    @property
    def direction(self) -> Direction:
        return Direction.OUT if self.kind is ExpectedKind.REMITTANCE else Direction.IN

    def entry(self) -> JournalEntry:
        if self.kind is ExpectedKind.REMITTANCE:
            amounts = [
                (remittance_clearing_account(self.party_id), -self.amount_cents),
                (BANK_ACCOUNT, self.amount_cents),
            ]
        else:
            amounts = [
                (receipt_clearing_account(self.party_id), self.amount_cents),
                (BANK_ACCOUNT, -self.amount_cents),
            ]
        return entry_from_amounts(amounts)


class ExceptionKind(StrEnum):
    AMOUNT_DIFFERS = "amount_differs"
    DATE_DIFFERS = "date_differs"
    UNKNOWN_TRACE = "unknown_trace"
    DUPLICATE_TRACE = "duplicate_trace"
    UNCONFIRMED_REMITTANCE = "unconfirmed_remittance"
    INVOICE_PAST_DUE = "invoice_past_due"
    OVERPAID = "overpaid"


@dataclass(frozen=True, slots=True)
class ReconciliationException:
    kind: ExceptionKind
    reference: str  # the trace, remittance or invoice concerned
    detail: str
    amount_cents: int = 0


@dataclass(frozen=True, slots=True)
class Match:
    bank_line: BankLine
    expected: Expected


@dataclass(frozen=True, slots=True)
class InvoiceStanding:
    """An invoice's billed total and what was received against it, for the sponsor checks."""

    invoice_id: str
    sponsor_id: str
    due_on: dt.date
    billed_cents: int
    received_cents: int


def match_bank_lines(
    lines: tuple[BankLine, ...],
    open_items: tuple[Expected, ...],
    confirmed_traces: frozenset[tuple[Direction, str]],
) -> tuple[tuple[Match, ...], tuple[ReconciliationException, ...]]:
    """Each bank line to the open item of its direction and trace, when the amounts agree.
    A trace confirmed before (or twice in the file) is a duplicate, never a second match."""
    by_trace = {(item.direction, item.trace): item for item in open_items}
    seen: set[tuple[Direction, str]] = set(confirmed_traces)
    matches: list[Match] = []
    problems: list[ReconciliationException] = []
    for line in lines:
        key = (line.direction, line.trace)
        where = f"bank line {line.line_number}"
        if key in seen:
            problems.append(
                ReconciliationException(
                    ExceptionKind.DUPLICATE_TRACE,
                    line.trace,
                    f"{where}: trace already confirmed",
                    line.amount_cents,
                )
            )
            continue
        item = by_trace.get(key)
        if item is None:
            problems.append(
                ReconciliationException(
                    ExceptionKind.UNKNOWN_TRACE,
                    line.trace,
                    f"{where}: no {line.direction.value} of ours carries this trace",
                    line.amount_cents,
                )
            )
            continue
        if item.amount_cents != line.amount_cents:
            problems.append(
                ReconciliationException(
                    ExceptionKind.AMOUNT_DIFFERS,
                    line.trace,
                    f"{where}: the bank says {line.amount_cents} cents, "
                    f"{item.kind.value} {item.reference_id} says {item.amount_cents}",
                    line.amount_cents - item.amount_cents,
                )
            )
            continue
        if item.direction is Direction.OUT and line.posted_on != item.expected_on:
            # CORE 370: the payment's effective entry date is the 835's BPR16
            problems.append(
                ReconciliationException(
                    ExceptionKind.DATE_DIFFERS,
                    line.trace,
                    f"{where}: the bank posted it on {line.posted_on}, "
                    f"{item.kind.value} {item.reference_id} pays on {item.expected_on} (BPR16)",
                    line.amount_cents,
                )
            )
            continue
        seen.add(key)
        matches.append(Match(line, item))
    return tuple(matches), tuple(problems)


def apply_deposits(
    invoices: tuple[InvoiceStanding, ...], deposits: dict[str, int]
) -> tuple[InvoiceStanding, ...]:
    """A sponsor's credit invoices (its reversals outweighed its claims: money it is owed) and
    then its deposits (payments that name no invoice: a pre-funded account) pay its invoices,
    the one due first first, as far as they go; a credit used so is settled by as much."""
    by_due = sorted(invoices, key=lambda i: (i.due_on, i.invoice_id))
    # each sponsor's credits, due first first: [credit invoice, what is left of it]
    credits: dict[str, list[list[Any]]] = {}
    for i in by_due:
        if i.billed_cents < 0 and i.billed_cents - i.received_cents < 0:
            credits.setdefault(i.sponsor_id, []).append(
                [i.invoice_id, i.received_cents - i.billed_cents]
            )
    cash = dict(deposits)
    paid: dict[str, int] = {}

    def settle(invoice_id: str, cents: int) -> None:
        paid[invoice_id] = paid.get(invoice_id, 0) + cents

    for invoice in by_due:
        owed = invoice.billed_cents - invoice.received_cents
        for credit in credits.get(invoice.sponsor_id, ()):
            take = min(owed, credit[1])
            if take > 0:
                credit[1] -= take
                owed -= take
                settle(invoice.invoice_id, take)
                settle(credit[0], -take)
        take = min(owed, cash.get(invoice.sponsor_id, 0))
        if take > 0:
            cash[invoice.sponsor_id] -= take
            settle(invoice.invoice_id, take)
    return tuple(
        InvoiceStanding(
            i.invoice_id,
            i.sponsor_id,
            i.due_on,
            i.billed_cents,
            i.received_cents + paid.get(i.invoice_id, 0),
        )
        for i in invoices
    )


def standing_exceptions(
    open_items: tuple[Expected, ...],
    invoices: tuple[InvoiceStanding, ...],
    as_of: dt.date,
    unconfirmed_after_days: int = UNCONFIRMED_AFTER_DAYS,
) -> tuple[ReconciliationException, ...]:
    """What is still wrong after matching: remittances the bank has not confirmed N days after
    their pay date, invoices unpaid past their due date, invoices paid more than billed."""
    problems = [
        ReconciliationException(
            ExceptionKind.UNCONFIRMED_REMITTANCE,
            item.reference_id,
            f"paid {item.expected_on:%Y-%m-%d}, no bank confirmation after "
            f"{(as_of - item.expected_on).days} days (trace {item.trace})",
            item.amount_cents,
        )
        for item in open_items
        if item.kind is ExpectedKind.REMITTANCE
        and (as_of - item.expected_on).days > unconfirmed_after_days
    ]
    for invoice in invoices:
        outstanding = invoice.billed_cents - invoice.received_cents
        if outstanding > 0 and invoice.due_on < as_of:
            problems.append(
                ReconciliationException(
                    ExceptionKind.INVOICE_PAST_DUE,
                    invoice.invoice_id,
                    f"due {invoice.due_on:%Y-%m-%d}, {outstanding} cents unpaid",
                    outstanding,
                )
            )
        elif outstanding < 0 and invoice.billed_cents >= 0:
            problems.append(
                ReconciliationException(
                    ExceptionKind.OVERPAID,
                    invoice.invoice_id,
                    f"received {invoice.received_cents} cents against {invoice.billed_cents}",
                    -outstanding,
                )
            )
    return tuple(problems)

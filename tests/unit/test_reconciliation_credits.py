"""A sponsor's credit invoice (its reversals outweighed its claims) is money the sponsor is
owed: it pays the sponsor's other invoices as a deposit does, so what is past due is what the
sponsor really owes."""

from __future__ import annotations

import datetime as dt

from rx_gateway.domain.settlement.reconciliation import (
    ExceptionKind,
    InvoiceStanding,
    apply_deposits,
    standing_exceptions,
)

D = dt.date


def test_a_credit_invoice_pays_the_sponsors_other_invoices() -> None:
    """Billed 1,333.51, then a credit of 295.16, and a 1,000.00 deposit: 38.35 is owed, and
    that is what is past due (it said 333.51)."""
    invoices = (
        InvoiceStanding("I1", "EMP2", D(2026, 12, 6), 133_351, 0),
        InvoiceStanding("I2", "EMP2", D(2026, 12, 13), -29_516, 0),
        InvoiceStanding("I3", "EMP1", D(2026, 12, 6), 5_000, 0),
    )
    after = apply_deposits(invoices, {"EMP2": 100_000})
    outstanding = {i.invoice_id: i.billed_cents - i.received_cents for i in after}
    assert outstanding == {"I1": 3_835, "I2": 0, "I3": 5_000}
    problems = standing_exceptions((), after, D(2026, 12, 23))
    assert sorted((p.kind, p.reference, p.amount_cents) for p in problems) == [
        (ExceptionKind.INVOICE_PAST_DUE, "I1", 3_835),
        (ExceptionKind.INVOICE_PAST_DUE, "I3", 5_000),
    ]


def test_a_credit_larger_than_what_is_owed_stays_a_credit() -> None:
    invoices = (
        InvoiceStanding("I1", "EMP2", D(2026, 12, 6), 1_000, 0),
        InvoiceStanding("I2", "EMP2", D(2026, 12, 13), -5_000, 0),
    )
    after = apply_deposits(invoices, {})
    outstanding = {i.invoice_id: i.billed_cents - i.received_cents for i in after}
    assert outstanding == {"I1": 0, "I2": -4_000}  # 40.00 still owed to the sponsor
    assert standing_exceptions((), after, D(2026, 12, 23)) == ()

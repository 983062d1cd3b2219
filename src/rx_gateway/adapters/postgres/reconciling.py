"""Money in and money confirmed on PostgreSQL: sponsor payments, the bank's confirmations,
and the balances an operator asks about. Each file is applied in one transaction, once: its
digest is recorded, and the same content again changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rx_gateway.adapters.postgres.billing import raise_low_balance_alerts
from rx_gateway.adapters.postgres.settlement_ledger import (
    lock_settlement,
    post_entry,
    read_sponsors,
    settlement_balances,
)
from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.domain.settlement.invoices import Receipt
from rx_gateway.domain.settlement.reconciliation import (
    BankLine,
    Direction,
    Expected,
    ExpectedKind,
    InvoiceStanding,
    Match,
    ReconciliationException,
    apply_deposits,
    match_bank_lines,
    standing_exceptions,
)
from rx_gateway.service_layer.settlement import Applied, PayeeBalance, SponsorBalance


async def _already(conn: Any, digest: str) -> dt.datetime | None:
    value: dt.datetime | None = await conn.fetchval(
        "SELECT applied_at FROM settlement_file WHERE digest = $1", digest
    )
    return value


async def record_receipts(
    conn: Any, path: str, digest: str, receipts: list[tuple[int, Receipt]]
) -> Applied:
    """Sponsor payments, each as sent (partial and over-payments are kept as they are);
    a line naming an unknown sponsor or invoice, or repeating a reference, refuses the file."""
    async with conn.transaction():
        await lock_settlement(conn)
        previously = await _already(conn, digest)
        if previously is not None:
            return Applied(0, previously)
        sponsors = await read_sponsors(conn)
        invoices = {
            r["invoice_id"]: r["sponsor_id"]
            for r in await conn.fetch(
                "SELECT invoice_id, sponsor_id FROM invoice WHERE invoice_id = ANY($1::text[])",
                sorted({r.invoice_id for _, r in receipts if r.invoice_id}),
            )
        }
        seen: dict[str, int] = {}  # a reference names one payment, whoever sent it
        for line, receipt in receipts:
            if not 0 < receipt.amount_cents <= RECEIPT_CENTS_MAX:
                raise ReferenceDataError(
                    path, line, "amount_cents", f"must be 1 to {RECEIPT_CENTS_MAX} cents"
                )
            if receipt.sponsor_id not in sponsors:
                raise ReferenceDataError(
                    path, line, "sponsor_id", f"unknown sponsor {receipt.sponsor_id!r}"
                )
            if receipt.invoice_id and invoices.get(receipt.invoice_id) != receipt.sponsor_id:
                raise ReferenceDataError(
                    path,
                    line,
                    "invoice_id",
                    f"no invoice {receipt.invoice_id!r} of sponsor {receipt.sponsor_id!r}",
                )
            if receipt.reference in seen:
                raise ReferenceDataError(
                    path,
                    line,
                    "reference",
                    f"repeats line {seen[receipt.reference]} of this file: a reference names"
                    " one payment (the bank's confirmation carries it)",
                )
            seen[receipt.reference] = line
        taken = await conn.fetch(
            "SELECT reference, sponsor_id, file_digest FROM sponsor_receipt"
            " WHERE reference = ANY($1::text[])",
            list(seen),
        )
        if taken:
            first = taken[0]
            raise ReferenceDataError(
                path,
                seen[first["reference"]],
                "reference",
                f"already names a payment of {first['sponsor_id']} recorded from another file:"
                " a reference names one payment",
            )
        await conn.execute(
            "INSERT INTO settlement_file (digest, kind, name, line_count)"
            " VALUES ($1, 'funding', $2, $3)",
            digest,
            path,
            len(receipts),
        )
        for line, receipt in receipts:
            entry_id = await post_entry(
                conn, "receipt", f"{receipt.sponsor_id}/{receipt.reference}", receipt.entry()
            )
            await conn.execute(
                "INSERT INTO sponsor_receipt (sponsor_id, invoice_id, amount_cents, received_on,"
                " reference, file_digest, line_number, entry_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                receipt.sponsor_id,
                receipt.invoice_id or None,
                receipt.amount_cents,
                receipt.received_on,
                receipt.reference,
                digest,
                line,
                entry_id,
            )
        await raise_low_balance_alerts(conn, sponsors, sorted({r.sponsor_id for _, r in receipts}))
        return Applied(len(receipts))


OPEN_ITEMS_SQL = """
SELECT 'remittance' AS kind, r.trace_number AS trace, r.payee_id AS party_id,
       r.cycle_id || '/' || r.payee_id AS reference_id, r.payment_cents AS amount_cents,
       r.pay_date AS expected_on
FROM remittance r
WHERE r.payment_cents > 0 AND NOT EXISTS (
    SELECT 1 FROM bank_match b WHERE b.direction = 'debit' AND b.trace = r.trace_number)
UNION ALL
SELECT 'receipt', s.reference, s.sponsor_id, s.receipt_id::text, s.amount_cents, s.received_on
FROM sponsor_receipt s
WHERE NOT EXISTS (
    SELECT 1 FROM bank_match b WHERE b.direction = 'credit' AND b.trace = s.reference)
"""

RECEIPT_CENTS_MAX = 1_000_000_000_000  # $10 billion (a CHECK in the database too)
DEPOSITS_SQL = (
    "SELECT sponsor_id, sum(amount_cents) AS deposits FROM sponsor_receipt"
    " WHERE invoice_id IS NULL GROUP BY 1"
)


async def invoice_standing(conn: Any) -> tuple[InvoiceStanding, ...]:
    """Every invoice with what was received against it: the payments that name it, then the
    sponsor's deposits, oldest invoice first."""
    named = tuple(InvoiceStanding(**dict(r)) for r in await conn.fetch(STANDING_SQL))
    deposits = {r["sponsor_id"]: int(r["deposits"]) for r in await conn.fetch(DEPOSITS_SQL)}
    return apply_deposits(named, deposits)


STANDING_SQL = """
SELECT i.invoice_id, i.sponsor_id, i.due_on, i.total_cents AS billed_cents,
       coalesce((SELECT sum(amount_cents) FROM sponsor_receipt s
                 WHERE s.invoice_id = i.invoice_id), 0)::bigint AS received_cents
FROM invoice i ORDER BY i.invoice_id
"""


async def open_items(conn: Any) -> tuple[Expected, ...]:
    return tuple(
        Expected(
            kind=ExpectedKind(r["kind"]),
            trace=r["trace"],
            party_id=r["party_id"],
            reference_id=r["reference_id"],
            amount_cents=r["amount_cents"],
            expected_on=r["expected_on"],
        )
        for r in await conn.fetch(OPEN_ITEMS_SQL)
    )


async def reconcile(
    conn: Any,
    path: str,
    digest: str,
    lines: tuple[BankLine, ...],
    *,
    as_of: dt.date,
    unconfirmed_after_days: int,
) -> tuple[Applied, tuple[Match, ...], tuple[ReconciliationException, ...]]:
    """Match the bank's lines, clear what matched, and report every exception (those of this
    file, and what is still open: unconfirmed remittances, unpaid or overpaid invoices).
    The same file again records nothing new; its lines that matched nothing then are matched
    again (the cause fixed since: a deposit recorded, a cycle closed), the others stay."""
    async with conn.transaction():
        await lock_settlement(conn)
        previously = await _already(conn, digest)
        confirmed = frozenset(
            (Direction(r["direction"]), r["trace"])
            for r in await conn.fetch("SELECT direction, trace FROM bank_match")
        )
        pending = lines
        if previously is not None:
            matched_before = {
                r["line_number"]
                for r in await conn.fetch(
                    "SELECT line_number FROM bank_match WHERE file_digest = $1", digest
                )
            }
            pending = tuple(b for b in lines if b.line_number not in matched_before)
        matches, problems = match_bank_lines(pending, await open_items(conn), confirmed)
        if previously is None:
            await conn.execute(
                "INSERT INTO settlement_file (digest, kind, name, line_count)"
                " VALUES ($1, 'bank', $2, $3)",
                digest,
                path,
                len(lines),
            )
            await conn.executemany(
                "INSERT INTO bank_line (file_digest, line_number, direction, trace, amount_cents,"
                " posted_on) VALUES ($1, $2, $3, $4, $5, $6)",
                [
                    (digest, b.line_number, b.direction.value, b.trace, b.amount_cents, b.posted_on)
                    for b in lines
                ],
            )
        for match in matches:
            item = match.expected
            entry_id = await post_entry(
                conn, "bank", f"{item.kind.value}/{item.reference_id}", item.entry()
            )
            await conn.execute(
                "INSERT INTO bank_match (direction, trace, kind, reference_id, amount_cents,"
                " file_digest, line_number, entry_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                item.direction.value,
                item.trace,
                item.kind.value,
                item.reference_id,
                item.amount_cents,
                digest,
                match.bank_line.line_number,
                entry_id,
            )
        standing = await invoice_standing(conn)
        problems += standing_exceptions(
            await open_items(conn), standing, as_of, unconfirmed_after_days
        )
        return Applied(len(lines), previously), matches, problems


ACCRUED_SQL = """
SELECT coalesce(ph.payee_id, e.service_provider_id) AS payee_id, sum(e.amount) AS accrued
FROM (
    SELECT c.service_provider_id,
           (c.response->'pricing'->>'total_amount_paid_cents')::bigint AS amount
    FROM claim c
    WHERE NOT EXISTS (SELECT 1 FROM remittance_item r WHERE r.family_id = c.family_id
                      AND r.claim_id = c.claim_id AND r.kind = 'paid')
    UNION ALL
    SELECT c.service_provider_id, -(c.response->'pricing'->>'total_amount_paid_cents')::bigint
    FROM claim_reversal cr JOIN claim c ON c.family_id = cr.family_id AND c.claim_id = cr.claim_id
    WHERE NOT EXISTS (SELECT 1 FROM remittance_item r WHERE r.family_id = cr.family_id
                      AND r.claim_id = cr.claim_id AND r.kind = 'reversal')
) e LEFT JOIN pharmacy ph ON ph.npi = e.service_provider_id
GROUP BY 1
"""


async def payee_balances(conn: Any, next_pay: dt.date | None) -> tuple[PayeeBalance, ...]:
    accrued = {r["payee_id"]: int(r["accrued"]) for r in await conn.fetch(ACCRUED_SQL)}
    unconfirmed: dict[str, int] = {}
    for item in await open_items(conn):
        if item.kind is ExpectedKind.REMITTANCE:
            unconfirmed[item.party_id] = unconfirmed.get(item.party_id, 0) + item.amount_cents
    carried = {k: -v for k, v in (await settlement_balances(conn, "payee_carry:")).items() if v}
    payees = sorted(set(accrued) | set(unconfirmed) | set(carried))
    return tuple(
        PayeeBalance(p, accrued.get(p, 0), unconfirmed.get(p, 0), carried.get(p, 0), next_pay)
        for p in payees
    )


UNBILLED_SQL = """
WITH events AS (
    SELECT c.family_id, c.claim_id, 'paid'::text AS kind, 1 AS sign FROM claim c
    UNION ALL
    SELECT cr.family_id, cr.claim_id, 'reversal', -1 FROM claim_reversal cr
), sponsors_of_plans AS (
    SELECT * FROM unnest($1::text[], $2::text[]) AS s(plan_id, sponsor)
), parts AS (
    SELECT e.family_id, e.claim_id, e.kind,
           CASE WHEN sp.sponsor = 'employer'  -- the family's employer when the claim was written
                THEN rx_employer_at(c.family_id, c.created_at, f.employer_id)
                ELSE sp.sponsor END AS sponsor_id,
           e.sign * (c.response->'pricing'->>'plan_paid_cents')::bigint AS amount
    FROM events e
    JOIN claim c ON c.family_id = e.family_id AND c.claim_id = e.claim_id
    JOIN family f ON f.family_id = e.family_id
    JOIN sponsors_of_plans sp ON sp.plan_id = c.plan_id
    UNION ALL
    SELECT e.family_id, e.claim_id, e.kind, p.employer_id, e.sign * s.paid_cents
    FROM events e
    JOIN claim_purse_spend s ON s.family_id = e.family_id AND s.claim_id = e.claim_id
    JOIN purse p ON p.family_id = s.family_id AND p.purse_id = s.purse_id
)
SELECT sponsor_id, sum(amount) AS unbilled FROM parts pt
WHERE NOT EXISTS (SELECT 1 FROM invoice_item i WHERE i.family_id = pt.family_id
                  AND i.claim_id = pt.claim_id AND i.kind = pt.kind
                  AND i.sponsor_id = pt.sponsor_id)
GROUP BY 1
"""


async def sponsor_balances(
    conn: Any, as_of: dt.date, sponsor_of_plan: dict[str, str]
) -> tuple[SponsorBalance, ...]:
    sponsors = await read_sponsors(conn)
    standing = await invoice_standing(conn)
    billed: dict[str, int] = {}
    overdue: dict[str, int] = {}
    for invoice in standing:
        billed[invoice.sponsor_id] = billed.get(invoice.sponsor_id, 0) + invoice.billed_cents
        if invoice.due_on < as_of and invoice.billed_cents > invoice.received_cents:
            overdue[invoice.sponsor_id] = (
                overdue.get(invoice.sponsor_id, 0) + invoice.billed_cents - invoice.received_cents
            )
    received = {
        r["sponsor_id"]: int(r["received"])
        for r in await conn.fetch(
            "SELECT sponsor_id, sum(amount_cents) AS received FROM sponsor_receipt GROUP BY 1"
        )
    }
    receivable = await settlement_balances(conn, "sponsor_receivable:")
    plans = sorted(sponsor_of_plan)
    unbilled = {
        r["sponsor_id"]: int(r["unbilled"])
        for r in await conn.fetch(UNBILLED_SQL, plans, [sponsor_of_plan[p] for p in plans])
    }
    return tuple(
        SponsorBalance(
            sponsor_id=s.sponsor_id,
            funding_model=s.funding_model.value,
            billed_cents=billed.get(s.sponsor_id, 0),
            received_cents=received.get(s.sponsor_id, 0),
            overdue_cents=overdue.get(s.sponsor_id, 0),
            deposit_cents=max(0, receivable.get(s.sponsor_id, 0)),
            unbilled_cents=unbilled.get(s.sponsor_id, 0),
        )
        for s in sponsors.values()
    )

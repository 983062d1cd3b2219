"""Billing sponsors on PostgreSQL: closing a billing cycle (one transaction, set-based, like a
pay cycle), recording sponsor payments, and the low-balance alerts of pre-funded sponsors.

A claim is billed to its plan's sponsor (plan paid, and the admin fee) and to each purse funder
whose purse paid part of it (purse paid); a sponsor that is both gets one line. The
invoice_item primary key (claim, kind, sponsor) is the promise that nothing is billed twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from rx_gateway.adapters.postgres.pay_cycles import collection_low
from rx_gateway.adapters.postgres.settlement_ledger import (
    audit_close,
    collect,
    lock_settlement,
    post_entry,
    read_sponsors,
    settlement_balances,
)
from rx_gateway.domain.settlement.cycles import cutoff_instant
from rx_gateway.domain.settlement.documents import invoice_csv, invoice_document
from rx_gateway.domain.settlement.invoices import Invoice, InvoiceLine, below_threshold
from rx_gateway.domain.settlement.parties import FundingModel, Sponsor
from rx_gateway.domain.settlement.remittance import LineKind
from rx_gateway.service_layer.settlement import BillingCycle, InvoiceFile

ALERT_CHANNEL = "rx_gateway_alerts"

# Every claim generation and reversal received in the window, once per sponsor billed for it:
# the plan's sponsor ($5: plan_id -> sponsor or 'employer', as two arrays) for plan paid and the
# fee, each purse's funder for what the purse paid. Only sponsors on this schedule ($4).
COLLECT_SQL = """
WITH events AS (
    SELECT c.family_id, c.claim_id, 'paid'::text AS kind, 1 AS sign, c.created_at AS received_at
    FROM claim c
    WHERE c.created_at < $2 AND c.created_at >= $3
    UNION ALL
    SELECT cr.family_id, cr.claim_id, 'reversal', -1, cr.created_at
    FROM claim_reversal cr
    WHERE cr.created_at < $2 AND cr.created_at >= $3
), sponsors_of_plans AS (
    SELECT * FROM unnest($5::text[], $6::text[]) AS s(plan_id, sponsor)
), parts AS (
    SELECT e.family_id, e.claim_id, e.kind,
           CASE WHEN sp.sponsor = 'employer'  -- the family's employer when the claim was written
                THEN rx_employer_at(c.family_id, c.created_at, f.employer_id)
                ELSE sp.sponsor END AS sponsor_id,
           e.sign * (c.response->'pricing'->>'plan_paid_cents')::bigint AS plan_paid,
           0::bigint AS purse_paid, true AS plan_sponsor
    FROM events e
    JOIN claim c ON c.family_id = e.family_id AND c.claim_id = e.claim_id
    JOIN family f ON f.family_id = e.family_id
    JOIN sponsors_of_plans sp ON sp.plan_id = c.plan_id
    UNION ALL
    SELECT e.family_id, e.claim_id, e.kind, p.employer_id, 0, e.sign * s.paid_cents, false
    FROM events e
    JOIN claim_purse_spend s ON s.family_id = e.family_id AND s.claim_id = e.claim_id
    JOIN purse p ON p.family_id = s.family_id AND p.purse_id = s.purse_id
), lines AS (
    SELECT family_id, claim_id, kind, sponsor_id, sum(plan_paid) AS plan_paid,
           sum(purse_paid) AS purse_paid, bool_or(plan_sponsor) AS plan_sponsor
    FROM parts GROUP BY 1, 2, 3, 4
), billed AS (  -- a claim whose payment is already on an invoice
    SELECT DISTINCT i.family_id, i.claim_id FROM invoice_item i
    JOIN events e ON e.family_id = i.family_id AND e.claim_id = i.claim_id
    WHERE i.kind = 'paid' AND e.kind = 'reversal'
), items AS (
    -- as the claim reads today: payments, and reversals of payments not yet billed
    SELECT l.family_id, l.claim_id, l.kind, l.sponsor_id, l.plan_paid, l.purse_paid,
           CASE WHEN NOT l.plan_sponsor THEN 0
                WHEN l.kind = 'reversal' THEN -s.admin_fee_cents ELSE s.admin_fee_cents END
               AS admin_fee,
           l.plan_sponsor
    FROM lines l JOIN sponsor s ON s.sponsor_id = l.sponsor_id
    WHERE NOT (l.kind = 'reversal' AND EXISTS (SELECT 1 FROM billed b
               WHERE b.family_id = l.family_id AND b.claim_id = l.claim_id))
    UNION ALL
    -- the reversal of a billed payment credits exactly what was billed, to whom it was billed
    -- (its fee then, its sponsor then: a fee or a plan's sponsor changed since changes nothing)
    SELECT i.family_id, i.claim_id, 'reversal', i.sponsor_id, -i.plan_paid_cents,
           -i.purse_paid_cents, -i.admin_fee_cents, i.plan_sponsor
    FROM invoice_item i JOIN billed b ON b.family_id = i.family_id AND b.claim_id = i.claim_id
    WHERE i.kind = 'paid'
)
INSERT INTO invoice_item (family_id, claim_id, kind, sponsor_id, invoice_id, plan_paid_cents,
                          purse_paid_cents, admin_fee_cents, plan_sponsor)
SELECT t.family_id, t.claim_id, t.kind, t.sponsor_id, $1 || '-' || t.sponsor_id, t.plan_paid,
       t.purse_paid, t.admin_fee, t.plan_sponsor
FROM items t
WHERE t.sponsor_id = ANY($4::text[])
  -- billed once: to this sponsor, or (the plan's payment) to any sponsor, even one the plan
  -- had before its sponsor changed
  AND NOT EXISTS (SELECT 1 FROM invoice_item i WHERE i.family_id = t.family_id
                  AND i.claim_id = t.claim_id AND i.kind = t.kind
                  AND (i.sponsor_id = t.sponsor_id OR (i.plan_sponsor AND t.plan_sponsor)))
"""

LINES_SQL = """
SELECT i.sponsor_id, i.kind, i.plan_paid_cents, i.purse_paid_cents, i.admin_fee_cents,
       c.response->>'internal_control_number' AS icn,
       c.authorization_number, c.date_of_service, c.service_provider_id, c.plan_id, c.member_id,
       c.product_id, c.quantity_thousandths, c.days_supply,
       coalesce(cr.created_at, c.created_at) AS received_at
FROM invoice_item i
JOIN claim c ON c.family_id = i.family_id AND c.claim_id = i.claim_id
LEFT JOIN claim_reversal cr ON i.kind = 'reversal' AND cr.family_id = i.family_id
     AND cr.claim_id = i.claim_id
WHERE i.invoice_id = ANY($1::text[])
ORDER BY i.sponsor_id, received_at, i.claim_id, i.kind
"""


def _line(row: Any) -> InvoiceLine:
    return InvoiceLine(
        kind=LineKind(row["kind"]),
        internal_control_number=row["icn"],
        authorization_number=row["authorization_number"],
        date_of_service=row["date_of_service"],
        received_on=row["received_at"].astimezone(dt.UTC).date(),
        service_provider_id=row["service_provider_id"],
        plan_id=row["plan_id"],
        member_id=row["member_id"],
        product_id=row["product_id"],
        quantity_thousandths=row["quantity_thousandths"],
        days_supply=row["days_supply"],
        plan_paid_cents=row["plan_paid_cents"],
        purse_paid_cents=row["purse_paid_cents"],
        admin_fee_cents=row["admin_fee_cents"],
    )


async def stored_invoices(conn: Any, cycle: str) -> tuple[InvoiceFile, ...]:
    rows = await conn.fetch(
        "SELECT invoice_id, sponsor_id, cycle_id, due_on, line_count, total_cents, csv,"
        " document FROM invoice WHERE cycle_id = $1 ORDER BY sponsor_id",
        cycle,
    )
    return tuple(InvoiceFile(**dict(r)) for r in rows)


async def close_billing_cycle(
    conn: Any, cycle: BillingCycle, *, at: dt.datetime, actor: str = "settlement"
) -> tuple[bool, tuple[InvoiceFile, ...]] | None:
    """Close ``cycle`` (or return what it holds when it is closed): (closed now, invoices);
    closed now, with an audit row naming ``actor``."""
    async with conn.transaction():
        await lock_settlement(conn)
        if await conn.fetchval("SELECT 1 FROM billing_cycle WHERE cycle_id = $1", cycle.cycle_id):
            return False, await stored_invoices(conn, cycle.cycle_id)
        schedule = cycle.schedule
        low = await collection_low(conn, "billing_cycle", schedule.key, cycle.period_end)
        if low is None:
            return None
        cutoff = min(cutoff_instant(cycle.period_end), at)
        await conn.execute(
            "INSERT INTO billing_cycle (cycle_id, schedule_key, period_start, period_end,"
            " cutoff_at) VALUES ($1, $2, $3, $4, $5)",
            cycle.cycle_id,
            schedule.key,
            schedule.period_start(cycle.period_end),
            cycle.period_end,
            cutoff,
        )
        await conn.execute("SET CONSTRAINTS invoice_item_invoice_id_fkey DEFERRED")
        plans = sorted(cycle.sponsor_of_plan)
        await collect(
            conn,
            COLLECT_SQL,
            cycle.cycle_id,
            cutoff,
            low,
            list(cycle.sponsor_ids),
            plans,
            [cycle.sponsor_of_plan[p] for p in plans],
        )
        by_sponsor: dict[str, list[InvoiceLine]] = {}
        invoice_ids = [f"{cycle.cycle_id}-{s}" for s in cycle.sponsor_ids]
        for row in await conn.fetch(LINES_SQL, invoice_ids):
            by_sponsor.setdefault(row["sponsor_id"], []).append(_line(row))
        sponsors = await read_sponsors(conn)
        for sponsor_id, lines in sorted(by_sponsor.items()):
            invoice = Invoice(
                invoice_id=f"{cycle.cycle_id}-{sponsor_id}",
                sponsor_id=sponsor_id,
                cycle_id=cycle.cycle_id,
                period_start=schedule.period_start(cycle.period_end),
                period_end=cycle.period_end,
                due_on=schedule.settles_on(cycle.period_end),
                lines=tuple(lines),
            )
            await _record_invoice(conn, invoice)
        await raise_low_balance_alerts(conn, sponsors, sorted(by_sponsor))
        await audit_close(conn, "invoice", actor, cycle.cycle_id)
        return True, await stored_invoices(conn, cycle.cycle_id)


async def _record_invoice(conn: Any, invoice: Invoice) -> None:
    entry_id = await post_entry(conn, "invoice", invoice.invoice_id, invoice.entry())
    await conn.execute(
        "INSERT INTO invoice (invoice_id, sponsor_id, cycle_id, period_start, period_end, due_on,"
        " plan_paid_cents, purse_paid_cents, admin_fee_cents, total_cents, line_count, csv,"
        " document, entry_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        invoice.invoice_id,
        invoice.sponsor_id,
        invoice.cycle_id,
        invoice.period_start,
        invoice.period_end,
        invoice.due_on,
        invoice.plan_paid_cents,
        invoice.purse_paid_cents,
        invoice.admin_fee_cents,
        invoice.total_cents,
        len(invoice.lines),
        invoice_csv(invoice),
        orjson.dumps(invoice_document(invoice), option=orjson.OPT_INDENT_2).decode(),
        entry_id,
    )


async def raise_low_balance_alerts(
    conn: Any, sponsors: dict[str, Sponsor], sponsor_ids: list[str]
) -> int:
    """A pre-funded sponsor whose deposit is below its threshold: an alert row and a NOTIFY
    on rx_gateway_alerts (claims keep paying: funding is the sponsor's obligation)."""
    balances = await settlement_balances(conn, "sponsor_receivable:")
    raised = 0
    for sponsor_id in sponsor_ids:
        sponsor = sponsors.get(sponsor_id)
        if sponsor is None or sponsor.funding_model is not FundingModel.PREFUNDED:
            continue
        balance = balances.get(sponsor_id, 0)
        if below_threshold(balance, sponsor.low_balance_threshold_cents):
            detail = (
                f"{sponsor_id}: deposit {balance} cents is below its threshold "
                f"{sponsor.low_balance_threshold_cents}: ask for a top-up"
            )
            await conn.execute(
                "INSERT INTO settlement_alert (kind, sponsor_id, balance_cents, threshold_cents,"
                " detail) VALUES ('low_balance', $1, $2, $3, $4)",
                sponsor_id,
                balance,
                sponsor.low_balance_threshold_cents,
                detail,
            )
            await conn.execute("SELECT pg_notify($1, $2)", ALERT_CHANNEL, detail)
            raised += 1
    return raised

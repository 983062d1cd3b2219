"""Closing a pharmacy pay cycle on PostgreSQL: one transaction, set-based.

1. the cycle row (its cut-off: the end of the period-end day, or now when closed early);
2. ONE INSERT .. SELECT claims every paid claim generation and every reversal of the cycle's
   plans received before the cut-off and not yet remitted (the remittance_item primary key is
   the promise that nothing is remitted twice; a claim that commits after the statement's
   snapshot is still unremitted and lands in the next cycle);
3. the lines are read back in one query and each payee's remittance is built by the domain
   (its identities checked), rendered as an 835 and JSON, and stored with its ledger entry.

Closes are serialised by an advisory lock; claims never take it, and the close only reads
claim rows, so the claim path does not wait for it. A cycle that is closed stays as it was:
closing it again returns what was stored and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from rx_gateway.adapters.postgres.settlement_ledger import (
    audit_close,
    collect,
    lock_settlement,
    post_entry,
    read_payees,
    read_payer,
    settlement_balances,
)
from rx_gateway.domain.settlement.cycles import cutoff_instant
from rx_gateway.domain.settlement.documents import remittance_document
from rx_gateway.domain.settlement.remittance import (
    LineKind,
    MemberShare,
    Patient,
    RemittanceLine,
    remit,
    transaction_fee,
)
from rx_gateway.service_layer.settlement import PayCycle, RemittanceFile
from rx_gateway.x12.envelope import Envelope
from rx_gateway.x12.remittance_835 import IMPLEMENTATION, render_835

# A claim's transaction is bounded by its deadline (seconds): one that started this long
# before a cut-off has committed by the next close. Only claims received after the previous
# cut-off less this are scanned.
LATE_COMMIT_GRACE = dt.timedelta(days=1)


async def collection_low(
    conn: Any, table: str, schedule_key: str, period_end: dt.date
) -> dt.datetime | None:
    """Where a new cycle of the schedule starts collecting: its last cut-off less the grace
    for late commits (the start of time for its first cycle). None when ``period_end`` is
    before the schedule's last closed period: never closed, and now never (later cycles took
    its claims). ``table``: pay_cycle or billing_cycle."""
    last = await conn.fetchrow(
        f"SELECT max(cutoff_at) AS cutoff, max(period_end) AS period_end FROM {table}"  # noqa: S608 - a constant
        " WHERE schedule_key = $1",
        schedule_key,
    )
    if last["period_end"] is not None and period_end < last["period_end"]:
        return None
    previous = last["cutoff"]
    return previous - LATE_COMMIT_GRACE if previous else dt.datetime.min.replace(tzinfo=dt.UTC)


COLLECT_SQL = """
INSERT INTO remittance_item (family_id, claim_id, kind, cycle_id, payee_id, service_provider_id,
                             paid_cents)
SELECT c.family_id, c.claim_id, 'paid', $1, coalesce(ph.payee_id, c.service_provider_id),
       c.service_provider_id, (c.response->'pricing'->>'total_amount_paid_cents')::bigint
FROM claim c LEFT JOIN pharmacy ph ON ph.npi = c.service_provider_id
WHERE c.plan_id = ANY($2::text[]) AND c.created_at < $3 AND c.created_at >= $4
  AND NOT EXISTS (SELECT 1 FROM remittance_item r
                  WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id AND r.kind = 'paid')
UNION ALL
SELECT c.family_id, c.claim_id, 'reversal', $1, coalesce(ph.payee_id, c.service_provider_id),
       c.service_provider_id, -(c.response->'pricing'->>'total_amount_paid_cents')::bigint
FROM claim_reversal cr
JOIN claim c ON c.family_id = cr.family_id AND c.claim_id = cr.claim_id
LEFT JOIN pharmacy ph ON ph.npi = c.service_provider_id
WHERE c.plan_id = ANY($2::text[]) AND cr.created_at < $3 AND cr.created_at >= $4
  AND NOT EXISTS (SELECT 1 FROM remittance_item r WHERE r.family_id = cr.family_id
                  AND r.claim_id = cr.claim_id AND r.kind = 'reversal')
"""

LINES_SQL = """
SELECT r.kind, r.payee_id, r.service_provider_id, c.claim_key,
       coalesce(c.response->'compound_ingredients'->0->>0, c.product_id) AS product_id,
       c.date_of_service,
       c.quantity_thousandths, c.gross_amount_due_cents, c.plan_id,
       c.response->'pricing' AS pricing, c.response->>'internal_control_number' AS icn,
       c.response->>'prescription_reference_number' AS rx,
       coalesce(c.response->>'other_coverage_code', '0') IN ('2', '4', '8') AS secondary,
       m.first_name, m.last_name, m.cardholder_id
FROM remittance_item r
JOIN claim c ON c.family_id = r.family_id AND c.claim_id = r.claim_id
JOIN member m ON m.family_id = c.family_id AND m.member_id = c.member_id
LEFT JOIN claim_reversal cr ON r.kind = 'reversal' AND cr.family_id = r.family_id
     AND cr.claim_id = r.claim_id
WHERE r.cycle_id = $1
ORDER BY r.payee_id, coalesce(cr.created_at, c.created_at), r.claim_id, r.kind
"""


def _share(pricing: dict[str, Any]) -> MemberShare:
    def cents(name: str) -> int:
        return int(pricing.get(name) or 0)

    return MemberShare(
        deductible_cents=cents("amount_applied_to_periodic_deductible_cents"),
        coinsurance_cents=cents("amount_of_coinsurance_cents"),
        copay_cents=cents("amount_of_copay_cents"),
        benefit_maximum_cents=cents("amount_exceeding_periodic_benefit_maximum_cents"),
        network_cents=cents("amount_attributed_to_provider_network_selection_cents"),
        product_selection_cents=cents("amount_attributed_to_product_selection_brand_cents"),
        non_preferred_cents=cents("amount_attributed_to_non_preferred_formulary_cents")
        + cents("amount_attributed_to_brand_non_preferred_formulary_cents"),
        sales_tax_cents=cents("amount_attributed_to_sales_tax_cents"),
        purse_paid_cents=-cents("health_plan_funded_assistance_amount_cents"),
    )


def line_of(row: Any, line_of_business: dict[str, str]) -> RemittanceLine:
    """A remittance line from a claim row: amounts as on the paid claim."""
    pricing = row["pricing"]
    pricing = orjson.loads(pricing) if isinstance(pricing, str) else pricing
    paid = int(pricing["total_amount_paid_cents"])
    patient_pay = int(pricing["patient_pay_amount_cents"])
    _, fill, _ = row["claim_key"].rsplit("|", 2)
    gross = row["gross_amount_due_cents"]
    return RemittanceLine(
        kind=LineKind(row["kind"]),
        internal_control_number=row["icn"],
        prescription_reference_number=row["rx"],
        fill_number=int(fill),
        service_provider_id=row["service_provider_id"],
        product_id=row["product_id"],
        date_of_service=row["date_of_service"],
        quantity_thousandths=row["quantity_thousandths"],
        # claims posted before 430-DU was kept: the charge is the allowed amount
        gross_amount_due_cents=paid + patient_pay if gross is None else gross,
        total_amount_paid_cents=paid,
        share=_share(pricing),
        plan_id=row["plan_id"],
        line_of_business=line_of_business.get(row["plan_id"], ""),
        patient=Patient(row["last_name"], row["first_name"], row["cardholder_id"]),
        prior_payer_paid_cents=int(pricing.get("other_payer_amount_recognized_cents") or 0),
        secondary=bool(row["secondary"]),
    )


def _stored(row: Any) -> RemittanceFile:
    return RemittanceFile(
        cycle_id=row["cycle_id"],
        payee_id=row["payee_id"],
        payee_name=orjson.loads(row["document"])["payee"]["name"],
        trace_number=row["trace_number"],
        pay_date=row["pay_date"],
        line_count=row["line_count"],
        claims_paid_cents=row["claims_paid_cents"],
        fee_cents=row["fee_cents"],
        payment_cents=row["payment_cents"],
        carried_out_cents=row["carried_out_cents"],
        x12=row["x12"],
        document=row["document"],
    )


async def stored_remittances(conn: Any, cycle: str) -> tuple[RemittanceFile, ...]:
    rows = await conn.fetch("SELECT * FROM remittance WHERE cycle_id = $1 ORDER BY payee_id", cycle)
    return tuple(_stored(r) for r in rows)


async def close_pay_cycle(
    conn: Any, cycle: PayCycle, *, at: dt.datetime, actor: str = "settlement"
) -> tuple[bool, tuple[RemittanceFile, ...]] | None:
    """Close ``cycle`` (or, when it is closed, return what it holds): (closed now, files);
    closed now, with an audit row naming ``actor``."""
    async with conn.transaction():
        await lock_settlement(conn)
        if await conn.fetchval("SELECT 1 FROM pay_cycle WHERE cycle_id = $1", cycle.cycle_id):
            return False, await stored_remittances(conn, cycle.cycle_id)
        schedule = cycle.schedule
        low = await collection_low(conn, "pay_cycle", schedule.key, cycle.period_end)
        if low is None:
            return None
        cutoff = min(cutoff_instant(cycle.period_end), at)
        await conn.execute(
            "INSERT INTO pay_cycle (cycle_id, schedule_key, period_start, period_end, pay_date,"
            " cutoff_at) VALUES ($1, $2, $3, $4, $5, $6)",
            cycle.cycle_id,
            schedule.key,
            schedule.period_start(cycle.period_end),
            cycle.period_end,
            schedule.settles_on(cycle.period_end),
            cutoff,
        )
        await collect(conn, COLLECT_SQL, cycle.cycle_id, list(cycle.plan_ids), cutoff, low)
        by_payee: dict[str, list[RemittanceLine]] = {}
        for row in await conn.fetch(LINES_SQL, cycle.cycle_id):
            by_payee.setdefault(row["payee_id"], []).append(line_of(row, cycle.line_of_business))
        if by_payee:
            await _remit(conn, cycle, by_payee, at)
        await audit_close(conn, "settle", actor, cycle.cycle_id)
        return True, await stored_remittances(conn, cycle.cycle_id)


async def _remit(
    conn: Any, cycle: PayCycle, by_payee: dict[str, list[RemittanceLine]], at: dt.datetime
) -> None:
    payer = await read_payer(conn)
    payees = await read_payees(conn, sorted(by_payee))
    owed = await settlement_balances(conn, "payee_carry:")  # negative: the payee owes
    # the cycle each payee's balance was carried out of (its latest carry out: a carry in
    # takes the whole balance, so a later carry out starts a new one), named by both FBs
    carried_from = {
        row["payee_id"]: row["cycle_id"]
        for row in await conn.fetch(
            "SELECT DISTINCT ON (payee_id) payee_id, cycle_id FROM remittance"
            " WHERE payee_id = ANY($1::text[]) AND carried_out_cents > 0"
            " ORDER BY payee_id, pay_date DESC, cycle_id DESC",
            sorted(by_payee),
        )
    }
    pay_date = cycle.schedule.settles_on(cycle.period_end)
    for payee_id, lines in sorted(by_payee.items()):
        remittance = remit(
            cycle.cycle_id,
            payee_id,
            pay_date,
            tuple(lines),
            fee_cents=transaction_fee(tuple(lines), cycle.fee_by_plan),
            carried_in_cents=max(0, -owed.get(payee_id, 0)),
            carried_from=carried_from.get(payee_id, ""),
        )
        payee = payees[payee_id]
        control = await conn.fetchval("SELECT nextval('x12_interchange_control_number')")
        trace = f"{payer.interchange_id.replace(' ', '')}{control:09d}"
        envelope = Envelope(
            sender_id=payer.interchange_id,
            receiver_id=payee.npi or payee.payee_id,
            produced_at=at,
            interchange_control_number=control,
            group_control_number=control,
            functional_code="HP",
            implementation=IMPLEMENTATION,
        )
        x12 = render_835(remittance, payer, payee, envelope, trace)
        document = orjson.dumps(
            remittance_document(remittance, payee, trace), option=orjson.OPT_INDENT_2
        ).decode()
        entry_id = await post_entry(
            conn, "pay_cycle", f"{cycle.cycle_id}/{payee_id}", remittance.entry()
        )
        await conn.execute(
            "INSERT INTO remittance (cycle_id, payee_id, trace_number, pay_date,"
            " claims_paid_cents, fee_cents, carried_in_cents, carried_out_cents, payment_cents,"
            " line_count, interchange_control_number, x12, document, entry_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            cycle.cycle_id,
            payee_id,
            trace,
            pay_date,
            remittance.claims_paid_cents,
            remittance.fee_cents,
            remittance.carried_in_cents,
            remittance.carried_out_cents,
            remittance.payment_cents,
            len(lines),
            control,
            x12,
            document,
            entry_id,
        )


__all__ = ["close_pay_cycle", "stored_remittances"]

"""The settlement files for people and programs: a remittance as JSON (the same content as its
835), an invoice as JSON and as CSV (one line per claim or reversal). Amounts are integer cents."""

from __future__ import annotations

import csv
import io
from typing import Any

from rx_gateway.domain.settlement.invoices import Invoice, InvoiceLine
from rx_gateway.domain.settlement.parties import Payee
from rx_gateway.domain.settlement.remittance import Remittance, RemittanceLine

INVOICE_COLUMNS = (
    "kind",
    "internal_control_number",
    "authorization_number",
    "date_of_service",
    "received_on",
    "service_provider_id",
    "plan_id",
    "member_id",
    "product_id",
    "quantity_thousandths",
    "days_supply",
    "plan_paid_cents",
    "purse_paid_cents",
    "admin_fee_cents",
    "billed_cents",
)


def _line(line: RemittanceLine) -> dict[str, Any]:
    return {
        "kind": line.kind.value,
        "claim_status": line.claim_status,
        "patient_control_number": line.patient_control_number,
        "internal_control_number": line.internal_control_number,
        "service_provider_id": line.service_provider_id,
        "product_id": line.product_id,
        "date_of_service": line.date_of_service.isoformat(),
        "quantity_thousandths": line.sign * line.quantity_thousandths,
        "charge_cents": line.charge_cents,
        "paid_cents": line.paid_cents,
        "patient_responsibility_cents": line.patient_responsibility_cents,
        "adjustments": [
            {"group": a.group.value, "reason": a.reason, "amount_cents": a.amount_cents}
            for a in line.adjustments
        ],
        "patient": {
            "last_name": line.patient.last_name,
            "first_name": line.patient.first_name,
            "member_identifier": line.patient.member_identifier,
        },
    }


def remittance_document(remittance: Remittance, payee: Payee, trace_number: str) -> dict[str, Any]:
    """The remittance as JSON: what the 835 says, named."""
    return {
        "cycle_id": remittance.cycle_id,
        "payee": {"payee_id": payee.payee_id, "name": payee.name, "npi": payee.npi},
        "pay_date": remittance.pay_date.isoformat(),
        "trace_number": trace_number,
        "payment_cents": remittance.payment_cents,
        "claims_paid_cents": remittance.claims_paid_cents,
        "fee_cents": remittance.fee_cents,
        "carried_in_cents": remittance.carried_in_cents,
        "carried_out_cents": remittance.carried_out_cents,
        "provider_adjustments": [
            {"reason": a.reason.value, "reference": a.reference, "amount_cents": a.amount_cents}
            for a in remittance.provider_adjustments
        ],
        "lines": [_line(line) for line in remittance.lines],
    }


def _invoice_row(line: InvoiceLine) -> tuple[Any, ...]:
    return (
        line.kind.value,
        line.internal_control_number,
        line.authorization_number,
        line.date_of_service.isoformat(),
        line.received_on.isoformat(),
        line.service_provider_id,
        line.plan_id,
        line.member_id,
        line.product_id,
        line.quantity_thousandths,
        line.days_supply,
        line.plan_paid_cents,
        line.purse_paid_cents,
        line.admin_fee_cents,
        line.billed_cents,
    )


def invoice_csv(invoice: Invoice) -> str:
    """One line per claim or reversal, then a TOTAL line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(INVOICE_COLUMNS)
    for line in invoice.lines:
        writer.writerow(_invoice_row(line))
    writer.writerow(
        ("TOTAL", "", "", "", "", "", "", "", "", "", "", invoice.plan_paid_cents,
         invoice.purse_paid_cents, invoice.admin_fee_cents, invoice.total_cents)
    )  # fmt: skip
    return out.getvalue()


def invoice_document(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.invoice_id,
        "sponsor_id": invoice.sponsor_id,
        "cycle_id": invoice.cycle_id,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "due_on": invoice.due_on.isoformat(),
        "totals": {
            "plan_paid_cents": invoice.plan_paid_cents,
            "purse_paid_cents": invoice.purse_paid_cents,
            "admin_fee_cents": invoice.admin_fee_cents,
            "total_cents": invoice.total_cents,
            "lines": len(invoice.lines),
        },
        "entry": [
            {"account": p.account, "amount_cents": p.amount_cents} for p in invoice.entry().postings
        ],
        "lines": [
            dict(zip(INVOICE_COLUMNS, _invoice_row(line), strict=True)) for line in invoice.lines
        ],
    }

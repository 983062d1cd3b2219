"""The member's claims for their ExplanationOfBenefit file (CARIN BB), on PostgreSQL.

One transaction: the member (by member_key, then the family's rows only), their claims in the
date range with each stored response and reversal, the plan, pharmacy, drug and the coverage in
force on each date of service; then the audit row naming the operator (a member's file is PHI
leaving the system). Nothing else is written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from rx_gateway.adapters.postgres.errors import mapped_errors
from rx_gateway.adapters.postgres.records import kept_dispense_as_written, response_from_record
from rx_gateway.domain.eob import EobClaim, EobMember
from rx_gateway.domain.errors import InvalidRequest, InvariantViolation, UnknownReference
from rx_gateway.service_layer.ports import EobFacts

MEMBER_SQL = """
SELECT m.family_id, m.first_name, m.last_name, m.gender_code, m.cardholder_id, m.person_code,
       m.patient_relationship_code
FROM member_key k JOIN member m ON m.family_id = k.family_id AND m.member_id = k.member_id
WHERE k.member_id = $1
"""

# The claims of one member of one family, oldest date of service first; every generation of a
# claim key is its own claim (a rebill after a reversal is a new claim, the reversed one stays).
CLAIMS_SQL = """
SELECT c.internal_control_number, c.created_at, r.created_at AS reversed_at, c.date_of_service,
       c.plan_id, p.document->>'name' AS plan_name, c.service_provider_id,
       ph.name AS pharmacy_name, ph.network AS pharmacy_network, c.product_id,
       d.name AS product_name, c.quantity_thousandths, c.days_supply, c.claim_key,
       c.gross_amount_due_cents, c.response, v.group_id, v.start_date, v.end_date,
       q.ingredients
FROM claim c
LEFT JOIN claim_reversal r ON r.family_id = c.family_id AND r.claim_id = c.claim_id
LEFT JOIN plan p ON p.plan_id = c.plan_id
LEFT JOIN pharmacy ph ON ph.npi = c.service_provider_id
LEFT JOIN drug d ON d.ndc = c.product_id
LEFT JOIN LATERAL (
    SELECT o.group_id, o.start_date, o.end_date FROM coverage o
    WHERE o.family_id = c.family_id AND o.member_id = c.member_id AND o.plan_id = c.plan_id
      AND o.start_date <= c.date_of_service
      AND (o.end_date IS NULL OR o.end_date >= c.date_of_service)
    ORDER BY o.start_date DESC LIMIT 1
) v ON true
LEFT JOIN LATERAL (  -- a compound's ingredients as billed: the request kept with its audit row
    SELECT a.detail->'request'->'compound'->'ingredients' AS ingredients FROM audit_log a
    WHERE a.family_id = c.family_id AND a.internal_control_number = c.internal_control_number
      AND a.detail ? 'request'
      AND jsonb_array_length(coalesce(c.response->'compound_ingredients', '[]')) > 0
    ORDER BY a.audit_id LIMIT 1
) q ON true
WHERE c.family_id = $1 AND c.member_id = $2
  AND ($3::date IS NULL OR c.date_of_service >= $3)
  AND ($4::date IS NULL OR c.date_of_service <= $4)
ORDER BY c.date_of_service, c.created_at, c.claim_id
LIMIT $5
"""

OUT_OF_NETWORK = "out_of_network"


def _network(rule_trace: tuple[str, ...], current: str | None) -> str:
    """The pharmacy's network when the claim was adjudicated (its rule trace says
    ``network: preferred retail pharmacy``), else the pharmacy's network today."""
    for line in rule_trace:
        if line.startswith("network: "):
            return line.removeprefix("network: ").split(" ", 1)[0]
    return current or ""


def _fill_number(claim_key: str) -> int:
    """403-D3 from the claim key (BIN|PCN|provider|Rx|fill|date of service)."""
    parts = claim_key.split("|")
    if len(parts) < 2 or not parts[-2].isdigit():  # the fill and the date: the key's last two
        msg = "a claim key without its fill number"
        raise InvariantViolation(msg)
    return int(parts[-2])


def eob_claim(row: Any) -> EobClaim:
    """One claim row as the domain's EOB facts."""
    record: dict[str, Any] = row["response"]
    response = response_from_record(record)
    if response.pricing is None:
        msg = f"paid claim {row['internal_control_number']} has no pricing"
        raise InvariantViolation(msg)
    refills = record.get("number_of_refills_authorized")
    return EobClaim(
        internal_control_number=row["internal_control_number"],
        received_at=row["created_at"],
        reversed_at=row["reversed_at"],
        date_of_service=row["date_of_service"],
        plan_id=row["plan_id"],
        plan_name=row["plan_name"] or "",
        group_id=row["group_id"] or "",
        coverage_start=row["start_date"],
        coverage_end=row["end_date"],
        pharmacy_id=row["service_provider_id"],
        pharmacy_name=row["pharmacy_name"] or "",
        in_network=_network(response.rule_trace, row["pharmacy_network"]) != OUT_OF_NETWORK,
        prescriber_id=response.prescriber_id,
        product_id=row["product_id"],
        product_name=row["product_name"] or "",
        quantity_thousandths=row["quantity_thousandths"],
        days_supply=row["days_supply"],
        fill_number=_fill_number(row["claim_key"]),
        dispense_as_written=kept_dispense_as_written(record, response.rule_trace),
        refills_authorized=None if refills is None else int(refills),
        submitted_cents=row["gross_amount_due_cents"],
        pricing=response.pricing,
        compound_ingredients=_ingredients(response.compound_ingredients, row["ingredients"]),
    )


def _ingredients(
    covered: tuple[tuple[str, int], ...], billed: list[dict[str, Any]] | None
) -> tuple[tuple[str, int | None], ...]:
    """Each covered ingredient's NDC (as the stored response orders them) and the quantity
    the pharmacy billed for it (448-ED; None when no request was kept with the claim)."""
    quantities: dict[str, int] = {}
    for ingredient in billed or ():
        if isinstance(ingredient, dict) and isinstance(ingredient.get("quantity_thousandths"), int):
            quantities.setdefault(
                str(ingredient.get("product_id")), ingredient["quantity_thousandths"]
            )
    return tuple((ndc, quantities.get(ndc)) for ndc, _ in covered)


class PostgresEob:
    """The EobSource port on PostgreSQL (the admin interface's pool, or the CLI's)."""

    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout_s: float = 2.0) -> None:
        self._pool = pool
        self._acquire_timeout_s = acquire_timeout_s

    async def eob_facts(
        self,
        member_id: str,
        date_from: dt.date | None,
        date_to: dt.date | None,
        *,
        claims_max: int,
        actor: str,
    ) -> EobFacts:
        with mapped_errors():
            async with (
                self._pool.acquire(timeout=self._acquire_timeout_s) as conn,
                conn.transaction(isolation="repeatable_read"),
            ):
                member = await conn.fetchrow(MEMBER_SQL, member_id)
                if member is None:
                    msg = f"unknown member_id {member_id!r}"
                    raise UnknownReference(msg)
                rows = await conn.fetch(
                    CLAIMS_SQL, member["family_id"], member_id, date_from, date_to, claims_max + 1
                )
                if len(rows) > claims_max:
                    raise InvalidRequest(
                        "date_from",
                        f"more than {claims_max} claims in the range: ask for fewer dates",
                    )
                claims = tuple(eob_claim(row) for row in rows)
                await conn.execute(
                    "INSERT INTO audit_log (family_id, actor, action, outcome, detail)"
                    " VALUES ($1, $2, 'export_eob', 'ok', $3)",
                    member["family_id"],
                    actor,
                    {
                        "member_id": member_id,
                        "date_from": date_from.isoformat() if date_from else None,
                        "date_to": date_to.isoformat() if date_to else None,
                        "claims": len(claims),
                    },
                )
        return EobFacts(
            EobMember(
                member_id=member_id,
                family_name=member["last_name"],
                given_name=member["first_name"],
                gender_code=member["gender_code"],
                cardholder_id=member["cardholder_id"],
                person_code=member["person_code"],
                relationship_code=member["patient_relationship_code"],
            ),
            claims,
        )

"""The Part D events of a plan in a window, read for `rx-gateway export pde`: every claim paid
in the window (by the day it was paid) and every reversal made in it (by the day it was
reversed), oldest first, with the member and the stored response. Reads only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from rx_gateway.adapters.postgres.records import kept_dispense_as_written, response_from_record
from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.pde import PdeClaim, PdeEvent


@dataclass(frozen=True, slots=True)
class PlanFacts:
    """What the export needs of a plan document."""

    plan_id: str
    line_of_business: str
    sponsor_id: str


PLAN_SQL = """
SELECT plan_id, document->>'line_of_business' AS line_of_business,
       coalesce(document->>'sponsor_id', '') AS sponsor_id
FROM plan WHERE plan_id = $1
"""

# Paid claims by the instant they were paid, reversals by the instant they were reversed:
# consecutive windows never repeat an event and never miss one. $2 and $3 bound [from, to + 1).
EVENTS_SQL = """
WITH events AS (
    SELECT c.family_id, c.claim_id, NULL::date AS reversed_on, c.created_at AS happened_at
    FROM claim c
    WHERE c.plan_id = $1 AND c.created_at >= $2 AND c.created_at < $3
    UNION ALL
    SELECT cr.family_id, cr.claim_id, (cr.created_at AT TIME ZONE 'UTC')::date, cr.created_at
    FROM claim_reversal cr
    JOIN claim c ON c.family_id = cr.family_id AND c.claim_id = cr.claim_id
    WHERE c.plan_id = $1 AND cr.created_at >= $2 AND cr.created_at < $3
)
SELECT e.reversed_on, (c.created_at AT TIME ZONE 'UTC')::date AS paid_date,
       c.claim_key, c.date_of_service, c.product_id, c.service_provider_id,
       c.quantity_thousandths, c.days_supply, c.response,
       m.cardholder_id, m.date_of_birth, m.gender_code
FROM events e
JOIN claim c ON c.family_id = e.family_id AND c.claim_id = e.claim_id
JOIN member m ON m.family_id = c.family_id AND m.member_id = c.member_id
ORDER BY e.happened_at, c.claim_id, e.reversed_on NULLS FIRST
"""


async def read_plan(conn: Any, plan_id: str) -> PlanFacts | None:
    row = await conn.fetchrow(PLAN_SQL, plan_id)
    if row is None:
        return None
    return PlanFacts(row["plan_id"], row["line_of_business"] or "", row["sponsor_id"])


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def claim_of(row: Any) -> PdeClaim:
    """A PDE's claim facts from an event row."""
    record = row["response"]
    record = orjson.loads(record) if isinstance(record, str | bytes) else record
    response = response_from_record(record)
    if response.pricing is None:
        msg = f"paid claim {response.internal_control_number} has no pricing"
        raise InvariantViolation(msg)
    # the claim key: BIN|PCN|201-B1|402-D2|403-D3|401-D1
    _, rx, fill, _ = row["claim_key"].rsplit("|", 3)
    ingredients = response.compound_ingredients
    return PdeClaim(
        internal_control_number=response.internal_control_number,
        cardholder_id=row["cardholder_id"],
        date_of_birth=row["date_of_birth"],
        gender_code=row["gender_code"],
        date_of_service=row["date_of_service"],
        paid_date=row["paid_date"],
        prescription_reference_number=response.prescription_reference_number or rx,
        fill_number=int(fill),
        # a compound is named by its costliest covered ingredient, as the 835 names it
        product_id=ingredients[0][0] if ingredients else row["product_id"],
        compound=bool(ingredients),
        dispense_as_written=kept_dispense_as_written(record, response.rule_trace),
        service_provider_id=row["service_provider_id"],
        prescriber_id=response.prescriber_id,
        quantity_thousandths=row["quantity_thousandths"],
        days_supply=row["days_supply"],
        pricing=response.pricing,
    )


async def read_events(
    conn: Any, plan_id: str, first_date: dt.date, last_date: dt.date
) -> list[PdeEvent]:
    """The plan's paid claims and reversals dated ``first_date`` to ``last_date`` (UTC days),
    in the order they happened."""
    rows = await conn.fetch(
        EVENTS_SQL,
        plan_id,
        _utc_midnight(first_date),
        _utc_midnight(last_date + dt.timedelta(days=1)),
    )
    return [PdeEvent(claim_of(row), row["reversed_on"]) for row in rows]

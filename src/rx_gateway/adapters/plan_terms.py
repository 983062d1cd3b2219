"""A plan document's settlement terms: who is billed for the plan's cost, and how its
pharmacies are paid.

    "sponsor_id": "employer",              each member's employer (the default), or a sponsor ID
    "pharmacy_payment": {
        "period_days": 7,                  7 or 14
        "cutoff_weekday": "sunday",        the last day of each period
        "pay_after_days": 3,               the pay date: the period end plus these days
        "transaction_fee_cents": 0         per claim and per reversal, taken in the 835's PLB
    }

A Part D plan's pay cycle must pay a clean claim within 14 days of receipt (42 CFR 423.520):
one that cannot is refused at load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rx_gateway.adapters.document_reader import Reader
from rx_gateway.domain.reference import EMPLOYER_SPONSOR
from rx_gateway.domain.settlement.cycles import (
    LAG_DAYS_MAX,
    PERIOD_DAYS,
    WEEKDAYS,
    Schedule,
    schedule_problems,
    weekday_number,
)

PART_D = "MEDICARE_PART_D"
SECTION = "pharmacy_payment"


def settlement_terms(reader: Reader, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The Plan fields of the settlement terms (sponsor_id, pay_schedule,
    transaction_fee_cents), each checked; errors name the JSON path."""
    get = reader.get
    sponsor_id = get(
        doc, ("sponsor_id",), str, default=EMPLOYER_SPONSOR, check=bool, rule="must not be empty"
    )
    payment = get(doc, (SECTION,), dict, default={})
    weekday_name = get(
        payment,
        (SECTION, "cutoff_weekday"),
        str,
        default="sunday",
        check=lambda v: weekday_number(v) is not None,
        rule=f"must be one of {', '.join(WEEKDAYS)}",
    )
    schedule = Schedule(
        period_days=get(
            payment,
            (SECTION, "period_days"),
            int,
            default=7,
            check=lambda v: v in PERIOD_DAYS,
            rule=f"must be one of {PERIOD_DAYS}",
        ),
        cutoff_weekday=weekday_number(weekday_name) or 0,
        lag_days=get(
            payment,
            (SECTION, "pay_after_days"),
            int,
            default=3,
            check=lambda v: 0 <= v <= LAG_DAYS_MAX,
            rule=f"must be 0-{LAG_DAYS_MAX}",
        ),
    )
    problems = schedule_problems(schedule, part_d=doc.get("line_of_business") == PART_D)
    if problems:
        raise reader.fail((SECTION,), problems[0])
    fee = get(
        payment,
        (SECTION, "transaction_fee_cents"),
        int,
        default=0,
        check=lambda v: 0 <= v <= 10_000,
        rule="must be 0-10000 cents",
    )
    return {"sponsor_id": sponsor_id, "pay_schedule": schedule, "transaction_fee_cents": fee}

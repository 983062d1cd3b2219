"""The stored history a simulation replays (`rx-gateway simulate`, domain/simulation.py): each
selected family's events in their original order, and its starting point before its first
stored claim. Read-only, a handful of statements whatever the number of claims (no round trip
per claim).

The events are the audit rows of the claim path (a global sequence, so within a family their
order is the order things happened): a B1 paid (its claim row holds the response) or rejected
with its member known, and a B2 approved (its 993-A7 is the original claim's). What a claim's
request held beyond the claim row is the audit row's ``detail.request`` (domain/claim_record.py),
written since the simulator exists: a family with a paid claim stored before then cannot be
replayed exactly and is left out (counted in ``History.families_without_requests``).

The starting point: members, coverages, prior authorizations and other payers as stored now
(their history is not replayed: a claim paid before a coverage was ended retroactively replays
as the 69 it would get now, and counts as not reproduced);
each accumulator less every move claims and reversals made to it; each purse's posted balance
less every claim, reward and reversal posting to it and less the allotments funded so far (the
replay releases allotments by date of service, as the claim path does).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from rx_gateway.adapters.postgres.records import response_from_record
from rx_gateway.domain.claim_record import record_business_date, request_from_record
from rx_gateway.domain.member import (
    Coverage,
    CoverageEndReason,
    Member,
    OtherCoverage,
    PriorAuthorization,
)
from rx_gateway.domain.reference import CoverageLevel, ReferenceSnapshot
from rx_gateway.domain.simulation import AccumulatorKey, Household, MemberBase, StoredEvent

# Families with a claim decided in the period (by date of service): paid claims from the claim
# rows, rejected ones from their audit rows' requests.
FAMILIES_SQL = """
SELECT DISTINCT c.family_id, c.plan_id, f.employer_id
FROM claim c JOIN family f ON f.family_id = c.family_id
WHERE ($1::date IS NULL OR c.date_of_service >= $1)
  AND ($2::date IS NULL OR c.date_of_service <= $2)
UNION
SELECT DISTINCT r.family_id, r.plan_id, f.employer_id
FROM (SELECT a.family_id, a.detail->>'plan_id' AS plan_id,
             to_date(a.detail->'request'->'header'->>'date_of_service', 'YYYYMMDD') AS day
      FROM audit_log a
      WHERE a.action = 'B1' AND a.outcome = 'R' AND a.detail ? 'request') r
JOIN family f ON f.family_id = r.family_id
WHERE ($1::date IS NULL OR r.day >= $1) AND ($2::date IS NULL OR r.day <= $2)
"""
EVENTS_SQL = """
SELECT a.audit_id, a.family_id, a.action, a.outcome, a.internal_control_number, a.detail,
       coalesce(c.member_id, a.detail->>'member_id') AS member_id, c.authorization_number,
       c.response,
       EXISTS (SELECT 1 FROM claim_reversal r
               WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id) AS reversed
FROM audit_log a
LEFT JOIN claim c ON c.family_id = a.family_id
                 AND c.internal_control_number = a.internal_control_number
WHERE a.family_id = ANY($1::text[])
  AND (a.action = 'B1' AND a.outcome IN ('P', 'R') OR a.action = 'B2' AND a.outcome = 'A')
ORDER BY a.family_id, a.audit_id
"""
MEMBERS_SQL = """
SELECT member_id, cardholder_id, person_code, family_id, employer_id, class_code, date_of_birth,
       gender_code
FROM member WHERE family_id = ANY($1::text[])
"""
COVERAGES_SQL = """
SELECT family_id, member_id, plan_id, group_id, start_date, end_date, end_reason,
       line_of_business, coverage_level, payer_order
FROM coverage WHERE family_id = ANY($1::text[]) ORDER BY start_date
"""
AUTHORIZATIONS_SQL = """
SELECT family_id, member_id, pa_number, ndc, drug_group, start_date, end_date,
       quantity_thousandths
FROM prior_authorization WHERE family_id = ANY($1::text[])
"""
OTHER_COVERAGES_SQL = """
SELECT family_id, member_id, payer_order, payer_name, bin, pcn, group_id, cardholder_id,
       person_code, help_desk_phone, start_date, end_date
FROM other_coverage WHERE family_id = ANY($1::text[]) ORDER BY payer_order, start_date
"""
ACCUMULATORS_SQL = """
SELECT a.family_id, a.level, a.subject_id, a.plan_id, a.plan_year_start, a.kind,
       a.amount_cents - coalesce((
           SELECT sum(m.amount_cents) FROM accumulator_move m
           WHERE m.family_id = a.family_id AND m.level = a.level AND m.subject_id = a.subject_id
             AND m.plan_id = a.plan_id AND m.plan_year_start = a.plan_year_start
             AND m.kind = a.kind), 0)::bigint AS before_claims
FROM accumulator a WHERE a.family_id = ANY($1::text[])
"""
PURSES_SQL = """
SELECT p.family_id, p.purse_id, p.kind,
       (p.posted_cents
       - coalesce((SELECT sum(x.amount_cents) FROM posting x
                   JOIN journal_entry e ON e.family_id = x.family_id AND e.entry_id = x.entry_id
                   WHERE x.family_id = p.family_id AND x.account_key = 'purse:' || p.purse_id
                     AND e.kind IN ('claim', 'reversal', 'reward', 'reward_recovery')), 0)
       - coalesce((SELECT sum(a.amount_cents) FROM purse_allotment a
                   JOIN purse_funding f ON f.family_id = a.family_id
                                       AND f.funding_id = a.allotment_id
                   WHERE a.family_id = p.family_id AND a.purse_id = p.purse_id), 0)
       )::bigint AS before_claims
FROM purse p WHERE p.family_id = ANY($1::text[])
"""
ALLOTMENTS_SQL = """
SELECT family_id, purse_id, available_on, amount_cents
FROM purse_allotment WHERE family_id = ANY($1::text[]) ORDER BY available_on, allotment_id
"""


@dataclass
class History:
    events: list[StoredEvent] = field(default_factory=list)
    households: dict[str, Household] = field(default_factory=dict)
    families_without_requests: int = 0
    claims_without_requests: int = 0


async def _selected_families(
    conn: asyncpg.Connection,
    start: dt.date | None,
    end: dt.date | None,
    sponsor: str | None,
    snapshot: ReferenceSnapshot,
) -> list[str]:
    families: set[str] = set()
    for row in await conn.fetch(FAMILIES_SQL, start, end):
        if sponsor is not None:
            plan = snapshot.plans.get(row["plan_id"] or "")
            if plan is None or plan.sponsor_of(row["employer_id"]) != sponsor:
                continue
        families.add(row["family_id"])
    return sorted(families)


def _event(row: Any, cardholders: dict[str, str]) -> StoredEvent | None:
    detail = row["detail"] or {}
    icn = row["internal_control_number"] or ""
    if row["action"] == "B2":
        return StoredEvent(row["audit_id"], row["family_id"], "", icn, reverses=icn)
    record = detail.get("request")
    member_id = row["member_id"]
    if record is None or member_id is None or member_id not in cardholders:
        return None
    request = request_from_record(record, cardholders[member_id])
    paid = row["outcome"] == "P"
    return StoredEvent(
        row["audit_id"],
        row["family_id"],
        member_id,
        icn,
        request=request,
        business_date=record_business_date(record),
        authorization_number=(row["authorization_number"] or "") if paid else "",
        real=response_from_record(row["response"]) if paid and row["response"] else None,
        real_rejects=tuple(detail.get("rejects", ())) if not paid else (),
        reversed_later=bool(row["reversed"]) if paid else False,
    )


async def read_history(
    conn: asyncpg.Connection,
    start: dt.date | None,
    end: dt.date | None,
    sponsor: str | None,
    snapshot: ReferenceSnapshot,
) -> History:
    """The events and starting points of every family with a claim in the period (of the
    sponsor's, when given), in one repeatable-read snapshot."""
    history = History()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        families = await _selected_families(conn, start, end, sponsor, snapshot)
        if not families:
            return history
        members = await conn.fetch(MEMBERS_SQL, families)
        cardholders = {r["member_id"]: r["cardholder_id"] for r in members}
        by_family: dict[str, list[StoredEvent]] = {}
        unreplayable: set[str] = set()
        for row in await conn.fetch(EVENTS_SQL, families):
            if (
                row["action"] == "B1"
                and row["outcome"] == "P"
                and "request" not in (row["detail"] or {})
            ):
                unreplayable.add(row["family_id"])
                history.claims_without_requests += 1
                continue
            event = _event(row, cardholders)
            if event is not None:
                by_family.setdefault(event.family_id, []).append(event)
        history.families_without_requests = len(unreplayable)
        kept = [f for f in families if f not in unreplayable]
        for family_id in kept:
            history.events.extend(by_family.get(family_id, ()))
        history.households = await _households(conn, kept, members)
    return history


async def _households(
    conn: asyncpg.Connection, families: list[str], member_rows: list[Any]
) -> dict[str, Household]:
    coverages: dict[str, list[Coverage]] = {}
    for r in await conn.fetch(COVERAGES_SQL, families):
        coverages.setdefault(r["member_id"], []).append(
            Coverage(
                r["plan_id"],
                r["group_id"],
                r["start_date"],
                r["end_date"],
                CoverageEndReason(r["end_reason"]) if r["end_reason"] else None,
                r["line_of_business"],
                CoverageLevel(r["coverage_level"]),
                payer_order=r["payer_order"],
            )
        )
    authorizations: dict[str, list[PriorAuthorization]] = {}
    for r in await conn.fetch(AUTHORIZATIONS_SQL, families):
        authorizations.setdefault(r["member_id"], []).append(
            PriorAuthorization(
                r["ndc"],
                r["drug_group"],
                r["start_date"],
                r["end_date"],
                r["pa_number"],
                r["quantity_thousandths"],
            )
        )
    others: dict[str, list[OtherCoverage]] = {}
    for r in await conn.fetch(OTHER_COVERAGES_SQL, families):
        others.setdefault(r["member_id"], []).append(
            OtherCoverage(
                r["payer_order"],
                r["payer_name"],
                r["bin"],
                r["pcn"],
                r["group_id"],
                r["cardholder_id"],
                r["person_code"],
                str(r["help_desk_phone"]),
                r["start_date"],
                r["end_date"],
            )
        )
    accumulators: dict[str, dict[AccumulatorKey, int]] = {}
    for r in await conn.fetch(ACCUMULATORS_SQL, families):
        key = (r["level"], r["subject_id"], r["plan_id"], r["plan_year_start"], r["kind"])
        accumulators.setdefault(r["family_id"], {})[key] = r["before_claims"]
    purses: dict[str, list[tuple[str, str, int]]] = {}
    for r in await conn.fetch(PURSES_SQL, families):
        purses.setdefault(r["family_id"], []).append((r["purse_id"], r["kind"], r["before_claims"]))
    allotments: dict[str, list[tuple[str, dt.date, int]]] = {}
    for r in await conn.fetch(ALLOTMENTS_SQL, families):
        allotments.setdefault(r["family_id"], []).append(
            (r["purse_id"], r["available_on"], r["amount_cents"])
        )
    members: dict[str, dict[str, MemberBase]] = {}
    for r in member_rows:
        member = Member(
            r["member_id"],
            r["cardholder_id"],
            r["person_code"],
            r["family_id"],
            r["employer_id"],
            r["class_code"],
            r["date_of_birth"],
            r["gender_code"],
        )
        members.setdefault(member.family_id, {})[member.member_id] = MemberBase(
            member,
            tuple(coverages.get(member.member_id, ())),
            tuple(authorizations.get(member.member_id, ())),
            tuple(others.get(member.member_id, ())),
        )
    return {
        family_id: Household(
            family_id,
            members.get(family_id, {}),
            accumulators.get(family_id, {}),
            tuple(sorted(purses.get(family_id, ()))),
            tuple(allotments.get(family_id, ())),
        )
        for family_id in families
    }


async def plan_documents(conn: asyncpg.Connection) -> dict[str, Any]:
    """Each stored plan's document (what a design patches)."""
    return {
        r["plan_id"]: r["document"] for r in await conn.fetch("SELECT plan_id, document FROM plan")
    }


async def sponsor_known(conn: asyncpg.Connection, sponsor: str) -> bool:
    """Is ``sponsor`` a sponsor on file (the loader puts every plan's sponsor there)?"""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM sponsor WHERE sponsor_id = $1)", sponsor
    )
    return found

"""The hot-path read: everything a claim needs about its member, in one statement."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rx_gateway.adapters.postgres.connection import PostgresStore
from rx_gateway.adapters.postgres.errors import mapped_errors
from rx_gateway.adapters.postgres.records import response_from_record
from rx_gateway.domain.member import (
    AccumulatorKind,
    AccumulatorLevel,
    Accumulators,
    CardMember,
    Coverage,
    CoverageEndReason,
    Fill,
    Member,
    MemberState,
    PriorAuthorization,
    PurseSpend,
    PurseState,
)
from rx_gateway.domain.reference import CoverageLevel
from rx_gateway.service_layer.ports import ExistingClaim, MemberLookup

# The hot-path read: everything a claim needs about its member, in one statement, one round trip
# and one snapshot, as typed rows (asyncpg decodes them natively). Each row's kind says what it
# is; the columns are generic: t1-t6 text, d1-d2 date, n1-n2 bigint, j jsonb. It replaced a
# function that built one jsonb document: under load that cost about twice the PostgreSQL CPU,
# most of it starting the executor for a dozen sub-plans and their JSON expressions.
MEMBER_STATE_SQL = """
WITH m AS (
    SELECT member_id, cardholder_id, person_code, family_id, employer_id, class_code,
           date_of_birth, gender_code
    FROM member WHERE cardholder_id = $1 AND person_code = $2
)
SELECT 0 AS kind, m.member_id AS t1, m.family_id AS t2, m.employer_id AS t3,
       m.class_code AS t4, m.cardholder_id AS t5, m.person_code AS t6,
       m.date_of_birth AS d1, NULL::date AS d2, m.gender_code::bigint AS n1,
       f.version AS n2, NULL::jsonb AS j
FROM m JOIN family f USING (family_id)
UNION ALL
SELECT 1, c.plan_id, c.group_id, c.end_reason, c.line_of_business, c.coverage_level, NULL,
       c.start_date, c.end_date, NULL, NULL, NULL
FROM coverage c JOIN m USING (member_id)
UNION ALL
SELECT 2, a.level, a.plan_id, a.kind, NULL, NULL, NULL, a.plan_year_start, NULL,
       a.amount_cents, NULL, NULL
FROM accumulator a JOIN m ON a.subject_id = m.member_id
WHERE a.level = 'individual' AND a.plan_year_start BETWEEN $3::date - 366 AND $3::date
UNION ALL
SELECT 2, a.level, a.plan_id, a.kind, NULL, NULL, NULL, a.plan_year_start, NULL,
       a.amount_cents, NULL, NULL
FROM accumulator a JOIN m ON a.subject_id = m.family_id
WHERE a.level = 'family' AND a.plan_year_start BETWEEN $3::date - 366 AND $3::date
UNION ALL
SELECT 3, pu.purse_id, pu.kind, NULL, NULL, NULL, NULL, NULL, NULL, pu.balance_cents, NULL, NULL
FROM purse pu JOIN m USING (family_id)
UNION ALL
SELECT 4, a.purse_id, NULL, NULL, NULL, NULL, NULL, a.available_on, NULL, a.amount_cents,
       (f.funding_id IS NOT NULL)::int, NULL
FROM m JOIN purse pu USING (family_id)
JOIN purse_allotment a ON a.purse_id = pu.purse_id
LEFT JOIN purse_funding f ON f.funding_id = a.allotment_id
UNION ALL
SELECT 5, c.molecule, NULL, NULL, NULL, NULL, NULL, c.date_of_service, NULL, c.days_supply,
       c.quantity_thousandths, NULL
FROM claim c JOIN m USING (member_id)
WHERE c.date_of_service BETWEEN $3::date - 400 AND $3::date
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = c.claim_id)
UNION ALL
SELECT 6, s.purse_id, NULL, NULL, NULL, NULL, NULL, s.date_of_service, NULL, s.paid_cents,
       NULL, NULL
FROM claim_purse_spend s JOIN m USING (family_id)
WHERE s.date_of_service BETWEEN $3::date - 400 AND $3::date + 400
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = s.claim_id)
UNION ALL
SELECT 7, pa.pa_number, pa.ndc, pa.drug_group, NULL, NULL, NULL, pa.start_date, pa.end_date,
       pa.quantity_thousandths, NULL, NULL
FROM prior_authorization pa JOIN m USING (member_id)
UNION ALL
(SELECT 8, c.request_hash, NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.claim_id,
        EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = c.claim_id)::int, c.response
 FROM claim c WHERE c.claim_key = $4
 ORDER BY c.generation DESC LIMIT 1)
"""
_MEMBER, _COVERAGE, _ACCUMULATOR, _PURSE, _ALLOTMENT, _FILL, _SPEND, _PA, _EXISTING = range(9)


def fold_accumulators(
    rows: list[tuple[str, str, dt.date, str, int]],
) -> dict[tuple[str, dt.date], Accumulators]:
    """Fold (level, plan, plan year start, kind, amount) rows, the member's individual rows and
    the family's, into one Accumulators per (plan, plan year)."""
    folded: dict[tuple[str, dt.date], dict[str, int]] = {}
    for level_text, plan_id, year, kind, amount in rows:
        level = AccumulatorLevel(level_text)
        field = f"{AccumulatorKind(kind).value}_{level.value}_cents"
        folded.setdefault((plan_id, year), {})[field] = amount
    return {key: Accumulators(**values) for key, values in folded.items()}


def member_lookup_from_rows(rows: list[Any], date_of_service: dt.date) -> MemberLookup:
    """The read's rows as the member's state and the claim already stored under the key."""
    member: Member | None = None
    family_version = 0
    coverages: list[Coverage] = []
    accumulators: list[tuple[str, str, dt.date, str, int]] = []
    purses: list[tuple[str, str, int]] = []
    due: dict[str, int] = {}
    pending: dict[str, int] = {}
    fills: list[Fill] = []
    spends: list[PurseSpend] = []
    authorizations: list[PriorAuthorization] = []
    existing: ExistingClaim | None = None
    for kind, t1, t2, t3, t4, t5, t6, d1, d2, n1, n2, j in rows:
        if kind == _MEMBER:
            member = Member(t1, t5, t6, t2, t3, t4, d1, n1)
            family_version = n2
        elif kind == _COVERAGE:
            end_reason = CoverageEndReason(t3) if t3 else None
            coverages.append(Coverage(t1, t2, d1, d2, end_reason, t4, CoverageLevel(t5)))
        elif kind == _ACCUMULATOR:
            accumulators.append((t1, t2, d1, t3, n1))
        elif kind == _PURSE:
            purses.append((t1, t2, n1))
        elif kind == _ALLOTMENT:
            if d1 > date_of_service:
                pending[t1] = pending.get(t1, 0) + n1
            elif not n2:  # due by the date of service and not yet funded: the write posts it
                due[t1] = due.get(t1, 0) + n1
        elif kind == _FILL:
            fills.append(Fill(t1, d1, n1, n2))
        elif kind == _SPEND:
            spends.append(PurseSpend(t1, d1, n1))
        elif kind == _PA:
            authorizations.append(PriorAuthorization(t2, t3, d1, d2, t1, n1))
        else:
            existing = ExistingClaim(n1, t1, response_from_record(j), bool(n2))
    if member is None:
        return MemberLookup(state=None, existing=existing)
    state = MemberState(
        member=member,
        family_version=family_version,
        coverages=tuple(sorted(coverages, key=lambda c: c.start)),
        accumulators=fold_accumulators(accumulators),
        purses=tuple(
            PurseState(
                purse_id,
                kind,
                balance_cents=balance + due.get(purse_id, 0),
                posted_cents=balance,
                pending_cents=pending.get(purse_id, 0),
            )
            for purse_id, kind, balance in sorted(purses)
        ),
        fills=tuple(fills),
        purse_spends=tuple(spends),
        prior_authorizations=tuple(authorizations),
    )
    return MemberLookup(state=state, existing=existing)


class MemberReads(PostgresStore):
    """The member read and patient matching (the MemberReader port)."""

    async def card_members(self, cardholder_id: str) -> tuple[CardMember, ...]:
        with mapped_errors():
            rows = await self._fetch(
                "SELECT person_code, date_of_birth, gender_code FROM member"
                " WHERE cardholder_id = $1 ORDER BY person_code",
                cardholder_id,
            )
        return tuple(CardMember(r[0], r[1], r[2]) for r in rows)

    async def member_state(
        self, cardholder_id: str, person_code: str, date_of_service: dt.date, claim_key: str
    ) -> MemberLookup:
        with mapped_errors():
            rows = await self._fetch(
                MEMBER_STATE_SQL, cardholder_id, person_code, date_of_service, claim_key
            )
        return member_lookup_from_rows(rows, date_of_service)

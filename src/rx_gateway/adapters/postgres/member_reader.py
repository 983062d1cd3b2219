"""The hot-path read: everything a claim needs about its member, in one statement."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rx_gateway.adapters.postgres.connection import PostgresStore, Session
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
    OtherCoverage,
    PriorAuthorization,
    PurseSpend,
    PurseState,
    RewardEarned,
)
from rx_gateway.domain.reference import CoverageLevel
from rx_gateway.domain.reversal import StoredClaim
from rx_gateway.service_layer.ports import MemberLookup

# The hot-path read: everything a claim needs about its member, in one statement, one round trip
# and one snapshot, as typed rows (asyncpg decodes them natively). Each row's kind says what it
# is; the columns are generic: t1-t6 text, d1-d2 date, n1-n2 bigint, j jsonb. It replaced a
# function that built one jsonb document: under load that cost about twice the PostgreSQL CPU,
# most of it starting the executor for a dozen sub-plans and their JSON expressions.
#
# Family first: $1 is the member's family (from member_key), and every per-family table is
# filtered by it and joined on it, so on Citus the whole read runs on the family's shard.
# $2/$3 cardholder ID and person code, $4 date of service, $5 claim key.
MEMBER_STATE_SQL = """
WITH m AS (
    SELECT member_id, cardholder_id, person_code, family_id, employer_id, class_code,
           date_of_birth, gender_code
    FROM member WHERE family_id = $1 AND cardholder_id = $2 AND person_code = $3
)
SELECT 0 AS kind, m.member_id AS t1, m.family_id AS t2, m.employer_id AS t3,
       m.class_code AS t4, m.cardholder_id AS t5, m.person_code AS t6,
       m.date_of_birth AS d1, NULL::date AS d2, m.gender_code::bigint AS n1,
       f.version AS n2, NULL::jsonb AS j
FROM m JOIN family f ON f.family_id = m.family_id
WHERE f.family_id = $1
UNION ALL
SELECT 1, c.plan_id, c.group_id, c.end_reason, c.line_of_business, c.coverage_level, NULL,
       c.start_date, c.end_date, c.payer_order::bigint, NULL, NULL
FROM coverage c JOIN m ON c.family_id = m.family_id AND c.member_id = m.member_id
WHERE c.family_id = $1
UNION ALL
SELECT 2, a.level, a.plan_id, a.kind, NULL, NULL, NULL, a.plan_year_start, NULL,
       a.amount_cents, NULL, NULL
FROM accumulator a JOIN m ON a.family_id = m.family_id AND a.subject_id = m.member_id
WHERE a.family_id = $1 AND a.level = 'individual'
  AND a.plan_year_start BETWEEN $4::date - 366 AND $4::date
UNION ALL
SELECT 2, a.level, a.plan_id, a.kind, NULL, NULL, NULL, a.plan_year_start, NULL,
       a.amount_cents, NULL, NULL
FROM accumulator a
WHERE a.family_id = $1 AND a.subject_id = $1 AND a.level = 'family'
  AND a.plan_year_start BETWEEN $4::date - 366 AND $4::date
UNION ALL
SELECT 3, pu.purse_id, pu.kind, NULL, NULL, NULL, NULL, NULL, NULL, pu.posted_cents, NULL, NULL
FROM purse pu
WHERE pu.family_id = $1
UNION ALL
SELECT 4, a.purse_id, NULL, NULL, NULL, NULL, NULL, a.available_on, NULL, a.amount_cents,
       (f.funding_id IS NOT NULL)::int, NULL
FROM purse_allotment a
LEFT JOIN purse_funding f ON f.family_id = a.family_id AND f.funding_id = a.allotment_id
WHERE a.family_id = $1
UNION ALL
SELECT 5, c.molecule, c.product_id, c.service_provider_id, c.prescriber_id,
       c.refill_override,
       split_part(c.claim_key, '|', -3) || '|' || split_part(c.claim_key, '|', -2),
       c.date_of_service, NULL, c.days_supply,
       c.quantity_thousandths, NULL
FROM claim c JOIN m ON c.family_id = m.family_id AND c.member_id = m.member_id
WHERE c.family_id = $1 AND c.date_of_service BETWEEN $4::date - 400 AND $4::date
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r
                  WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id)
UNION ALL
SELECT 6, s.purse_id, NULL, NULL, NULL, NULL, NULL, s.date_of_service, NULL, s.paid_cents,
       NULL, NULL
FROM claim_purse_spend s
WHERE s.family_id = $1 AND s.date_of_service BETWEEN $4::date - 400 AND $4::date + 400
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r
                  WHERE r.family_id = s.family_id AND r.claim_id = s.claim_id)
UNION ALL
SELECT 7, pa.pa_number, pa.ndc, pa.drug_group, NULL, NULL, NULL, pa.start_date, pa.end_date,
       pa.quantity_thousandths, NULL, NULL
FROM prior_authorization pa JOIN m ON pa.family_id = m.family_id AND pa.member_id = m.member_id
WHERE pa.family_id = $1
UNION ALL
SELECT 9, o.payer_name, o.bin, o.pcn, o.group_id, o.cardholder_id, o.person_code,
       o.start_date, o.end_date, o.payer_order::bigint, NULL, to_jsonb(o.help_desk_phone)
FROM other_coverage o JOIN m ON o.family_id = m.family_id AND o.member_id = m.member_id
WHERE o.family_id = $1
UNION ALL
SELECT 10, cr.program_id, NULL, NULL, NULL, NULL, NULL, cr.plan_year_start, NULL,
       cr.amount_cents, NULL, NULL
FROM claim_reward cr JOIN m ON cr.family_id = m.family_id AND cr.member_id = m.member_id
WHERE cr.family_id = $1 AND cr.plan_year_start BETWEEN $4::date - 366 AND $4::date
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r
                  WHERE r.family_id = cr.family_id AND r.claim_id = cr.claim_id)
UNION ALL
(SELECT 8, c.request_hash, NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.claim_id,
        EXISTS (SELECT 1 FROM claim_reversal r
                WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id)::int, c.response
 FROM claim c WHERE c.family_id = $1 AND c.claim_key = $5
 ORDER BY c.generation DESC LIMIT 1)
"""
# The same read for several claims at once (natural batching): one statement, one round trip,
# one snapshot for every claim in flight at the moment it goes. $1-$5 are arrays (family,
# cardholder ID, person code, date of service, claim key), one element per claim; every row
# carries its claim's position (i, from 1) first. A NULL family: the read looks the card's
# person up in member_key itself (no round trip of its own for a card not seen before). A plain
# PostgreSQL plan: the claims are a handful of rows joined by index to each per-family table.
# (On Citus a read of several families is not a one-shard read: one claim at a time there.)
MEMBER_STATES_SQL = """
WITH q AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::text[])
                  WITH ORDINALITY AS q(family_id, cardholder_id, person_code, dos, claim_key, i)
),
r AS (  -- a family the gateway does not know yet (NULL): the directory's, in the same read
    SELECT coalesce(q.family_id, k.family_id) AS family_id, q.cardholder_id, q.person_code,
           q.dos, q.claim_key, q.i
    FROM q LEFT JOIN member_key k ON q.family_id IS NULL AND k.cardholder_id = q.cardholder_id
                                 AND k.person_code = q.person_code
),
m AS (
    SELECT r.i, r.dos, x.member_id, x.cardholder_id, x.person_code, x.family_id, x.employer_id,
           x.class_code, x.date_of_birth, x.gender_code
    FROM r JOIN member x ON x.family_id = r.family_id AND x.cardholder_id = r.cardholder_id
                        AND x.person_code = r.person_code
)
SELECT m.i, 0 AS kind, m.member_id AS t1, m.family_id AS t2, m.employer_id AS t3,
       m.class_code AS t4, m.cardholder_id AS t5, m.person_code AS t6,
       m.date_of_birth AS d1, NULL::date AS d2, m.gender_code::bigint AS n1,
       f.version AS n2, NULL::jsonb AS j
FROM m JOIN family f ON f.family_id = m.family_id
UNION ALL
SELECT m.i, 1, c.plan_id, c.group_id, c.end_reason, c.line_of_business, c.coverage_level, NULL,
       c.start_date, c.end_date, c.payer_order::bigint, NULL, NULL
FROM m JOIN coverage c ON c.family_id = m.family_id AND c.member_id = m.member_id
UNION ALL
SELECT m.i, 2, a.level, a.plan_id, a.kind, NULL, NULL, NULL, a.plan_year_start, NULL,
       a.amount_cents, NULL, NULL
FROM m JOIN accumulator a ON a.family_id = m.family_id AND a.subject_id = m.member_id
WHERE a.level = 'individual' AND a.plan_year_start BETWEEN m.dos - 366 AND m.dos
UNION ALL
SELECT m.i, 2, a.level, a.plan_id, a.kind, NULL, NULL, NULL, a.plan_year_start, NULL,
       a.amount_cents, NULL, NULL
FROM m JOIN accumulator a ON a.family_id = m.family_id AND a.subject_id = m.family_id
WHERE a.level = 'family' AND a.plan_year_start BETWEEN m.dos - 366 AND m.dos
UNION ALL
SELECT m.i, 3, pu.purse_id, pu.kind, NULL, NULL, NULL, NULL, NULL, NULL, pu.posted_cents, NULL,
       NULL
FROM m JOIN purse pu ON pu.family_id = m.family_id
UNION ALL
SELECT m.i, 4, a.purse_id, NULL, NULL, NULL, NULL, NULL, a.available_on, NULL, a.amount_cents,
       (f.funding_id IS NOT NULL)::int, NULL
FROM m JOIN purse_allotment a ON a.family_id = m.family_id
LEFT JOIN purse_funding f ON f.family_id = a.family_id AND f.funding_id = a.allotment_id
UNION ALL
SELECT m.i, 5, c.molecule, c.product_id, c.service_provider_id, c.prescriber_id,
       c.refill_override,
       split_part(c.claim_key, '|', -3) || '|' || split_part(c.claim_key, '|', -2),
       c.date_of_service, NULL, c.days_supply,
       c.quantity_thousandths, NULL
FROM m JOIN claim c ON c.family_id = m.family_id AND c.member_id = m.member_id
WHERE c.date_of_service BETWEEN m.dos - 400 AND m.dos
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r
                  WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id)
UNION ALL
SELECT m.i, 6, s.purse_id, NULL, NULL, NULL, NULL, NULL, s.date_of_service, NULL, s.paid_cents,
       NULL, NULL
FROM m JOIN claim_purse_spend s ON s.family_id = m.family_id
WHERE s.date_of_service BETWEEN m.dos - 400 AND m.dos + 400
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r
                  WHERE r.family_id = s.family_id AND r.claim_id = s.claim_id)
UNION ALL
SELECT m.i, 7, pa.pa_number, pa.ndc, pa.drug_group, NULL, NULL, NULL, pa.start_date, pa.end_date,
       pa.quantity_thousandths, NULL, NULL
FROM m JOIN prior_authorization pa ON pa.family_id = m.family_id AND pa.member_id = m.member_id
UNION ALL
SELECT m.i, 9, o.payer_name, o.bin, o.pcn, o.group_id, o.cardholder_id, o.person_code,
       o.start_date, o.end_date, o.payer_order::bigint, NULL, to_jsonb(o.help_desk_phone)
FROM m JOIN other_coverage o ON o.family_id = m.family_id AND o.member_id = m.member_id
UNION ALL
SELECT m.i, 10, cr.program_id, NULL, NULL, NULL, NULL, NULL, cr.plan_year_start, NULL,
       cr.amount_cents, NULL, NULL
FROM m JOIN claim_reward cr ON cr.family_id = m.family_id AND cr.member_id = m.member_id
WHERE cr.plan_year_start BETWEEN m.dos - 366 AND m.dos
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r
                  WHERE r.family_id = cr.family_id AND r.claim_id = cr.claim_id)
UNION ALL
SELECT r.i, 8, e.request_hash, NULL, NULL, NULL, NULL, NULL, NULL, NULL, e.claim_id,
       EXISTS (SELECT 1 FROM claim_reversal x
               WHERE x.family_id = r.family_id AND x.claim_id = e.claim_id)::int, e.response
FROM r CROSS JOIN LATERAL (
    SELECT c.request_hash, c.claim_id, c.response FROM claim c
    WHERE c.family_id = r.family_id AND c.claim_key = r.claim_key
    ORDER BY c.generation DESC LIMIT 1) e
"""
# Which family a card's person belongs to (member_key: a reference table on Citus).
FAMILY_SQL = "SELECT family_id FROM member_key WHERE cardholder_id = $1 AND person_code = $2"
(
    _MEMBER,
    _COVERAGE,
    _ACCUMULATOR,
    _PURSE,
    _ALLOTMENT,
    _FILL,
    _SPEND,
    _PA,
    _EXISTING,
    _OTHER_COVERAGE,
    _REWARD,
) = range(11)


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
    others: list[OtherCoverage] = []
    rewards: list[RewardEarned] = []
    existing: StoredClaim | None = None
    for kind, t1, t2, t3, t4, t5, t6, d1, d2, n1, n2, j in rows:
        if kind == _MEMBER:
            member = Member(t1, t5, t6, t2, t3, t4, d1, n1)
            family_version = n2
        elif kind == _COVERAGE:
            end_reason = CoverageEndReason(t3) if t3 else None
            coverages.append(
                Coverage(t1, t2, d1, d2, end_reason, t4, CoverageLevel(t5), payer_order=n1)
            )
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
            fills.append(Fill(t1, d1, n1, n2, t2, t3, t4 or "", int(t5 or 0), t6 or ""))
        elif kind == _SPEND:
            spends.append(PurseSpend(t1, d1, n1))
        elif kind == _PA:
            authorizations.append(PriorAuthorization(t2, t3, d1, d2, t1, n1))
        elif kind == _OTHER_COVERAGE:
            others.append(OtherCoverage(n1, t1, t2, t3, t4, t5, t6, str(j), d1, d2))
        elif kind == _REWARD:
            rewards.append(RewardEarned(t1, d1, n1))
        else:
            existing = StoredClaim(n1, response_from_record(j), request_hash=t1, reversed=bool(n2))
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
                available_cents=balance + due.get(purse_id, 0),
                posted_cents=balance,
                pending_cents=pending.get(purse_id, 0),
            )
            for purse_id, kind, balance in sorted(purses)
        ),
        fills=tuple(fills),
        purse_spends=tuple(spends),
        prior_authorizations=tuple(authorizations),
        other_coverages=tuple(sorted(others, key=lambda o: (o.payer_order, o.start))),
        rewards=tuple(rewards),
    )
    return MemberLookup(state=state, existing=existing)


class MemberReads(PostgresStore):
    """The member read and patient matching (the MemberReader port)."""

    async def card_members(self, cardholder_id: str) -> tuple[CardMember, ...]:
        with mapped_errors():
            rows = await self._fetch(
                "SELECT person_code, date_of_birth, gender_code FROM member_key"
                " WHERE cardholder_id = $1 ORDER BY person_code",
                cardholder_id,
            )
        return tuple(CardMember(r[0], r[1], r[2]) for r in rows)

    async def family_of(self, cardholder_id: str, person_code: str) -> str | None:
        """The family of a card's person, from the directory (remembered after the first ask)."""
        family_id = self._directory.get(cardholder_id, person_code)
        if family_id is None:
            with mapped_errors():
                family_id = await self._fetchval(FAMILY_SQL, cardholder_id, person_code)
            if family_id is not None:
                self._directory.remember(cardholder_id, person_code, family_id)
        return family_id

    async def member_state(
        self, cardholder_id: str, person_code: str, date_of_service: dt.date, claim_key: str
    ) -> MemberLookup:
        if self._batches is not None and self._connection is None:
            return await self._batched_member_state(
                cardholder_id, person_code, date_of_service, claim_key
            )
        for _ in range(2):  # a remembered family the member has left: ask the directory again
            family_id = await self.family_of(cardholder_id, person_code)
            if family_id is None:
                return MemberLookup(state=None, existing=None)
            with mapped_errors():
                rows = await self._fetch(
                    MEMBER_STATE_SQL,
                    family_id,
                    cardholder_id,
                    person_code,
                    date_of_service,
                    claim_key,
                )
            lookup = member_lookup_from_rows(rows, date_of_service)
            if lookup.state is not None:
                return lookup
            self._directory.forget(cardholder_id, person_code)
        return MemberLookup(state=None, existing=None)

    async def _batched_member_state(
        self, cardholder_id: str, person_code: str, date_of_service: dt.date, claim_key: str
    ) -> MemberLookup:
        """The read, in the read batch in flight's successor: with the family the directory
        remembers, or (none remembered, or the member has left it) with the read finding it."""
        assert self._batches is not None  # noqa: S101 - the caller checked
        family_id = self._directory.get(cardholder_id, person_code)
        for _ in range(2):
            read = (family_id, cardholder_id, person_code, date_of_service, claim_key)
            rows = await self._batches.reads.call(read, self._deadline)
            lookup = member_lookup_from_rows(rows, date_of_service)
            if lookup.state is not None:
                if family_id is None:
                    family = lookup.state.member.family_id
                    self._directory.remember(cardholder_id, person_code, family)
                return lookup
            if family_id is None:
                break
            self._directory.forget(cardholder_id, person_code)
            family_id = None
        return MemberLookup(state=None, existing=None)

    async def read_batch(
        self, reads: list[tuple[str | None, str, str, dt.date, str]], deadline: float | None
    ) -> list[list[Any]]:
        """The member reads of a batch in one statement: each read's rows (as the one-claim
        read's), in order."""
        pin = self._batches.read_pin if self._batches is not None else None
        async with Session(self, deadline, pin) as store:
            with mapped_errors():
                rows = await store._fetch(
                    MEMBER_STATES_SQL, *(list(c) for c in zip(*reads, strict=True))
                )
        grouped: list[list[Any]] = [[] for _ in reads]
        for row in rows:
            grouped[row[0] - 1].append(row[1:])
        return grouped
